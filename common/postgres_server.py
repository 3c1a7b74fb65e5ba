"""A throwaway PostgreSQL server on loopback, from Debian's `postgresql` package (installed by
`make install`): the store tests run against it beside SQLite, and `make bench-cluster` uses it
as the database the API hosts share.

The cluster lives in a fresh temporary folder, listens on 127.0.0.1 only (and a Unix socket in
that folder), trusts local connections and is deleted on `stop()`. PostgreSQL refuses to run
as root, so a root caller (CI, this machine's tests) runs it as the `postgres` user the Debian
package creates, or as `nobody`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

from common.local_servers import free_port

SUPERUSER = "emn"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class PostgresNotInstalledError(RuntimeError):
    pass


def postgres_bin_dir() -> Path:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    root = Path("/usr/lib/postgresql")
    found = sorted(
        (p for p in root.glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise PostgresNotInstalledError(
        "PostgreSQL server not found: install Debian's package (`apt-get install postgresql`; "
        "`make install` does it)"
    )


def _run_as() -> str | None:
    """The unprivileged user to run the server as, when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither user 'postgres' nor 'nobody' exists")


def _stop_with_parent() -> None:
    """In the server's process before exec (after the switch to the unprivileged user, which
    would reset it): ask Linux for SIGINT, PostgreSQL's fast shutdown, when the thread that
    started it dies, so a test run killed half-way leaves no server behind."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT)


class PostgresServer:
    """`with PostgresServer() as pg: engine = create_engine(pg.url())`."""

    def __init__(self, port: int | None = None, durable: bool = False) -> None:
        self.port = port or free_port()
        self.durable = durable  # fsync on: for benchmarks; tests don't need crash safety
        self.folder: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._command: list[str] = []
        self.bin = postgres_bin_dir()
        self.user = _run_as()

    def url(self, database: str = "emn") -> str:
        """A SQLAlchemy URL (psycopg 3 driver) for `database` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> PostgresServer:
        self.folder = Path(tempfile.mkdtemp(prefix="emn-postgres-"))
        data = self.folder / "data"
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=self.user,
            check=True,
            capture_output=True,
            cwd=self.folder,
        )
        settings = [
            "listen_addresses=127.0.0.1",
            f"port={self.port}",
            f"unix_socket_directories={self.folder}",
            "max_connections=200",
            "fsync=on" if self.durable else "fsync=off",
            "synchronous_commit=on" if self.durable else "synchronous_commit=off",
            "full_page_writes=on" if self.durable else "full_page_writes=off",
        ]
        self._command = [str(self.bin / "postgres"), "-D", str(data)]
        for setting in settings:
            self._command += ["-c", setting]
        self.start_process(timeout)
        self.create_database("emn")
        return self

    def start_process(self, timeout: float = 60.0) -> None:
        """Start the server process on the cluster `start()` made (again, after
        `stop_process()`): same port, same data; returns when it accepts connections."""
        assert self.folder is not None and self._command, "start() first"
        self.proc = subprocess.Popen(
            self._command,
            user=self.user,
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "server.log", "ab"),  # noqa: SIM115 - the server keeps it
            start_new_session=True,
            preexec_fn=_stop_with_parent,
        )
        self._wait_ready(timeout)

    def stop_process(self) -> None:
        """Stop the server process (fast shutdown: open transactions are rolled back) and
        keep its data, to test a database outage; `start_process()` brings it back."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.proc = None

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}: {self.log()}")
            try:
                with psycopg.connect(self._dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    message = f"postgres not ready in {timeout:.0f} s: {self.log()}"
                    raise TimeoutError(message) from exc
                time.sleep(0.1)

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (a fresh one per test keeps tests independent); its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = (self.folder or Path("/nonexistent")) / "server.log"
        with contextlib.suppress(OSError):
            return path.read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions), then delete the cluster."""
        self.stop_process()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
