"""The store of saved conversations and drafts (api/conversation_store.py) on a real SQLite
file and a real PostgreSQL database: one owner never reaches another's items, deletion leaves
no trace of the text in the database (SQLite's files; PostgreSQL's row versions), retention
purges what was not updated, and the size limits hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from db_helpers import stored_anywhere
from sqlalchemy import update

from api.conversation_store import (
    SAVED_TABLES,
    ConversationStore,
    Limits,
    TooLarge,
    TooManyMessages,
    conversations_table,
    drafts_table,
)
from api.db import checkpoint, make_engine

ALICE, BOB = "session:alice-browser-0000000001", "session:bob-browser-00000000002"


def exchange(question: str, answer: str = "An answer [1].") -> list[dict]:
    return [
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer, "answer": {"answer": answer, "trace_id": "t1"}},
    ]


@pytest.fixture
def store(database_url: str) -> ConversationStore:
    return ConversationStore(make_engine(database_url), Limits(max_messages=6))


def kept(store: ConversationStore, needle: str) -> bool:
    return stored_anywhere(store.engine, needle, SAVED_TABLES)


def test_one_owner_never_reaches_another_owners_items(store: ConversationStore) -> None:
    summary, created = store.append_messages(ALICE, "c1", exchange("What is the EMN budget?"))
    assert created and summary["title"] == "What is the EMN budget?"
    assert summary["message_count"] == 2
    store.put_draft(ALICE, "d1", "return", {"title": "Return", "sections": []}, {})

    assert store.get_conversation(BOB, "c1") is None and store.get_draft(BOB, "d1") is None
    assert store.list_conversations(BOB) == [] and store.list_drafts(BOB) == []
    assert not store.delete_conversation(BOB, "c1") and not store.delete_draft(BOB, "d1")
    assert store.set_draft_edits(BOB, "d1", {"title": "Hijacked"}) is None
    # Bob may use the same id: it is his own conversation, Alice's is untouched.
    store.append_messages(BOB, "c1", exchange("Bob's question"))
    alice = store.get_conversation(ALICE, "c1")
    assert alice is not None and alice["messages"][0]["content"] == "What is the EMN budget?"
    assert [c["title"] for c in store.list_conversations(BOB)] == ["Bob's question"]


def test_appends_keep_order_and_lists_are_newest_first(store: ConversationStore) -> None:
    store.append_messages(ALICE, "old", exchange("First conversation"))
    store.append_messages(ALICE, "new", exchange("Second conversation"))
    store.append_messages(ALICE, "old", exchange("A follow-up"))
    assert [c["id"] for c in store.list_conversations(ALICE)] == ["old", "new"]
    found = store.get_conversation(ALICE, "old")
    assert found is not None
    assert [m["content"] for m in found["messages"] if m["role"] == "user"] == [
        "First conversation",
        "A follow-up",
    ]
    assert found["title"] == "First conversation" and found["message_count"] == 4
    assert found["messages"][1]["answer"]["trace_id"] == "t1"  # the full answer record

    stored, created = store.put_draft(ALICE, "d1", "return", {"title": "Return"}, {})
    assert created and stored["title"] == "Return"
    edited = store.set_draft_edits(ALICE, "d1", {"title": "Return: state of play"})
    assert edited is not None and edited["edits"] == {"title": "Return: state of play"}
    assert edited["title"] == "Return: state of play" and edited["draft"] == {"title": "Return"}


def test_delete_really_deletes_the_text_from_the_database_files(
    store: ConversationStore,
) -> None:
    secret = "Zanzibar-quartz-7731 my private question"
    store.append_messages(ALICE, "c1", exchange(secret, answer=f"About {secret}"))
    store.put_draft(ALICE, "d1", "topic", {"title": "T", "note": secret}, {"title": secret})
    store.append_messages(ALICE, "keep", exchange("Another question"))
    checkpoint(store.engine)
    assert kept(store, secret)  # it was stored

    assert store.delete_conversation(ALICE, "c1") and store.delete_draft(ALICE, "d1")
    assert store.get_conversation(ALICE, "c1") is None and store.get_draft(ALICE, "d1") is None
    assert not kept(store, secret)
    assert kept(store, "Another question")  # the rest is intact
    assert not store.delete_conversation(ALICE, "c1")  # gone: a second delete finds nothing


def test_retention_purges_what_was_not_updated(store: ConversationStore) -> None:
    store.append_messages(ALICE, "stale", exchange("Stale-question-4411"))
    store.append_messages(ALICE, "fresh", exchange("Fresh question"))
    store.put_draft(ALICE, "stale-draft", "topic", {"title": "Stale-draft-5522"}, {})
    store.put_draft(ALICE, "fresh-draft", "topic", {"title": "Fresh draft"}, {})
    with store.engine.begin() as conn:
        old = "2020-01-01T00:00:00.000000Z"
        t, d = conversations_table, drafts_table
        conn.execute(update(t).where(t.c.id == "stale").values(updated_at=old))
        conn.execute(update(d).where(d.c.id == "stale-draft").values(updated_at=old))

    done = store.purge(timedelta(days=183))
    assert (done.conversations, done.drafts) == (1, 1)
    assert [c["id"] for c in store.list_conversations(ALICE)] == ["fresh"]
    assert [d["id"] for d in store.list_drafts(ALICE)] == ["fresh-draft"]
    assert not kept(store, "Stale-question-4411") and not kept(store, "Stale-draft-5522")
    assert store.purge(timedelta(days=183)).conversations == 0


def test_limits_on_messages_and_bytes(database_url: str) -> None:
    store = ConversationStore(make_engine(database_url), Limits(4, 10_000))
    store.append_messages(ALICE, "c1", exchange("one"))
    store.append_messages(ALICE, "c1", exchange("two"))
    with pytest.raises(TooManyMessages, match="at most 4 messages; start a new conversation"):
        store.append_messages(ALICE, "c1", exchange("three"))
    with pytest.raises(TooLarge, match="at most 10000 are kept"):
        store.append_messages(ALICE, "c2", exchange("x" * 20_000))
    with pytest.raises(TooLarge):
        store.put_draft(ALICE, "d1", "topic", {"text": "y" * 20_000}, {})
    found = store.get_conversation(ALICE, "c1")
    assert found is not None and found["message_count"] == 4  # nothing half-written
    assert store.get_conversation(ALICE, "c2") is None and store.get_draft(ALICE, "d1") is None
