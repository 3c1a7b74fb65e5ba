"""The service database (all shared state: audit log, feedback, reviews, saved work) through
SQLAlchemy.

SQLite by default, so a single-user install needs nothing else; PostgreSQL by URL
(EMN_DATABASE_URL) when several hosts share it. The code path is the same for both; the schema
is versioned (api/schema_migrations.py).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

log = logging.getLogger("api")
metadata = MetaData()
_IMMEDIATE = "emn_sqlite_immediate"


def make_engine(url: str, busy_timeout_s: float = 30.0, connect_timeout_s: float = 5.0) -> Engine:
    """An engine for `url`. SQLite gets its folder created, a busy timeout (how long a
    write waits for another process's lock before failing) and write-ahead
    logging (readers never block the writer), and transactions opened with `writing()` start
    with BEGIN IMMEDIATE, so two processes appending to the audit chain never read the same
    head: one waits for the other. (PostgreSQL does this with SELECT ... FOR UPDATE.)
    PostgreSQL fails as fast: `busy_timeout_s` is each connection's lock_timeout, and a
    connection that cannot be opened within `connect_timeout_s` fails, so a held lock or a
    dead server is an error (503 for a request), never a hang."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _postgres_engine(url, busy_timeout_s, connect_timeout_s)
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


def _postgres_engine(url: str, busy_timeout_s: float, connect_timeout_s: float) -> Engine:
    lock_ms = max(1, int(busy_timeout_s * 1000))
    connect_args = {
        "connect_timeout": max(1, math.ceil(connect_timeout_s)),  # libpq: whole seconds
        "options": f"-c lock_timeout={lock_ms}",
    }
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


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


def shown_url(url: str) -> str:
    """A database URL for messages: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unreadable EMN_DATABASE_URL)"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def upsert_insert(engine: Engine, table: Table) -> sqlite_dialect.Insert | postgresql.Insert:
    """An INSERT into `table` that takes ON CONFLICT DO NOTHING / DO UPDATE: SQLAlchemy has
    it per dialect (SQLite and PostgreSQL), not in the generic INSERT."""
    return (sqlite_dialect.insert if is_sqlite(engine) else postgresql.insert)(table)


def ping(engine: Engine) -> str:
    """One round trip to the database (readiness); its dialect name. Raises when it is down
    (after the engine's connect timeout at most)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return engine.dialect.name


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


def scrub(engine: Engine, *tables: str) -> None:
    """After deleting or overwriting personal data in `tables`: make the old content
    unreachable in the database's files. SQLite zeroes it (secure_delete) and empties the
    write-ahead log (`checkpoint`). PostgreSQL keeps old row versions until VACUUM, so vacuum
    those tables now (outside a transaction, as VACUUM requires); its write-ahead log,
    backups and replicas keep the text until they are rotated. Best effort: the data is
    already deleted for every reader, so a failure (a lock held past the timeout) is logged
    and autovacuum finishes the job later."""
    if is_sqlite(engine):
        checkpoint(engine)
        return
    if engine.dialect.name != "postgresql" or not tables:
        return
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.exec_driver_sql(f'VACUUM "{table}"')
    except SQLAlchemyError as exc:
        log.warning("VACUUM of %s not done (autovacuum will): %s", ", ".join(tables), exc)


def create_schema(engine: Engine) -> None:
    """Bring the schema to the current version (api/schema_migrations.py): idempotent, cheap
    once done, and serialised across processes and hosts, so workers starting together are
    safe."""
    from api.schema_migrations import upgrade

    upgrade(engine)
