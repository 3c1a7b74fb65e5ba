"""The real API server on a real PostgreSQL (EMN_DATABASE_URL): answers are recorded there,
feedback and saved conversations are stored there; a held lock or a stopped database gives
503 with Retry-After at once (never a 500 or a hang), /readyz says the database is not
ready, and when PostgreSQL comes back on the same port and data the service answers again by
itself."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import BUDGET_QUESTION
from conftest import ApiServer, copy_index, settings_env, start_api_server

from api.audit_chain import AuditLog
from api.conversation_store import ConversationStore
from api.db import make_engine
from api.feedback_store import FeedbackStore
from api.owner import owner_of
from common.postgres_server import PostgresServer
from common.settings import Settings

# As for SQLite (tests/test_api_audit_truncation.py): a lock held elsewhere fails a request
# after EMN_AUDIT_BUSY_TIMEOUT_S (1 s); the limit is 2 s, the margin is for CI.
BUSY_LIMIT_S = 3.0
# A stopped database refuses connections at once; the bound is the connect timeout set
# below (2 s) plus the same margin.
CONNECT_TIMEOUT_S = 2
DOWN_LIMIT_S = CONNECT_TIMEOUT_S + 3.0
RECOVERY_LIMIT_S = 10.0  # the recovery target after a restart


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own: it is stopped and started again (the session's
    server is shared by the store tests)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_api(
    own_postgres: PostgresServer, default_index_settings: Settings, tmp_path: Path
) -> Iterator[tuple[ApiServer, str]]:
    url = own_postgres.create_database()
    settings = copy_index(default_index_settings, tmp_path / "index")
    server = start_api_server(
        tmp_path / "svc",
        {
            **settings_env(settings),
            "EMN_AUTH_MODE": "open",
            "EMN_DATABASE_URL": url,
            "EMN_DATABASE_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
        },
    )
    try:
        yield server, url
    finally:
        server.stop()


def ask(server: ApiServer, n: int = 0) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(
        server.url("/v1/ask"), json={"question": f"{BUDGET_QUESTION} ({n})"}, timeout=60
    )
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == code
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.slow
def test_the_service_runs_on_postgresql_fails_fast_when_it_is_down_and_recovers(
    pg_api: tuple[ApiServer, str], own_postgres: PostgresServer
) -> None:
    server, url = pg_api
    engine = make_engine(url)
    # Answers, feedback and saved work go to PostgreSQL.
    answered, _ = ask(server)
    assert answered.status_code == 200, answered.text
    trace_id = answered.json()["trace_id"]
    log = AuditLog(engine)
    assert log.has_trace(trace_id)
    rating = {"trace_id": trace_id, "rating": "down", "comment": "Wrong year"}
    rated = httpx.post(server.url("/v1/feedback"), json=rating, timeout=30)
    assert rated.status_code == 201, rated.text
    assert FeedbackStore(engine).for_trace(trace_id)[0]["rating"] == "down"
    session = {"X-EMN-Session": secrets.token_urlsafe(24)}
    saved = httpx.post(
        server.url("/v1/conversations/c-pg/messages"),
        json={"messages": [{"role": "user", "content": "Saved in PostgreSQL"}]},
        headers=session,
        timeout=30,
    )
    assert saved.status_code == 201, saved.text
    owner = owner_of(None, session["X-EMN-Session"])
    assert [c["id"] for c in ConversationStore(engine).list_conversations(owner)] == ["c-pg"]
    ready = httpx.get(server.url("/readyz"), timeout=30).json()
    assert ready["checks"]["database"] == {"ok": True, "detail": "postgresql"}

    # A lock held on the audit head (another host stuck mid-append): 503 after the busy
    # timeout, nothing unrecorded leaves.
    with engine.connect() as holder:
        holder.exec_driver_sql("SELECT * FROM audit_head WHERE id = 1 FOR UPDATE")
        locked, took = ask(server, 1)
        holder.rollback()
    assert_unavailable(locked, "audit_unavailable")
    assert "answer" not in locked.json() and took < BUSY_LIMIT_S, f"took {took:.2f} s"
    print(f"lock held: 503 in {took:.2f} s")  # the figures, with pytest -s
    answers = answer_count(log)
    engine.dispose()

    # The database stops: 503 at once, on answers and on other writes; /readyz says why.
    own_postgres.stop_process()
    down, took = ask(server, 2)
    assert_unavailable(down, "audit_unavailable")
    assert took < DOWN_LIMIT_S, f"took {took:.2f} s"
    print(f"database down: 503 in {took:.2f} s")
    feedback = httpx.post(server.url("/v1/feedback"), json={"trace_id": trace_id, "rating": "up"},
                          timeout=30)  # fmt: skip
    assert_unavailable(feedback, "database_unavailable")
    not_ready = httpx.get(server.url("/readyz"), timeout=30)
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["database"]["ok"] is False
    assert not_ready.json()["error"]["code"] == "database_unavailable"
    assert "Traceback" not in server.log.read_text(errors="replace")

    # It comes back on the same port and data: the service answers again by itself.
    own_postgres.start_process()
    restarted = time.monotonic()
    while True:
        again, _ = ask(server, 3)
        if again.status_code == 200:
            break
        assert again.status_code == 503, again.text
        assert time.monotonic() - restarted < RECOVERY_LIMIT_S, server.log_tail()
        time.sleep(0.2)
    print(f"database back: answering again {time.monotonic() - restarted:.2f} s after it started")
    assert httpx.get(server.url("/readyz"), timeout=30).status_code == 200
    engine = make_engine(url)
    log = AuditLog(engine)
    assert log.has_trace(again.json()["trace_id"])
    assert answer_count(log) == answers + 1  # the refused answers left no record
    assert log.verify(require_checkpoint=False).ok
    engine.dispose()


def answer_count(log: AuditLog) -> int:
    return sum(record["kind"] == "answer" for record in log.records())


@pytest.mark.slow
def test_a_host_started_before_its_database_waits_for_it(
    own_postgres: PostgresServer, default_index_settings: Settings, tmp_path: Path
) -> None:
    """Hosts and their database start in any order: a host whose database is down at start
    says it is waiting, and serves once PostgreSQL is up, without a restart."""
    url = own_postgres.create_database()
    settings = copy_index(default_index_settings, tmp_path / "index")
    own_postgres.stop_process()
    started: list[ApiServer] = []
    failed: list[BaseException] = []

    def start() -> None:
        try:
            started.append(start_api_server(tmp_path / "svc", {
                **settings_env(settings), "EMN_DATABASE_URL": url,
                "EMN_DATABASE_START_WAIT_S": "120"}))  # fmt: skip
        except BaseException as exc:  # reported below, in the test's thread
            failed.append(exc)

    starter = threading.Thread(target=start)
    starter.start()
    log = tmp_path / "svc" / "server.log"
    deadline = time.monotonic() + 120
    while "waiting for the service database" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and not failed, failed or log.read_text()[-2000:]
        time.sleep(0.2)
    assert "Traceback" not in log.read_text()
    own_postgres.start_process()  # in this thread: the server stops with the thread that starts it
    starter.join(timeout=180)
    assert not failed, failed
    server = started[0]
    try:
        assert httpx.get(server.url("/readyz"), timeout=30).status_code == 200
        answered, _ = ask(server)
        assert answered.status_code == 200, answered.text
        engine = make_engine(url)
        assert AuditLog(engine).has_trace(answered.json()["trace_id"])
        engine.dispose()
    finally:
        server.stop()


@pytest.mark.slow
def test_a_host_whose_database_stays_down_exits_naming_it(
    own_postgres: PostgresServer, default_index_settings: Settings, tmp_path: Path
) -> None:
    url = own_postgres.create_database()
    own_postgres.stop_process()
    settings = copy_index(default_index_settings, tmp_path / "index")
    env = {**settings_env(settings), "EMN_DATABASE_URL": url, "EMN_DATABASE_START_WAIT_S": "1"}
    with pytest.raises(RuntimeError, match="exited early"):
        start_api_server(tmp_path / "svc", env)
    log = (tmp_path / "svc" / "server.log").read_text()
    assert f"the service database {url} is unreachable" in log
    assert "start it first or check EMN_DATABASE_URL" in log
    assert "EMN_DATABASE_START_WAIT_S" in log
