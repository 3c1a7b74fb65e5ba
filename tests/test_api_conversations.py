"""Saved conversations and drafts over HTTP (/v1/conversations, /v1/drafts) on the real
service: the whole life cycle, one owner's items invisible to another (404, never 403), the
browser-session header checked, size limits with clear errors, a thumb changed in place
(PUT /v1/feedback/{id}) and the retention purge at startup."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from api_helpers import BUDGET_QUESTION, assert_error
from conftest import ApiServer, copy_index, settings_env, start_api_server
from sqlalchemy import select, update

from api.conversation_store import ConversationStore, conversations_table, drafts_table
from api.db import make_engine
from api.feedback_store import feedback_table
from api.keys import create_key
from common.settings import Settings

SESSION = "X-EMN-Session"


def new_session() -> dict[str, str]:
    return {SESSION: secrets.token_urlsafe(24)}


def exchange(question: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "EUR 28 200 000 [1].", "answer": {"trace_id": "x"}},
        ]
    }


@pytest.fixture
def http(api_server: ApiServer) -> httpx.Client:
    with httpx.Client(base_url=api_server.base_url, timeout=60) as client:
        yield client


def test_a_conversation_is_saved_listed_reopened_replaced_and_deleted(http: httpx.Client) -> None:
    me = new_session()
    first = http.post("/v1/conversations/c-one/messages", json=exchange("EMN budget?"), headers=me)
    assert first.status_code == 201, first.text
    assert first.json()["title"] == "EMN budget?" and first.json()["message_count"] == 2
    again = http.post("/v1/conversations/c-one/messages", json=exchange("Split?"), headers=me)
    assert again.status_code == 200 and again.json()["message_count"] == 4
    other = http.put(
        "/v1/conversations/c-two", json={"title": "Second", **exchange("Return?")}, headers=me
    )
    assert other.status_code == 201

    listed = http.get("/v1/conversations", headers=me).json()["conversations"]
    assert [c["id"] for c in listed] == ["c-two", "c-one"]  # newest first
    assert set(listed[0]) == {"id", "title", "created_at", "updated_at", "message_count"}
    opened = http.get("/v1/conversations/c-one", headers=me).json()
    assert [m["content"] for m in opened["messages"] if m["role"] == "user"] == [
        "EMN budget?",
        "Split?",
    ]
    assert opened["messages"][1]["answer"] == {"trace_id": "x"}

    replaced = http.put("/v1/conversations/c-one", json=exchange("Only this"), headers=me)
    assert replaced.status_code == 200 and replaced.json()["message_count"] == 2

    assert http.delete("/v1/conversations/c-one", headers=me).status_code == 204
    assert_error(http.get("/v1/conversations/c-one", headers=me), 404, "conversation_not_found")
    assert_error(http.delete("/v1/conversations/c-one", headers=me), 404)
    assert [c["id"] for c in http.get("/v1/conversations", headers=me).json()["conversations"]] == [
        "c-two"
    ]


def test_a_draft_and_its_edits_are_saved_and_deleted(http: httpx.Client) -> None:
    me = new_session()
    draft = {"title": "EMN inform (draft): Return", "sections": [{"heading": "Key messages"}]}
    made = http.put("/v1/drafts/d-one", json={"topic": "return", "draft": draft}, headers=me)
    assert made.status_code == 201, made.text
    edits = {"title": "Return: state of play", "sections": {"0": "- Edited [1]."}}
    saved = http.put("/v1/drafts/d-one/edits", json=edits, headers=me)
    assert saved.status_code == 200, saved.text
    opened = http.get("/v1/drafts/d-one", headers=me).json()
    assert opened["draft"] == draft and opened["edits"] == edits
    assert opened["title"] == "Return: state of play" and opened["topic"] == "return"
    assert [d["id"] for d in http.get("/v1/drafts", headers=me).json()["drafts"]] == ["d-one"]
    assert http.delete("/v1/drafts/d-one", headers=me).status_code == 204
    assert_error(http.get("/v1/drafts/d-one", headers=me), 404, "draft_not_found")
    assert_error(http.put("/v1/drafts/d-one/edits", json=edits, headers=me), 404)


def test_another_owner_gets_404_and_a_key_with_a_session_is_another_owner(
    http: httpx.Client, api_server: ApiServer
) -> None:
    alice, bob = new_session(), new_session()
    http.post("/v1/conversations/shared-id/messages", json=exchange("Alice's"), headers=alice)
    http.put("/v1/drafts/shared-id", json={"topic": "t", "draft": {}}, headers=alice)
    for path in ("/v1/conversations/shared-id", "/v1/drafts/shared-id"):
        error = assert_error(http.get(path, headers=bob), 404)
        assert "for this browser session or API key" in error["message"]
        assert_error(http.delete(path, headers=bob), 404)
    assert http.get("/v1/conversations", headers=bob).json()["conversations"] == []
    assert_error(http.put("/v1/drafts/shared-id/edits", json={"title": "x"}, headers=bob), 404)
    # Bob's own item of the same id does not touch Alice's.
    http.post("/v1/conversations/shared-id/messages", json=exchange("Bob's"), headers=bob)
    assert http.get("/v1/conversations/shared-id", headers=alice).json()["title"] == "Alice's"

    # A key (open mode still names the caller by a valid key) combined with Alice's session
    # is another owner than Alice's session alone.
    keys_file = Path(api_server.env["EMN_DATA_DIR"]) / "api-keys.json"
    key, _ = create_key(keys_file, f"owner-test-{secrets.token_hex(4)}", ["ask"])
    with_key = {**alice, "Authorization": f"Bearer {key}"}
    assert_error(http.get("/v1/conversations/shared-id", headers=with_key), 404)
    http.post("/v1/conversations/k1/messages", json=exchange("With the key"), headers=with_key)
    assert http.get("/v1/conversations/k1", headers=with_key).status_code == 200
    assert_error(http.get("/v1/conversations/k1", headers=alice), 404)
    with_key_bob = {**bob, "Authorization": f"Bearer {key}"}
    assert http.get("/v1/conversations", headers=with_key_bob).json()["conversations"] == []


@pytest.mark.parametrize(
    "headers",
    [{}, {SESSION: "short"}, {SESSION: "not/a valid;session-id-at-all"}, {SESSION: "x" * 129}],
)
def test_the_browser_session_is_required_and_checked(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    error = assert_error(http.get("/v1/conversations", headers=headers), 422, "validation_error")
    assert "X-EMN-Session" in error["message"]


def test_limits_give_clear_errors(http: httpx.Client) -> None:
    me = new_session()
    many = {"messages": [{"role": "user", "content": f"q{i}"} for i in range(201)]}
    error = assert_error(
        http.post("/v1/conversations/long/messages", json=many, headers=me),
        422,
        "conversation_too_long",
    )
    assert "at most 200 messages; start a new conversation" in error["message"]
    # Appends of about 100 kB each until the stored conversation would pass 2 MB.
    big = {"messages": [{"role": "assistant", "content": "", "answer": {"q": "x" * 100_000}}]}
    statuses = [
        http.post("/v1/conversations/big/messages", json=big, headers=me).status_code
        for _ in range(19)
    ]
    assert statuses == [201] + [200] * 18
    error = assert_error(
        http.post("/v1/conversations/big/messages", json=big, headers=me), 413, "payload_too_large"
    )
    assert "at most 2000000 are kept" in error["message"]
    assert http.get("/v1/conversations/big", headers=me).json()["message_count"] == 19
    assert_error(http.post("/v1/conversations/x/messages", json={"messages": []}, headers=me), 422)


def test_a_thumb_is_changed_in_place_not_counted_twice(
    http: httpx.Client, api_server: ApiServer
) -> None:
    trace_id = http.post("/v1/ask", json={"question": BUDGET_QUESTION}).json()["trace_id"]
    thumb = http.post("/v1/feedback", json={"trace_id": trace_id, "rating": "up"})
    assert thumb.status_code == 201
    feedback_id = thumb.json()["id"]
    body = {"trace_id": trace_id, "rating": "down", "comment": "Cite the split per year."}
    changed = http.put(f"/v1/feedback/{feedback_id}", json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["id"] == feedback_id and changed.json()["rating"] == "down"
    with make_engine(api_server.database_url).connect() as conn:
        rows = conn.execute(
            select(feedback_table).where(feedback_table.c.trace_id == trace_id)
        ).all()
    assert [(r.id, r.rating, r.comment) for r in rows] == [
        (feedback_id, "down", "Cite the split per year.")
    ]
    other = http.post("/v1/ask", json={"question": BUDGET_QUESTION}).json()["trace_id"]
    wrong = {**body, "trace_id": other}  # the id with another answer's trace id
    assert_error(http.put(f"/v1/feedback/{feedback_id}", json=wrong), 404, "feedback_not_found")
    assert_error(http.put("/v1/feedback/999999999", json=body), 404, "feedback_not_found")


@pytest.mark.slow
def test_the_service_purges_saved_work_past_the_retention_at_startup(
    default_index_settings: Settings, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'data' / 'audit.sqlite'}"
    store = ConversationStore(make_engine(db_url))
    owner = "session:" + "s" * 20
    store.append_messages(owner, "stale", exchange("Stale question")["messages"])
    store.append_messages(owner, "fresh", exchange("Fresh question")["messages"])
    store.put_draft(owner, "stale-draft", "t", {}, {})
    with store.engine.begin() as conn:
        for table, item in ((conversations_table, "stale"), (drafts_table, "stale-draft")):
            conn.execute(
                update(table).where(table.c.id == item).values(updated_at="2020-01-01T00:00:00Z")
            )
    store.engine.dispose()
    settings = copy_index(default_index_settings, tmp_path / "index")
    server = start_api_server(
        tmp_path, {**settings_env(settings), "EMN_CONVERSATION_RETENTION_DAYS": "30"}
    )
    try:
        me = {SESSION: "s" * 20}
        listed = httpx.get(server.url("/v1/conversations"), headers=me).json()["conversations"]
        assert [c["id"] for c in listed] == ["fresh"]
        assert httpx.get(server.url("/v1/drafts"), headers=me).json()["drafts"] == []
    finally:
        server.stop()
