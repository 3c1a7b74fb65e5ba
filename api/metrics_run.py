"""The metrics folder of one `python -m api` server run (Prometheus multiprocess mode, see
api/metrics_multiprocess.py). The server empties it before any worker starts, holding a lock
so that a second server pointed at the same folder cannot wipe a live one's figures; a worker
uvicorn restarts never empties it, so what its predecessors counted stays in the sum.

Imports nothing from prometheus_client: it picks its mode once, when first imported, from
PROMETHEUS_MULTIPROC_DIR, which this module's caller sets only after `start_run`."""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ENV = "PROMETHEUS_MULTIPROC_DIR"
RUN_FOLDER = "current-run"
LOCK_FILE = "server.lock"


class MetricsDirInUseError(RuntimeError):
    """Another running server holds the metrics folder."""


@dataclass
class MetricsRun:
    """The metrics folder of one server run; the lock lasts until `close` (or the exit)."""

    path: Path
    lock: TextIO

    def close(self) -> None:
        self.lock.close()


def start_run(metrics_dir: Path) -> MetricsRun:
    """Lock `metrics_dir` for this server and give it an empty run folder (what the
    previous run left is gone: its workers' pids mean nothing now)."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    lock = (metrics_dir / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise MetricsDirInUseError(
            f"another API server (pid {holder}) is using the metrics folder {metrics_dir}; "
            "give each server on this machine its own EMN_DATA_DIR or EMN_METRICS_DIR"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    run = metrics_dir / RUN_FOLDER
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    return MetricsRun(run, lock)
