"""Keeping the launcher's servers up: a child process that exits unexpectedly is started
again after a back-off, each restart logged with the exit status; too many exits within a
window and the supervisor gives up (a server that cannot stay up is not hidden behind an
endless restart loop).

Each child runs in its own process group, so stopping or restarting it also ends the worker
processes it started (uvicorn's workers would otherwise keep its port)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn, TextIO

MAX_BACKOFF_S = 30.0


class GaveUp(RuntimeError):
    """A child exited more often than its restart policy allows."""


@dataclass(frozen=True)
class RestartPolicy:
    """At most `max_restarts` restarts within `window_s` seconds; the n-th restart in the
    window waits `backoff_s` * 2**(n-1) seconds (at most MAX_BACKOFF_S)."""

    max_restarts: int = 5
    window_s: float = 60.0
    backoff_s: float = 1.0

    def delay(self, restarts_in_window: int) -> float:
        return min(MAX_BACKOFF_S, self.backoff_s * 2 ** max(0, restarts_in_window - 1))


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(proc.pid, sig)


class Supervised:
    """One child process (`command` with `env`), restarted when it exits unexpectedly.

    `poll()` is called from the launcher's loop and never blocks: an exit schedules the
    restart for later, so a back-off on one child does not delay noticing the other."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        policy: RestartPolicy | None = None,
        log: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env) if env is not None else None
        self.policy = policy or RestartPolicy()
        self._log = log
        self._clock = clock
        self.proc: subprocess.Popen | None = None
        self.restarts: deque[float] = deque()  # when each restart in the window was decided
        self.exit_statuses: list[int] = []
        self._restart_at: float | None = None

    def say(self, message: str) -> None:
        print(message, file=self._log or sys.stderr, flush=True)

    def start(self) -> subprocess.Popen:
        self.proc = subprocess.Popen(self.command, env=self.env, start_new_session=True)
        self._restart_at = None
        return self.proc

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def poll(self) -> None:
        """Notice an exit (schedule a restart, or raise GaveUp) and start a due restart."""
        now = self._clock()
        if self.proc is not None and self.proc.poll() is not None:
            self._exited(self.proc, now)
        if self.proc is None and self._restart_at is not None and now >= self._restart_at:
            proc = self.start()
            self.say(f"{self.name} restarted (process {proc.pid}).")

    def _exited(self, proc: subprocess.Popen, now: float) -> None:
        status = int(proc.returncode)
        self.exit_statuses.append(status)
        self.proc = None
        _signal_group(proc, signal.SIGKILL)  # workers it left behind would hold its port
        while self.restarts and now - self.restarts[0] > self.policy.window_s:
            self.restarts.popleft()
        window = f"{self.policy.window_s:g} s"
        if len(self.restarts) >= self.policy.max_restarts:
            raise GaveUp(
                f"{self.name} exited with status {status} after {len(self.restarts)} "
                f"restart(s) within {window}; giving up."
            )
        self.restarts.append(now)
        delay = self.policy.delay(len(self.restarts))
        self._restart_at = now + delay
        self.say(
            f"{self.name} exited unexpectedly with status {status}; restarting in {delay:g} s "
            f"(restart {len(self.restarts)} of at most {self.policy.max_restarts} "
            f"within {window})."
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the child's process group; SIGKILL if it has not exited in `timeout`."""
        self._restart_at = None
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=timeout)
        _signal_group(proc, signal.SIGKILL)  # anything of its group still there


def supervise(children: Sequence[Supervised], interval_s: float = 0.5) -> NoReturn:
    """Keep the children up until one gives up (GaveUp) or the caller is interrupted."""
    while True:
        for child in children:
            child.poll()
        time.sleep(interval_s)
