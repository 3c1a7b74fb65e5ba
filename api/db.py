"""The service database (audit log and feedback) through SQLAlchemy.

SQLite by default, so a single-user install needs nothing else; PostgreSQL by URL when several
replicas share one log. The code path is the same for both.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url

metadata = MetaData()
_IMMEDIATE = "emn_sqlite_immediate"


def make_engine(url: str, busy_timeout_s: float = 30.0) -> Engine:
    """An engine for `url`. SQLite gets its folder created, a busy timeout (how long a
    write waits for another process's lock before failing) and write-ahead
    logging (readers never block the writer), and transactions opened with `writing()` start
    with BEGIN IMMEDIATE, so two processes appending to the audit chain never read the same
    head: one waits for the other. (PostgreSQL does this with SELECT ... FOR UPDATE.)"""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": busy_timeout_s, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below take effect
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted and overwritten content (purged records, erased payloads) is zeroed on
        # disk rather than left in free space.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _use_wal(cursor: Any, timeout: float = 30.0) -> None:
    """Switch the file to write-ahead logging (it stays so). Several API workers opening a
    new file at once may find it locked: SQLite does not wait for that lock, so retry."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def writing(engine: Engine, timeout_s: float | None = None) -> Iterator[Connection]:
    """A read-then-write transaction that holds the write lock from its first statement.
    `timeout_s`: on SQLite, wait at most this long for the lock (instead of the engine's
    busy timeout), so a caller with a deadline keeps it."""
    with engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        driver = None
        if timeout_s is not None and is_sqlite(engine):
            driver = conn.connection.driver_connection
            default = driver.execute("PRAGMA busy_timeout").fetchone()[0]
            driver.execute(f"PRAGMA busy_timeout={max(0, int(timeout_s * 1000))}")
        try:
            with conn.begin():
                yield conn
        finally:
            if driver is not None:
                driver.execute(f"PRAGMA busy_timeout={int(default)}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def checkpoint(engine: Engine) -> None:
    """SQLite: move the write-ahead log into the database file and empty it, so content
    that was overwritten (erased, purged) is not left in the log. No-op elsewhere."""
    if not is_sqlite(engine):
        return
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def create_schema(engine: Engine) -> None:
    """Create missing tables (idempotent; the schema only grows). On SQLite under the write
    lock, so workers starting together do not both find a table missing and both create it."""
    if not is_sqlite(engine):
        metadata.create_all(engine)
        return
    with writing(engine) as conn:
        metadata.create_all(conn)
