"""Install packages into this Python's environment with uv, from the sources pip is set up with.

`make` installs with uv because pip spends about three minutes of CPU on the project's 216
packages (link evaluation and unpacking, one at a time) where uv takes about twenty seconds.
But uv reads neither pip.conf nor PIP_* variables: where the CPU build of torch sits in a
local wheel folder (pip's `find-links`) or packages come from a mirror (`index-url`,
`extra-index-url`), uv alone would not see them and would pull another torch. So this passes
pip's configured sources to uv, and keeps pip's rule of taking the best version from all of
them (`--index-strategy unsafe-best-match`).

Usage: python tools/uv_install.py [uv pip install arguments...]   (e.g. -e ".[dev]")
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

# pip's keys that say where packages come from, with the uv option each becomes.
LIST_OPTIONS = {
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
    "trusted-host": "--allow-insecure-host",
}
# Where pip looks first: its environment variables, then the [install] section, then [global].
SCOPES = (":env:", "install", "global")


def pip_settings(config_list: str) -> dict[str, str]:
    """pip's effective value of each key, from the output of `pip config list` (lines such as
    `global.find-links='/opt/wheels'`), the environment's value winning over the files'."""
    found: dict[tuple[str, str], str] = {}
    for line in config_list.splitlines():
        name, sep, raw = line.partition("=")
        scope, dot, key = name.rpartition(".")
        if not sep or not dot or scope not in SCOPES:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw.strip("'\"")
        found[(scope, key)] = str(value)
    settings: dict[str, str] = {}
    for scope in reversed(SCOPES):  # later scopes overwrite earlier ones
        settings.update({key: value for (s, key), value in found.items() if s == scope})
    return settings


def uv_arguments(settings: dict[str, str]) -> list[str]:
    """uv options for pip's sources: an index, extra indexes, wheel folders, constraints."""
    args = ["--index-strategy", "unsafe-best-match"]
    if settings.get("index-url"):
        args += ["--index-url", settings["index-url"]]
    for key, option in LIST_OPTIONS.items():
        for value in settings.get(key, "").split():
            args += [option, value]
    if settings.get("no-index", "").lower() in {"1", "true", "yes", "on"}:
        args.append("--no-index")
    return args


def uv_environment(settings: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    """pip's certificate bundle (`cert`) is uv's SSL_CERT_FILE, unless that is already set."""
    env = dict(environ)
    if settings.get("cert") and "SSL_CERT_FILE" not in env:
        env["SSL_CERT_FILE"] = settings["cert"]
    return env


def main(argv: list[str]) -> int:
    bindir = Path(sys.executable).parent
    uv = bindir / "uv"
    if not uv.exists():
        print(f"uv is not installed in {bindir}: run `{sys.executable} -m pip install uv`",
              file=sys.stderr)  # fmt: skip
        return 2
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    )  # fmt: skip
    if listed.returncode != 0:
        print(f"could not read pip's configuration (`{sys.executable} -m pip config list`):\n"
              f"{listed.stderr.strip()}", file=sys.stderr)  # fmt: skip
        return 2
    settings = pip_settings(listed.stdout)
    command = [str(uv), "pip", "install", "--python", sys.executable,
               *uv_arguments(settings), *argv]  # fmt: skip
    return subprocess.run(command, env=uv_environment(settings, dict(os.environ))).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
