"""`python -m common`: print the configuration reference (every EMN_ variable, its default and
meaning) as a Markdown table; `--update-readme` rewrites README's configuration section."""

from __future__ import annotations

import sys

from common.settings import PROJECT_ROOT, Settings

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def settings_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if hasattr(default, "get_secret_value"):
            default = "(secret)"
        text = str(default).replace(str(PROJECT_ROOT), ".")
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `EMN_{name.upper()}` | `{text}` | {meaning} |")
    return "\n".join(rows)


def update_readme() -> None:
    path = PROJECT_ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{settings_table()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    if "--update-readme" in sys.argv[1:]:
        update_readme()
    else:
        sys.stdout.write(settings_table() + "\n")
