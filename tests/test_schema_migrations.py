"""The versioned schema (api/schema_migrations.py, api/migrations/) on SQLite and on a real
PostgreSQL: migrating gives exactly the tables the code defines (so a forgotten migration
fails here), a database made before migrations is completed and stamped, several processes
starting at once migrate once, and with EMN_DATABASE_MIGRATE=false the service refuses a
database that is behind, naming the command to run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import PYTHON, child_env
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, inspect

from api.audit_chain import AuditLog
from api.db import make_engine
from api.feedback_store import FeedbackStore
from api.schema_migrations import (
    SchemaNotCurrentError,
    current,
    differences,
    head_revision,
    require_current,
    schema_metadata,
    upgrade,
)
from common.settings import PROJECT_ROOT


def migrations_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "api.schema_migrations", "--db", url, *args],
        capture_output=True, text=True, env=child_env({}), cwd=PROJECT_ROOT, timeout=120,
    )  # fmt: skip


def test_the_migrated_schema_is_exactly_the_codes_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current(engine) is None
    assert upgrade(engine) is None  # it was at no version
    assert current(engine) == head_revision()
    # Alembic's autogenerate finds nothing to add: every table, column and index the code
    # defines (api.db.metadata) has its migration.
    assert differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert set(schema_metadata().tables) | {"alembic_version"} == tables
    assert upgrade(engine) == head_revision()  # again: nothing to do
    engine.dispose()


def test_check_fails_when_the_database_differs_from_the_code(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_feedback_rating")
    engine.dispose()
    result = migrations_cli(database_url, "check")
    assert result.returncode == 1
    assert "ix_feedback_rating" in result.stderr and "a migration is missing" in result.stderr


def old_metadata() -> MetaData:
    """The tables as an early version created them with metadata.create_all: no saved
    conversations or drafts yet, feedback without its 'report' flag."""
    old = MetaData()
    for name in ("audit_log", "audit_head", "review_verdicts"):
        schema_metadata().tables[name].to_metadata(old)
    Table(
        "feedback",
        old,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("created_at", String(32), nullable=False, index=True),
        Column("trace_id", String(64), nullable=False, index=True),
        Column("rating", String(8), nullable=False, index=True),
        Column("comment", Text, nullable=False, default=""),
        Column("key_id", String(64), index=True),
    )
    return old


def test_a_database_made_before_migrations_is_completed_stamped_and_kept(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    old_metadata().create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO feedback (created_at, trace_id, rating, comment, key_id) "
            "VALUES ('2026-01-01T00:00:00.000000Z', 't-old', 'down', 'an old comment', 'k')"
        )
    assert current(engine) is None

    log = AuditLog(engine)  # what the service does on start
    assert current(engine) == head_revision() and differences(engine) == []
    log.append("answer", {"question": "after the upgrade"}, trace_id="t-new", key_id=None)
    assert log.verify(require_checkpoint=False).ok
    old = FeedbackStore(engine).for_trace("t-old")
    assert old[0]["comment"] == "an old comment" and old[0]["report"] is False  # kept
    columns = {c["name"]: c for c in inspect(engine).get_columns("feedback")}
    assert isinstance(columns["report"]["type"], Boolean) or engine.dialect.name == "sqlite"
    engine.dispose()


UPGRADE = """
import sys
from api.db import make_engine
from api.schema_migrations import upgrade
engine = make_engine(sys.argv[1], 1.0)  # the service's 1 s lock timeout: the upgrade waits
print(upgrade(engine))
"""


def test_several_processes_starting_at_once_migrate_once(database_url: str) -> None:
    procs = [
        subprocess.Popen([PYTHON, "-c", UPGRADE, database_url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=child_env({}), cwd=PROJECT_ROOT)
        for _ in range(4)
    ]  # fmt: skip
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    # Each found either no version (and migrated, or waited for the one migrating) or the
    # newest; nobody failed on a table another had just created.
    assert {out.strip() for out, _ in outputs} <= {"None", head_revision()}
    engine = make_engine(database_url)
    assert current(engine) == head_revision() and differences(engine) == []
    engine.dispose()


def test_without_migrating_a_database_behind_is_refused_naming_the_command(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    with pytest.raises(SchemaNotCurrentError, match=r"python -m api\.schema_migrations upgrade"):
        AuditLog(engine, migrate=False)
    assert current(engine) is None  # nothing was created
    upgraded = migrations_cli(database_url, "upgrade")
    assert upgraded.returncode == 0 and f"to {head_revision()}" in upgraded.stdout
    require_current(engine)
    AuditLog(engine, migrate=False).append("answer", {}, trace_id="t", key_id=None)
    shown = migrations_cli(database_url, "current")
    assert f"version: {head_revision()}" in shown.stdout
    assert migrations_cli(database_url, "check").returncode == 0
    engine.dispose()


def test_the_service_refuses_to_start_on_a_database_behind(tmp_path: Path) -> None:
    """EMN_DATABASE_MIGRATE=false, as for an operator who migrates as a deploy step: the
    service exits at startup with the command in its log instead of serving without tables."""
    url = f"sqlite:///{tmp_path / 'data' / 'service.sqlite'}"
    env = child_env(
        {
            "EMN_DATA_DIR": str(tmp_path / "data"),
            "EMN_DATABASE_URL": url,
            "EMN_DATABASE_MIGRATE": "false",
            "EMN_INDEX_DIR": str(tmp_path / "index"),
        }
    )
    command = [PYTHON, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=180)  # fmt: skip
    assert result.returncode != 0
    assert "python -m api.schema_migrations upgrade" in result.stderr, result.stderr[-3000:]
    assert current(make_engine(url)) is None
