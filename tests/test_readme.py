"""README stays true: its configuration table is the one generated from the settings code."""

from __future__ import annotations

from common.__main__ import settings_table
from common.settings import PROJECT_ROOT


def test_readme_configuration_table_matches_the_settings() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- settings-table:start -->") + len("<!-- settings-table:start -->")
    end = readme.index("<!-- settings-table:end -->")
    assert readme[start:end].strip() == settings_table().strip(), (
        "README's configuration table is stale: regenerate it with `python -m common`"
    )


def test_readme_documents_the_two_commands() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
