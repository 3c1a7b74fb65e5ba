"""The generation kill switch (AI Act Art. 14), shared by the API workers of one host.

The switch is a small JSON file in the data folder (`data_dir/generation.json`), replaced
atomically (a temporary file, then `os.replace`) when an admin turns generation on or off.
Every worker compares the file's identity (inode, modification time, size: one `stat`) before
each request and reads it again only when it changed, so a change made through any worker
holds for the next request on every worker.

`EMN_GENERATION` sets the value when the server starts: the first worker of a server run
writes it (the file records which run wrote it), and workers that start later in the same run
(uvicorn restarts a dead worker) take the value the file holds. A run is the uvicorn process
that owns the workers: the parent of a `--workers N` worker, or the process itself.

This file switch serves one host (a SQLite service database); with PostgreSQL the service
uses the row of api/db_switch.py, shared by every host. Both implement `GenerationSwitch`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the read-then-write is simply not locked
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("api")

SWITCH_FILE = "generation.json"


def _start_ticks(pid: int) -> str:
    """When `pid` started (clock ticks since boot, Linux), so a reused pid is another run."""
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    return ""


def server_run_id() -> str:
    """Identifies this server run: the same for every worker of one uvicorn process."""
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None and parent.pid else os.getpid()
    return f"{pid}:{_start_ticks(pid)}"


class GenerationSwitch(Protocol):
    """What api/state.py needs of a kill switch shared by several processes."""

    def start(self) -> bool:
        """Called once per worker at startup; the value then in force."""
        ...

    def set(self, enabled: bool) -> bool:
        """An admin's change, for every process that shares the switch; the value in force."""
        ...

    def current(self) -> bool:
        """The value in force now (cheap: called before every request)."""
        ...


class SharedSwitch:
    """Generation on/off, persisted in `path` and shared by the processes that use it."""

    def __init__(self, path: Path, startup: bool, run_id: str | None = None) -> None:
        self.path = path
        self.startup = startup
        self.run_id = run_id or server_run_id()
        self._value = startup
        self._seen: tuple[int, int, int] | None = None

    def start(self) -> bool:
        """The value at startup: EMN_GENERATION for the first worker of a run, else the
        value the run's file holds (an admin may have changed it meanwhile)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            state = self._read()
            if state is not None and state.get("run") == self.run_id:
                self._value = bool(state.get("enabled"))
            else:
                self._write(self.startup, "startup")
        self.current()
        return self._value

    def set(self, enabled: bool) -> bool:
        """Turn generation on or off for every worker; returns the value now in force."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._write(enabled, "admin")
        self.current()
        return self._value

    def current(self) -> bool:
        """The switch as the file holds it; one `stat` when it has not changed. A missing or
        unreadable file keeps the last value seen."""
        try:
            st = os.stat(self.path)
        except OSError:
            return self._value
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            state = self._read()
            if state is not None and isinstance(state.get("enabled"), bool):
                if state["enabled"] != self._value:
                    log.warning(
                        "generation switched %s (%s)",
                        "on" if state["enabled"] else "off",
                        state.get("by", "?"),
                    )
                self._value = state["enabled"]
                self._seen = seen
        return self._value

    def _read(self) -> dict | None:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _write(self, enabled: bool, by: str) -> None:
        state = {
            "enabled": enabled,
            "by": by,
            "run": self.run_id,
            "pid": os.getpid(),
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        fd, tmp = tempfile.mkstemp(prefix=".generation-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-then-write between processes (a lock file beside the switch)."""
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
