"""Record-keeping (AI Act Art. 12/19) beyond the chain itself: `python -m api.audit export`
(JSON Lines of a date range, chain fields included), `python -m api.audit erase --key-id`
(personal fields blanked, the saved work of the key's sessions deleted, the chain still
verifies, the text gone from the database files), `python -m api.audit purge` over saved work,
and the six-month retention applied by the service at startup."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from conftest import AuditDb
from db_helpers import stored_anywhere
from fastapi.testclient import TestClient
from test_api_audit import run_audit

from api.answer_record import answer_record
from api.audit_chain import AuditLog, canonical_json
from api.conversation_store import SAVED_TABLES, ConversationStore
from api.db import make_engine
from api.feedback_store import FeedbackStore
from api.main import create_app
from api.owner import owner_of
from api.review_store import ReviewStore
from api.state import Service
from common.settings import Settings
from rag.answer import Answer, Citation, Versions


def sql(db: AuditDb, statement: str, **params: object) -> None:
    """Change the database directly (as someone who can write it would)."""
    engine = make_engine(db.url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(statement), params)
    finally:
        engine.dispose()


ERASED_TABLES = ("audit_log", "feedback", "review_verdicts")


def an_answer(text: str = "The budget is EUR 28 200 000 [1].") -> Answer:
    versions = Versions(app="t", composer="extractive", model="none", embedding_model="m",
                        index_manifest="h", corpus_hash="c", chunker="3")  # fmt: skip
    citation = Citation(marker=1, chunk_id="c1", doc_id="d1", title="T", quote="EUR 28 200 000")
    return Answer(answer=text, behaviour="answered", confidence=0.9, versions=versions,
                  citations=[citation], timings={"total": 1.0})  # fmt: skip


def test_export_writes_the_records_of_a_date_range_with_their_chain_fields(
    audit_db: AuditDb,
    tmp_path: Path,
) -> None:
    log = AuditLog(make_engine(audit_db.url))
    days = [datetime(2026, 3, d, 12, 0, tzinfo=UTC) for d in (1, 2, 3, 4, 5)]
    for n, at in enumerate(days):
        log.append("answer", {"question": f"q{n}", "behaviour": "answered"},
                   trace_id=f"t{n}", key_id="k1", at=at)  # fmt: skip
    out = tmp_path / "export" / "march.jsonl"
    result = run_audit(audit_db, "export", "--since", "2026-03-02", "--until", "2026-03-04",
                       "--out", str(out), process=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "exported 3 records" in result.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["trace_id"] for r in lines] == ["t1", "t2", "t3"]  # both days inclusive
    for record in lines:
        assert set(record) == {"seq", "created_at", "kind", "trace_id", "key_id", "payload",
                               "payload_digest", "prev_hash", "hash"}  # fmt: skip
        # Independently checkable: the payload hashes to its digest, the header to its hash.
        assert log.digest(canonical_json(record["payload"])) == record["payload_digest"]
        assert log.record_hash(record) == record["hash"]
    assert [r["prev_hash"] for r in lines[1:]] == [r["hash"] for r in lines[:-1]]

    to_stdout = run_audit(audit_db, "export", "--since", "2026-03-05")
    assert [json.loads(line)["trace_id"] for line in to_stdout.stdout.splitlines()] == ["t4"]
    assert run_audit(audit_db, "export", "--since", "March").returncode == 2
    backwards = run_audit(audit_db, "export", "--since", "2026-03-05", "--until", "2026-03-01")
    assert backwards.returncode == 2


def test_erase_blanks_a_keys_personal_data_and_the_chain_still_verifies(
    audit_db: AuditDb,
) -> None:
    engine = make_engine(audit_db.url)
    log = AuditLog(engine)
    secret_question = "What is the EMN budget? (asked by the subject of the erasure)"
    mine = an_answer("The subject's answer text is EUR 28 200 000 [1].")
    record = answer_record(mine, endpoint="ask", question=secret_question)
    log.append_answer(record, trace_id=mine.trace_id, key_id="subject")
    other = an_answer()
    log.append_answer(answer_record(other, endpoint="ask", question="Another person's question"),
                      trace_id=other.trace_id, key_id="someone-else")  # fmt: skip
    log.append("inform", {"topic": "the subject's inform topic", "behaviour": "answered"},
               trace_id="inform-1", key_id="subject")  # fmt: skip
    feedback, reviews = FeedbackStore(engine), ReviewStore(engine)
    feedback.add(mine.trace_id, "down", "the subject's feedback comment", "subject", report=True)
    reviews.add(other.trace_id, "wrong", "the subject's review note", "subject")
    engine.dispose()

    result = run_audit(audit_db, "erase", "--key-id", "subject", process=True)
    assert result.returncode == 0, result.stderr
    assert "2 audit records, 1 feedback comments, 1 review notes" in result.stdout
    verified = run_audit(audit_db, "verify")
    assert verified.returncode == 0, verified.stderr

    log = AuditLog(make_engine(audit_db.url))
    rows = {r["trace_id"]: r for r in log.records()}
    erased = json.loads(rows[mine.trace_id]["payload"])
    assert erased["question"] == erased["query"] == erased["answer"] == ""
    assert erased["erased"] and erased["behaviour"] == "answered"  # the system facts stay
    assert erased["cited"] == ["c1"] and erased["composer"] == "extractive"
    assert json.loads(rows["inform-1"]["payload"])["topic"] == ""
    kept = json.loads(rows[other.trace_id]["payload"])
    assert kept["question"] == "Another person's question"  # other keys untouched
    last = list(log.records())[-1]
    assert last["kind"] == "erasure" and json.loads(last["payload"])["key_id"] == "subject"
    assert FeedbackStore(log.engine).for_trace(mine.trace_id)[0]["comment"] == ""
    assert ReviewStore(log.engine).latest(other.trace_id)["note"] == ""  # type: ignore[index]
    log.engine.dispose()
    # Gone from the database, not only from the rows (SQLite: no copy left in free pages or
    # the WAL; PostgreSQL: no old row version left).
    engine = make_engine(audit_db.url)
    for gone in (secret_question, "subject's answer text", "inform topic",
                 "feedback comment", "review note"):  # fmt: skip
        assert not stored_anywhere(engine, gone, ERASED_TABLES), gone
    assert stored_anywhere(engine, "Another person's question", ERASED_TABLES)
    engine.dispose()
    # Erasing again finds nothing; the chain still verifies.
    again = run_audit(audit_db, "erase", "--key-id", "subject")
    assert "0 audit records" in again.stdout and run_audit(audit_db, "verify").returncode == 0


def save_work(store: ConversationStore, owner: str, text: str) -> None:
    """A saved conversation and a saved draft of `owner`, each holding `text`."""
    store.append_messages(owner, "c1", [{"role": "user", "content": text}])
    store.put_draft(owner, "d1", text, {"title": text, "sections": []}, {"title": None})


def test_erase_deletes_the_saved_work_of_every_session_of_the_key(
    audit_db: AuditDb,
) -> None:
    store = ConversationStore(make_engine(audit_db.url))
    mine = [
        owner_of("subject", "browser-one-0123456789"),
        owner_of("subject", "browser-two-x0123456789"),
    ]
    for n, owner in enumerate(mine):
        save_work(store, owner, f"the subject's saved question number {n}")
    kept = {  # another key, a key whose id merely starts alike or differs in case, no key
        owner_of("someone-else", "browser-one-0123456789"): "another key's saved question",
        owner_of("subject2", "browser-one-0123456789"): "a longer key id's saved question",
        owner_of("SUBJECT", "browser-one-0123456789"): "an upper-case key id's saved question",
        owner_of(None, "browser-one-0123456789"): "a keyless session's saved question",
    }
    for owner, text in kept.items():
        save_work(store, owner, text)
    store.engine.dispose()

    result = run_audit(audit_db, "erase", "--key-id", "subject", process=True)
    assert result.returncode == 0, result.stderr
    assert "2 saved conversations, 2 saved drafts" in result.stdout
    store = ConversationStore(make_engine(audit_db.url))
    for owner in mine:
        assert not store.list_conversations(owner) and not store.list_drafts(owner)
    for owner, text in kept.items():
        assert store.get_conversation(owner, "c1")["messages"][0]["content"] == text  # type: ignore[index]
        assert store.get_draft(owner, "d1")["topic"] == text  # type: ignore[index]
    store.engine.dispose()
    engine = make_engine(audit_db.url)  # gone from the database, not only from the rows
    assert not stored_anywhere(engine, "the subject's saved question", SAVED_TABLES)
    engine.dispose()
    assert run_audit(audit_db, "verify").returncode == 0
    again = run_audit(audit_db, "erase", "--key-id", "subject")
    assert "0 saved conversations, 0 saved drafts" in again.stdout


def test_purge_deletes_saved_work_past_its_retention(
    audit_db: AuditDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMN_CONVERSATION_RETENTION_DAYS", raising=False)
    store = ConversationStore(make_engine(audit_db.url))
    old, recent = owner_of(None, "old-browser-0123456789"), owner_of(None, "new-browser-0123456789")
    save_work(store, old, "a question saved long ago")
    save_work(store, recent, "a question saved today")
    store.engine.dispose()
    for table in SAVED_TABLES:  # last updated long past the retention
        sql(audit_db, f"UPDATE {table} SET updated_at = '2000-01-01T00:00:00.000000Z' "
                      "WHERE owner = :owner", owner=old)  # fmt: skip

    result = run_audit(audit_db, "purge", "--older-than", "183d")
    assert result.returncode == 0, result.stderr
    assert "purged 1 saved conversations and 1 drafts not updated since" in result.stdout
    store = ConversationStore(make_engine(audit_db.url))
    assert not store.list_conversations(old) and not store.list_drafts(old)
    assert store.get_conversation(recent, "c1") and store.get_draft(recent, "d1")
    store.engine.dispose()
    # Its own retention, when given, is applied instead of the audit records' age.
    shorter = run_audit(audit_db, "purge", "--older-than", "183d", "--saved-older-than", "0s")
    assert "purged 1 saved conversations and 1 drafts" in shorter.stdout


def test_erasure_does_not_open_a_door_to_tampering(audit_db: AuditDb) -> None:
    log = AuditLog(make_engine(audit_db.url))
    for n in range(3):
        log.append("answer", {"question": f"q{n}", "behaviour": "answered"},
                   trace_id=f"t{n}", key_id="subject" if n == 1 else "k")  # fmt: skip
    log.engine.dispose()
    assert run_audit(audit_db, "erase", "--key-id", "subject").returncode == 0

    # An erased payload changed after the erasure no longer matches what the erasure vouched.
    sql(
        audit_db,
        "UPDATE audit_log SET payload = replace(payload, 'answered', 'declined') WHERE seq = 2",
    )
    result = run_audit(audit_db, "verify")
    assert result.returncode == 1 and "record 2" in result.stderr
    # Nor may a payload be blanked outside an erasure.
    sql(
        audit_db,
        "UPDATE audit_log SET payload = replace(payload, 'declined', 'answered') WHERE seq = 2",
    )
    assert run_audit(audit_db, "verify").returncode == 0
    sql(audit_db, "UPDATE audit_log SET payload = NULL WHERE seq = 3")
    result = run_audit(audit_db, "verify")
    assert result.returncode == 1 and "record 3" in result.stderr


def test_the_service_purges_records_past_retention_at_startup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No index and no model are needed for retention: skip loading them.
    monkeypatch.setattr(Service, "warm_up", lambda self: None)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        index_dir=tmp_path / "no-index",
        data_dir=tmp_path / "data",
        audit_retention_days=183,
    )
    log = AuditLog.from_settings(settings)
    old = datetime.now(UTC) - timedelta(days=200)
    log.append("answer", {"question": "old"}, trace_id="old", key_id=None, at=old)
    log.append("answer", {"question": "recent"}, trace_id="recent", key_id=None)
    log.engine.dispose()
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
    log = AuditLog.from_settings(settings)
    kinds = [(r["kind"], r["trace_id"]) for r in log.records()]
    assert kinds == [("answer", "recent"), ("purge", None)]
    assert log.verify().ok
    log.engine.dispose()

    # With the automatic purge switched off, nothing is deleted.
    off = settings.model_copy(update={"audit_purge_interval_hours": 0.0})
    log = AuditLog.from_settings(off)
    log.append("answer", {"question": "old"}, trace_id="old2", key_id=None, at=old)
    log.engine.dispose()
    with TestClient(create_app(off)) as client:
        assert client.get("/healthz").status_code == 200
    log = AuditLog.from_settings(off)
    assert "old2" in [r["trace_id"] for r in log.records()]
    log.engine.dispose()
