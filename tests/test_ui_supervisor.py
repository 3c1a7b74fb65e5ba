"""The launcher's supervisor (ui/supervisor.py) with real child processes: a child that keeps
exiting is restarted with a growing back-off, each exit logged with its status, until the
restart limit, when the supervisor gives up; restarts older than the window no longer count;
a child killed with SIGKILL takes the workers it started with it (they would hold its port).

And the real launcher (`python -m ui.launch` on free ports over a copy of the session index):
its API child killed with SIGKILL comes back on the same port while the chat page stays up."""

from __future__ import annotations

import io
import signal
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from browser_helpers import launcher
from conftest import PYTHON

from common.settings import Settings
from ui.supervisor import GaveUp, RestartPolicy, Supervised, supervise

EXITS_AT_ONCE = [PYTHON, "-c", "import sys; sys.exit(3)"]
SLEEPS = [PYTHON, "-c", "import time; time.sleep(120)"]


def wait_exited(child: Supervised) -> None:
    assert child.proc is not None
    child.proc.wait(timeout=30)


def test_a_child_that_keeps_exiting_is_restarted_with_back_off_then_given_up() -> None:
    log = io.StringIO()
    policy = RestartPolicy(max_restarts=3, window_s=60, backoff_s=0.05)
    crasher = Supervised("The crasher", EXITS_AT_ONCE, policy=policy, log=log)
    sleeper = Supervised("The sleeper", SLEEPS, policy=policy, log=log)
    crasher.start()
    first = sleeper.start()
    try:
        with pytest.raises(GaveUp) as gave_up:
            supervise([crasher, sleeper], interval_s=0.02)
        assert str(gave_up.value) == (
            "The crasher exited with status 3 after 3 restart(s) within 60 s; giving up."
        )
        assert crasher.exit_statuses == [3, 3, 3, 3]
        text = log.getvalue()
        for n, delay in enumerate(["0.05", "0.1", "0.2"], start=1):
            assert (
                f"The crasher exited unexpectedly with status 3; restarting in {delay} s "
                f"(restart {n} of at most 3 within 60 s)."
            ) in text
        assert text.count("The crasher restarted (process ") == 3
        # The other child was left alone: the same process, never restarted.
        assert sleeper.proc is first and sleeper.running and not sleeper.restarts
    finally:
        sleeper.stop()
        crasher.stop()
    assert first.returncode == -signal.SIGTERM
    assert not sleeper.running and not crasher.running


def test_restarts_older_than_the_window_no_longer_count() -> None:
    now = [1000.0]
    log = io.StringIO()
    policy = RestartPolicy(max_restarts=1, window_s=60, backoff_s=0)
    child = Supervised("The child", EXITS_AT_ONCE, policy=policy, log=log, clock=lambda: now[0])
    child.start()
    wait_exited(child)
    child.poll()  # exit 1: restarted at once (no back-off)
    assert child.proc is not None and child.exit_statuses == [3]
    wait_exited(child)
    now[0] += 61  # the first restart has left the window
    child.poll()
    assert len(child.restarts) == 1 and child.proc is not None
    wait_exited(child)
    with pytest.raises(GaveUp, match="after 1 restart"):  # two exits within 60 s
        child.poll()
    assert child.exit_statuses == [3, 3, 3]


def test_a_killed_child_takes_its_workers_with_it(tmp_path: Path) -> None:
    """Like uvicorn with several workers: the child starts a process of its own. SIGKILL to
    the child leaves that worker orphaned; the supervisor ends it before restarting."""
    worker_pid = tmp_path / "worker.pid"
    code = (
        "import subprocess, sys, time, pathlib;"
        "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
        f"pathlib.Path({str(worker_pid)!r}).write_text(str(w.pid));"
        "time.sleep(120)"
    )
    log = io.StringIO()
    child = Supervised("The API", [PYTHON, "-c", code], policy=RestartPolicy(backoff_s=20), log=log)
    proc = child.start()
    try:
        deadline = time.monotonic() + 30
        while not worker_pid.exists() or not worker_pid.read_text():
            assert time.monotonic() < deadline, "the child did not start its worker"
            time.sleep(0.05)
        worker = psutil.Process(int(worker_pid.read_text()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert worker.is_running()  # orphaned, still there
        child.poll()
        worker.wait(timeout=30)  # ended by the supervisor
        assert "The API exited unexpectedly with status -9; restarting in 20 s" in log.getvalue()
    finally:
        child.stop()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_the_launcher_restarts_a_killed_api_and_the_page_stays_up(
    default_index_settings: Settings, tmp_path: Path
) -> None:
    extra = {"EMN_LAUNCH_RESTART_BACKOFF_S": "0.5"}
    with launcher(default_index_settings, tmp_path, extra) as running:
        health = f"http://127.0.0.1:{running.api_port}/healthz"
        page_health = f"http://127.0.0.1:{running.ui_port}/_stcore/health"
        api = running.api_child()
        children = psutil.Process(running.proc.pid).children()
        page = next(c for c in children if "streamlit" in c.cmdline())
        api.send_signal(signal.SIGKILL)
        api.wait(timeout=30)
        assert not http_ok(health)

        deadline = time.monotonic() + 180
        while not http_ok(health):  # the API comes back on its port
            assert http_ok(page_health), "the chat page went down with the API"
            assert running.proc.poll() is None, running.output()
            assert time.monotonic() < deadline, running.output()
            time.sleep(0.5)
        assert http_ok(page_health) and page.is_running()  # the same page process throughout
        output = running.output()
        assert (
            "The API exited unexpectedly with status -9; restarting in 0.5 s "
            "(restart 1 of at most 5 within 60 s)."
        ) in output
        assert "The API restarted (process " in output
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(timeout=60) == 0, running.output()
    assert not http_ok(health) and not http_ok(page_health)
