"""The audit chain: `python -m api.audit verify` accepts an intact log and names the record
when one is changed or deleted; purging old records keeps the chain verifiable; concurrent
writers never fork it; the live server's log verifies and detects tampering."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from api_helpers import BUDGET_QUESTION
from conftest import ApiServer, AuditDb, child_env, copy_sqlite, sqlite_db

from api.audit import main as audit_main
from api.audit import parse_duration
from api.audit_chain import AuditLog
from api.audit_checkpoints import CheckpointFile
from api.db import make_engine


def run_audit(
    db: AuditDb, *args: str, hmac_key: str | None = None, process: bool = False
) -> subprocess.CompletedProcess:
    """`python -m api.audit --db URL --checkpoints FILE ARGS` with EMN_AUDIT_HMAC_KEY set to
    `hmac_key` and no other EMN_ variable: in a child process, or (about 2 s faster, the
    same `main`) in this one."""
    emn = {"EMN_AUDIT_HMAC_KEY": hmac_key} if hmac_key else {}
    argv = ["--db", db.url, "--checkpoints", str(db.checkpoints), *args]
    if process:
        return subprocess.run(
            [sys.executable, "-m", "api.audit", *argv],
            capture_output=True, text=True, env=child_env(emn), timeout=60,
        )  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    with only_emn_variables(emn), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = audit_main(argv)
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def only_emn_variables(emn: dict[str, str]) -> Iterator[None]:
    """This process's EMN_ variables are `emn` while the block runs, as a child's would be."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("EMN_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(emn)
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("EMN_")]:
            del os.environ[key]
        os.environ.update(saved)


def checkpoint_file(db: AuditDb, hmac_key: bytes | None = None) -> CheckpointFile:
    """The checkpoint file `python -m api.audit` is given for `db`."""
    return CheckpointFile(db.checkpoints, hmac_key)


def build_log(
    db: AuditDb,
    records: int = 6,
    start: datetime | None = None,
    hmac_key: bytes | None = None,
    checkpoint_every: int = 0,
    final_checkpoint: bool = True,
) -> AuditLog:
    """A log of `records` answers with its checkpoint file, as the service leaves it (a
    checkpoint every `checkpoint_every` records and, by default, one at the end, as on
    shutdown)."""
    log = AuditLog(make_engine(db.url), hmac_key,
                   checkpoints=checkpoint_file(db, hmac_key),
                   checkpoint_every=checkpoint_every)  # fmt: skip
    for i in range(records):
        at = start + timedelta(hours=i) if start else None
        log.append("answer", {"question": f"q{i}", "behaviour": "answered"},
                   trace_id=f"t{i}", key_id="k1", at=at)  # fmt: skip
    if final_checkpoint:
        log.write_checkpoint()
    return log


def sql(db: AuditDb, statement: str) -> None:
    """Tamper with the database directly (as someone who can write it would)."""
    engine = make_engine(db.url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_an_intact_chain_verifies(audit_db: AuditDb) -> None:
    log = build_log(audit_db)
    assert log.verify().ok and log.count() == 6
    result = run_audit(audit_db, "verify", process=True)  # `python -m api.audit` itself
    assert result.returncode == 0, result.stderr
    assert "audit chain OK: 6 records" in result.stdout


def test_a_changed_record_is_detected_and_named(audit_db: AuditDb) -> None:
    build_log(audit_db)
    sql(audit_db, "UPDATE audit_log SET payload = replace(payload, 'q2', 'edited') WHERE seq = 3")
    result = run_audit(audit_db, "verify")
    assert result.returncode == 1
    assert "record 3 (trace id t2): content changed" in result.stderr
    assert "broken at record 3" in result.stderr


def test_a_record_rewritten_with_a_consistent_digest_is_detected(audit_db: AuditDb) -> None:
    build_log(audit_db)
    # Change a header field: the stored hash no longer matches, and fixing the hash breaks
    # the next record's link.
    sql(audit_db, "UPDATE audit_log SET key_id = 'someone-else' WHERE seq = 4")
    assert "record 4" in run_audit(audit_db, "verify").stderr
    # A different first digit whatever the hash was (an 'f' replaced by 'f' changed nothing).
    sql(
        audit_db,
        "UPDATE audit_log SET hash = CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END "
        "|| substr(hash, 2) WHERE seq = 4",
    )
    result = run_audit(audit_db, "verify")
    assert result.returncode == 1 and "record 5" in result.stderr


def test_a_deleted_middle_record_is_detected(audit_db: AuditDb) -> None:
    build_log(audit_db)
    sql(audit_db, "DELETE FROM audit_log WHERE seq = 3")
    result = run_audit(audit_db, "verify")
    assert result.returncode == 1
    assert "record 3 deleted" in result.stderr


def test_a_deleted_newest_record_is_detected(audit_db: AuditDb) -> None:
    build_log(audit_db)
    sql(audit_db, "DELETE FROM audit_log WHERE seq = 6")
    result = run_audit(audit_db, "verify")
    assert result.returncode == 1 and "record 6 deleted" in result.stderr


def test_purge_deletes_old_records_and_the_chain_still_verifies(audit_db: AuditDb) -> None:
    old = datetime.now(UTC) - timedelta(days=200)
    log = build_log(audit_db, records=4, start=old)
    for i in range(3):
        log.append("answer", {"question": f"new{i}"}, trace_id=f"n{i}", key_id=None)
    result = run_audit(audit_db, "purge", "--older-than", "183d")
    assert result.returncode == 0 and "purged 4 records" in result.stdout
    assert run_audit(audit_db, "verify").returncode == 0
    remaining = [r for r in log.records()]
    assert [r["trace_id"] for r in remaining] == ["n0", "n1", "n2", None]
    assert remaining[-1]["kind"] == "purge"
    assert log.head()["anchor_seq"] == 4
    # Purging again finds nothing; a tampered first remaining record is still caught.
    assert "purged 0 records" in run_audit(audit_db, "purge", "--older-than", "183d").stdout
    sql(audit_db, "UPDATE audit_log SET payload = replace(payload, 'new0', 'x') WHERE seq = 5")
    assert run_audit(audit_db, "verify").returncode == 1


def test_purging_everything_leaves_a_verifiable_chain(audit_db: AuditDb) -> None:
    log = build_log(audit_db, records=3)
    done = log.purge(timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1))
    assert done.purged == 3
    assert log.verify().ok
    log.append("answer", {"question": "after"}, trace_id="a", key_id=None)
    assert log.verify().ok and log.count() == 2


