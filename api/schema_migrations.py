"""Versioned schema of the service database (Alembic, api/migrations/): the service upgrades
to the newest version on start (EMN_DATABASE_MIGRATE, default true), or an operator does it
as a deploy step:

    python -m api.schema_migrations upgrade   bring the database to the newest version
    python -m api.schema_migrations current   print the database's version and the newest
    python -m api.schema_migrations check     exit 1 unless the database is at the newest
                                              version and its tables match the code's

An upgrade is serialised across processes and hosts (SQLite: the database's write lock;
PostgreSQL: an advisory lock on a fixed key, held to the end of the upgrade's transaction), so
several workers or hosts starting at once migrate once. A database created before migrations
(tables, no alembic_version) is completed and stamped at 0001, then upgraded.

A new version: add api/migrations/versions/000N_<what>.py with revision "000N" and
down_revision the previous one, using explicit `op` calls; tests/test_schema_migrations.py
fails while the migrated schema differs from the tables the code defines.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

from api.db import is_sqlite, make_engine, metadata, writing

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
# pg_advisory_xact_lock key of schema upgrades ("EMN_SCH" in ASCII): one upgrade at a time.
LOCK_KEY = 0x454D4E5F534348
# How long a starting process waits for another one's upgrade (a long data migration).
UPGRADE_WAIT_S = 600.0


class SchemaNotCurrentError(RuntimeError):
    """The database's schema is not the version this code needs, and it was not migrated."""


def schema_metadata() -> MetaData:
    """The metadata with every table of the service database defined (the store modules
    define their tables on api.db.metadata when imported)."""
    from api import (  # noqa: F401
        audit_chain,
        conversation_store,
        db_auth_throttle,
        db_ratelimit,
        db_switch,
        feedback_store,
        keys,
        review_store,
    )

    return metadata


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file: the scripts inside the package, and the
    connection the migrations run on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest schema version this code knows (read once: every store checks the schema
    when it is built, and the scripts do not change while the process runs)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current(engine: Engine) -> str | None:
    """The database's schema version (None: not versioned: empty, or made before migrations)."""
    with engine.connect() as conn:
        return _current(conn)


def upgrade(engine: Engine, wait_s: float = UPGRADE_WAIT_S) -> str | None:
    """Bring the schema to the newest version; returns the version it was at (unchanged when
    already current: then no lock is taken)."""
    head = head_revision()
    before = current(engine)
    if before == head:
        return before
    _known(before, head)
    with _upgrade_lock(engine, wait_s) as conn:
        before = _current(conn)  # another process may have upgraded while this one waited
        _known(before, head)
        if before is None:
            _adopt_legacy(conn)
        command.upgrade(alembic_config(conn), "head")
    return before


def require_current(engine: Engine) -> None:
    """For a service that must not migrate (EMN_DATABASE_MIGRATE=false): raise, naming the
    command to run, unless the schema is at the newest version."""
    head, found = head_revision(), current(engine)
    if found != head:
        raise SchemaNotCurrentError(
            f"The database schema is at version {found or 'none (not created yet)'}, this "
            f"version of the service needs {head}, and EMN_DATABASE_MIGRATE is false: run "
            "`python -m api.schema_migrations upgrade` with the same EMN_DATABASE_URL first."
        )


def differences(engine: Engine) -> list[Any]:
    """What differs between the database's tables and the code's (Alembic autogenerate);
    empty when every change has its migration. The alembic_version table is not compared."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        return compare_metadata(context, schema_metadata())


def _known(revision: str | None, head: str) -> None:
    if revision is None:
        return
    script = ScriptDirectory.from_config(alembic_config())
    if revision not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaNotCurrentError(
            f"The database schema is at version {revision}, newer than this version of the "
            f"service knows (its newest is {head}): run the newer version of the service."
        )


@contextmanager
def _upgrade_lock(engine: Engine, wait_s: float) -> Iterator[Connection]:
    """One transaction that holds the schema lock: SQLite's write lock (BEGIN IMMEDIATE),
    or a PostgreSQL advisory lock released at commit. Waits at most `wait_s` for it."""
    if is_sqlite(engine):
        with writing(engine, wait_s) as conn:
            yield conn
        return
    with engine.connect() as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            # The service's connections fail fast on locks (lock_timeout); this one waits.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait_s * 1000)}ms'")
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield conn


def _adopt_legacy(conn: Connection) -> bool:
    """A database made by `metadata.create_all` before migrations existed: complete it to the
    baseline and stamp it 0001 (True), so the upgrade continues from there. False: empty."""
    inspector = inspect(conn)
    baseline = ScriptDirectory.from_config(alembic_config()).get_revision(BASELINE)
    assert baseline is not None and baseline.module is not None
    names = set(inspector.get_table_names()) & set(baseline.module.TABLES)
    if not names:
        return False
    columns = {name: {c["name"] for c in inspector.get_columns(name)} for name in names}
    with Operations.context(MigrationContext.configure(conn)):
        baseline.module.adopt(columns)
    command.stamp(alembic_config(conn), BASELINE)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.schema_migrations",
        description="Versioned schema of the service database (audit log, feedback, reviews, "
        "saved work, keys, rate limits, kill switch).",
    )
    parser.add_argument("--db", help="SQLAlchemy URL (default: EMN_DATABASE_URL)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("upgrade", help="bring the database to the newest version (safe to repeat)")
    sub.add_parser("current", help="print the database's version and the newest one")
    sub.add_parser(
        "check",
        help="exit 1 unless the database is at the newest version and matches the code's tables",
    )
    args = parser.parse_args(argv)

    from common.settings import load_settings

    settings = load_settings(**({"database_url": args.db} if args.db else {}))
    engine = make_engine(
        settings.database_url, settings.audit_busy_timeout_s, settings.database_connect_timeout_s
    )
    try:
        return _run(args.command, engine)
    finally:
        engine.dispose()


def _run(what: str, engine: Engine) -> int:
    head = head_revision()
    if what == "upgrade":
        try:
            before = upgrade(engine)
        except SchemaNotCurrentError as exc:
            print(exc, file=sys.stderr)
            return 1
        if before == head:
            print(f"database schema already at version {head}")
        else:
            print(f"database schema upgraded from version {before or 'none'} to {head}")
        return 0
    found = current(engine)
    if what == "current":
        print(f"database schema version: {found or 'none'} (newest: {head})")
        return 0
    if found != head:
        print(
            f"database schema at version {found or 'none'}, not {head}: run "
            "`python -m api.schema_migrations upgrade`",
            file=sys.stderr,
        )
        return 1
    diff = differences(engine)
    if diff:
        for item in diff:
            print(f"differs from the code: {item}", file=sys.stderr)
        print("a migration is missing: add one under api/migrations/versions/", file=sys.stderr)
        return 1
    print(f"database schema at version {head}, matching the code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
