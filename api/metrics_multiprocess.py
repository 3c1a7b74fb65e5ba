"""Prometheus multiprocess mode (prometheus_client's documented mode), so one scrape of
/metrics sees the whole host, not the one worker that happened to answer.

Under `python -m api` each worker writes its metrics to memory-mapped files named after its
pid in the run's folder (api/metrics_run.py); a scrape sums the files. The counters and
histograms of a worker that died stay in the sum, so they never go backwards when uvicorn
replaces it; its live gauges are dropped, at its shutdown or, if it was killed, at the next
scrape."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from prometheus_client import values
from prometheus_client.multiprocess import mark_process_dead

from api.metrics_run import ENV

_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def active_dir() -> Path | None:
    """The folder this process's metrics are written to, or None when they live in memory
    (no PROMETHEUS_MULTIPROC_DIR when prometheus_client was imported: one app per process)."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    folder = os.environ.get(ENV)
    return Path(folder) if folder else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def drop_dead_gauges(folder: Path, alive: Callable[[int], bool] = pid_alive) -> list[int]:
    """Forget the live gauges of processes that are gone (a killed worker never says so
    itself); counters and histograms stay. Returns the pids dropped."""
    dropped: set[int] = set()
    for file in folder.glob("gauge_live*_*.db"):
        match = _LIVE_GAUGE_FILE.fullmatch(file.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid not in dropped and not alive(pid):
            with contextlib.suppress(FileNotFoundError):  # another worker's scrape won
                mark_process_dead(pid, str(folder))
            dropped.add(pid)
    return sorted(dropped)