def test_with_an_hmac_key_the_chain_does_not_verify_without_it(audit_db: AuditDb) -> None:
    build_log(audit_db, hmac_key=b"audit-secret")
    # The key from EMN_AUDIT_HMAC_KEY, in a child process's environment and in this one's.
    assert run_audit(audit_db, "verify", hmac_key="audit-secret", process=True).returncode == 0
    assert run_audit(audit_db, "verify", hmac_key="audit-secret").returncode == 0
    assert run_audit(audit_db, "verify", hmac_key="wrong-secret").returncode == 1
    assert run_audit(audit_db, "verify").returncode == 1


def test_concurrent_writers_never_fork_the_chain(audit_db: AuditDb) -> None:
    AuditLog(make_engine(audit_db.url))
    # Separate engines, as separate replicas would have: only the database serialises them.
    logs = [AuditLog(make_engine(audit_db.url)) for _ in range(4)]

    def write(log: AuditLog, n: int) -> None:
        for i in range(25):
            log.append("answer", {"writer": n, "i": i}, trace_id=f"{n}-{i}", key_id=None)

    threads = [threading.Thread(target=write, args=(log, n)) for n, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = logs[0].verify()
    assert result.ok, result.problems
    assert result.records == 100


APPENDER = """
import sys
from api.audit_chain import AuditLog
from api.db import make_engine
url, writer = sys.argv[1], sys.argv[2]
log = AuditLog(make_engine(url))
for i in range(50):
    log.append("answer", {"writer": writer, "i": i}, trace_id=f"{writer}-{i}", key_id=None)
"""


def test_processes_appending_at_once_give_one_contiguous_chain(audit_db: AuditDb) -> None:
    """Four processes (as the workers of several hosts), each with its own engine, append
    50 records each at once: one chain, no gap, no fork, nothing lost; it verifies."""
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, audit_db.url, f"w{n}"],
                         env=child_env({}), stderr=subprocess.PIPE, text=True)
        for n in range(4)
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
    log = AuditLog(make_engine(audit_db.url))
    rows = list(log.records())
    assert [r["seq"] for r in rows] == list(range(1, 201))
    assert {r["trace_id"] for r in rows} == {f"w{n}-{i}" for n in range(4) for i in range(50)}
    assert log.head()["seq"] == 200
    log.engine.dispose()
    result = run_audit(audit_db, "verify", "--allow-missing-checkpoint")
    assert result.returncode == 0, result.stderr
    assert "audit chain OK: 200 records" in result.stdout


def test_duration_parsing() -> None:
    assert parse_duration("183d") == timedelta(days=183)
    assert parse_duration("12h") == timedelta(hours=12)
    with pytest.raises(Exception, match="not a duration"):
        parse_duration("six months")


@pytest.mark.slow
def test_the_live_servers_log_verifies_and_tampering_is_detected(
    api_server: ApiServer, tmp_path: Path
) -> None:
    response = httpx.post(api_server.url("/v1/ask"), json={"question": BUDGET_QUESTION}, timeout=60)
    trace_id = response.json()["trace_id"]
    live = Path(api_server.database_url.removeprefix("sqlite:///"))
    copy = sqlite_db(tmp_path / "copy.sqlite")
    copy_sqlite(live, tmp_path / "copy.sqlite")
    # The checkpoints travel with the database: the copy's file beside it.
    shutil.copy(live.with_name("audit-checkpoints.jsonl"), copy.checkpoints)
    assert run_audit(copy, "verify").returncode == 0
    sql(copy, f"UPDATE audit_log SET payload = replace(payload, '\"answered\"', '\"declined\"') "
              f"WHERE trace_id = '{trace_id}'")  # fmt: skip
    result = run_audit(copy, "verify")
    assert result.returncode == 1 and trace_id in result.stderr
