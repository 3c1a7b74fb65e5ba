"""What the browser and launcher tests share: Debian's Chromium (driven by Playwright, never a
downloaded browser) and `python -m ui.launch` (what `make run` runs) started on free loopback
ports over a copy of the session index, with its own data folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from conftest import PYTHON, child_env, copy_index, free_port, settings_env

from common.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
TIMEOUT_MS = 60_000
START_TIMEOUT_S = 180.0


def require_chromium() -> None:
    """Fail in CI (make install installs it), skip on a machine without it."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: `make install` installs it")
        pytest.skip("Debian's chromium is not installed (make install installs it)")


@dataclass
class Launched:
    proc: subprocess.Popen
    api_port: int
    ui_port: int
    log: Path

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}/"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def api_child(self) -> psutil.Process:
        children = psutil.Process(self.proc.pid).children()
        return next(c for c in children if c.cmdline()[1:3] == ["-m", "api"])


@contextmanager
def launcher(
    default_index_settings: Settings, tmp_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Launched]:
    """The launcher, once it printed both addresses; SIGTERM (then SIGKILL) afterwards."""
    settings = copy_index(default_index_settings, tmp_path / "index")
    data = tmp_path / "data"
    api_port, ui_port = free_port(), free_port()
    env = child_env(
        {
            **settings_env(settings),
            "EMN_DATA_DIR": str(data),
            "EMN_DATABASE_URL": f"sqlite:///{data / 'audit.sqlite'}",
            "EMN_API_HOST": "127.0.0.1",
            "EMN_API_PORT": str(api_port),
            "EMN_UI_HOST": "127.0.0.1",
            "EMN_UI_PORT": str(ui_port),
            "EMN_API_WORKERS": "1",  # one API process is enough here (each holds a model)
            **(extra_env or {}),
        }
    )
    log = tmp_path / "launch.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "ui.launch"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = Launched(proc, api_port, ui_port, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Chat page:" not in running.output():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the launcher did not start both servers:\n{running.output()[-4000:]}")
            time.sleep(0.2)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
