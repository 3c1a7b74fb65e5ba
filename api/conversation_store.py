"""Saved work of the chat page's users: conversations (the questions and the answer records
the page shows) and inform drafts (the draft as /v1/inform returned it, and the user's edits),
in the service database beside the audit log, so nothing is lost on a reload or a mode switch.

Every row belongs to an owner (api/owner.py: the API key and/or the browser session) and is
only ever read, changed or deleted together with it: another owner's id is simply not found.
Deletion really deletes: the row goes, SQLite's secure_delete zeroes its bytes and the
write-ahead log is checkpointed, so the text is no longer anywhere in the files (PostgreSQL:
the tables are vacuumed, so no old row version keeps it; api/db.py `scrub`). Rows not
updated within the retention period are purged the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from api.db import create_schema, metadata, scrub, writing

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
TITLE_CHARS = 120

conversations_table = Table(
    "conversations",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("title", String(TITLE_CHARS), nullable=False, default=""),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False, index=True),
    Column("message_count", Integer, nullable=False, default=0),
    Column("messages", Text, nullable=False, default="[]"),
)

drafts_table = Table(
    "inform_drafts",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("topic", String(400), nullable=False, default=""),
    Column("title", String(TITLE_CHARS), nullable=False, default=""),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False, index=True),
    Column("draft", Text, nullable=False),
    Column("edits", Text, nullable=False, default="{}"),
)

SAVED_TABLES = ("conversations", "inform_drafts")


class TooManyMessages(Exception):
    """The conversation would hold more messages than allowed."""


class TooLarge(Exception):
    """The conversation or draft would be larger than allowed (bytes of JSON)."""


@dataclass(frozen=True)
class Limits:
    max_messages: int = 200
    max_bytes: int = 2_000_000


@dataclass(frozen=True)
class Purged:
    conversations: int
    drafts: int
    cutoff: str


@dataclass(frozen=True)
class Erased:
    conversations: int
    drafts: int


def now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def short_title(text: str) -> str:
    """One line, at most TITLE_CHARS characters (an ellipsis marks a cut)."""
    line = " ".join(str(text).split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class ConversationStore:
    """Conversations and drafts per owner. Methods return plain dicts (None: not found)."""

    def __init__(self, engine: Engine, limits: Limits | None = None) -> None:
        self.engine = engine
        self.limits = limits or Limits()
        create_schema(engine)

    # --- conversations --------------------------------------------------------------------
    def list_conversations(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first: id, title, times and the number of messages (not the messages)."""
        t = conversations_table
        query = (
            select(t.c.id, t.c.title, t.c.created_at, t.c.updated_at, t.c.message_count)
            .where(t.c.owner == owner)
            .order_by(t.c.updated_at.desc(), t.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_summary(dict(r._mapping)) for r in conn.execute(query)]

    def get_conversation(self, owner: str, conversation_id: str) -> dict[str, Any] | None:
        t = conversations_table
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t).where(t.c.owner == owner, t.c.id == conversation_id)
            ).first()
        if row is None:
            return None
        record = dict(row._mapping)
        return {**_summary(record), "messages": json.loads(record["messages"])}

    def put_conversation(
        self, owner: str, conversation_id: str, title: str, messages: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """Create or replace the whole conversation; (summary, created)."""
        text = self._checked(messages)
        t = conversations_table
        with writing(self.engine) as conn:
            where = (t.c.owner == owner, t.c.id == conversation_id)
            exists = conn.execute(select(t.c.created_at).where(*where)).first()
            stamp = now()
            values = {
                "title": short_title(title or _first_question(messages)),
                "updated_at": stamp,
                "message_count": len(messages),
                "messages": text,
            }
            if exists is None:
                conn.execute(
                    insert(t).values(owner=owner, id=conversation_id, created_at=stamp, **values)
                )
            else:
                conn.execute(update(t).where(*where).values(**values))
        return self._summary_of(owner, conversation_id), exists is None

    def append_messages(
        self, owner: str, conversation_id: str, messages: list[dict[str, Any]], title: str = ""
    ) -> tuple[dict[str, Any], bool]:
        """Add messages at the end (the conversation is created when new); (summary, created).
        Read and written under the write lock, so two appends never lose one another."""
        t = conversations_table
        with writing(self.engine) as conn:
            where = (t.c.owner == owner, t.c.id == conversation_id)
            row = conn.execute(select(t.c.messages, t.c.title).where(*where)).first()
            before = json.loads(row.messages) if row is not None else []
            combined = [*before, *messages]
            text = self._checked(combined)
            stamp = now()
            if row is None:
                conn.execute(
                    insert(t).values(
                        owner=owner,
                        id=conversation_id,
                        title=short_title(title or _first_question(combined)),
                        created_at=stamp,
                        updated_at=stamp,
                        message_count=len(combined),
                        messages=text,
                    )
                )
            else:
                values: dict[str, Any] = {
                    "updated_at": stamp,
                    "message_count": len(combined),
                    "messages": text,
                }
                if title:
                    values["title"] = short_title(title)
                conn.execute(update(t).where(*where).values(**values))
        return self._summary_of(owner, conversation_id), row is None

    def delete_conversation(self, owner: str, conversation_id: str) -> bool:
        t = conversations_table
        return self._delete(delete(t).where(t.c.owner == owner, t.c.id == conversation_id))

    def _summary_of(self, owner: str, conversation_id: str) -> dict[str, Any]:
        found = self.get_conversation(owner, conversation_id)
        assert found is not None
        del found["messages"]
        return found

    def _checked(self, messages: list[dict[str, Any]]) -> str:
        if len(messages) > self.limits.max_messages:
            raise TooManyMessages(
                f"A conversation holds at most {self.limits.max_messages} messages; "
                "start a new conversation."
            )
        return self._sized(messages, "conversation")

    def _sized(self, value: Any, what: str) -> str:
        text = _dumps(value)
        size = len(text.encode("utf-8"))
        if size > self.limits.max_bytes:
            raise TooLarge(
                f"The {what} would take {size} bytes; at most {self.limits.max_bytes} are kept."
            )
        return text

    # --- inform drafts --------------------------------------------------------------------
    def list_drafts(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        t = drafts_table
        query = (
            select(t.c.id, t.c.topic, t.c.title, t.c.created_at, t.c.updated_at)
            .where(t.c.owner == owner)
            .order_by(t.c.updated_at.desc(), t.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def get_draft(self, owner: str, draft_id: str) -> dict[str, Any] | None:
        t = drafts_table
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.owner == owner, t.c.id == draft_id)).first()
        if row is None:
            return None
        record = dict(row._mapping)
        del record["owner"]
        record["draft"] = json.loads(record["draft"])
        record["edits"] = json.loads(record["edits"])
        return record

    def put_draft(
        self,
        owner: str,
        draft_id: str,
        topic: str,
        draft: dict[str, Any],
        edits: dict[str, Any],
    ) -> tuple[dict[str, Any], bool]:
        """Create or replace a draft with its edits; (the stored draft, created)."""
        draft_text = self._sized(draft, "draft")
        edits_text = _dumps(edits)
        self._sized({"draft": draft, "edits": edits}, "draft with its edits")
        t = drafts_table
        with writing(self.engine) as conn:
            where = (t.c.owner == owner, t.c.id == draft_id)
            exists = conn.execute(select(t.c.created_at).where(*where)).first()
            stamp = now()
            values = {
                "topic": short_title(topic)[:400],
                "title": short_title(_draft_title(draft, edits)),
                "updated_at": stamp,
                "draft": draft_text,
                "edits": edits_text,
            }
            if exists is None:
                conn.execute(insert(t).values(owner=owner, id=draft_id, created_at=stamp, **values))
            else:
                conn.execute(update(t).where(*where).values(**values))
        stored = self.get_draft(owner, draft_id)
        assert stored is not None
        return stored, exists is None

    def set_draft_edits(
        self, owner: str, draft_id: str, edits: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Replace only the edits of an existing draft; None when there is no such draft."""
        t = drafts_table
        with writing(self.engine) as conn:
            where = (t.c.owner == owner, t.c.id == draft_id)
            row = conn.execute(select(t.c.draft).where(*where)).first()
            if row is None:
                return None
            draft = json.loads(row.draft)
            self._sized({"draft": draft, "edits": edits}, "draft with its edits")
            conn.execute(
                update(t)
                .where(*where)
                .values(
                    edits=_dumps(edits),
                    title=short_title(_draft_title(draft, edits)),
                    updated_at=now(),
                )
            )
        return self.get_draft(owner, draft_id)

    def delete_draft(self, owner: str, draft_id: str) -> bool:
        t = drafts_table
        return self._delete(delete(t).where(t.c.owner == owner, t.c.id == draft_id))

    # --- deletion and retention -----------------------------------------------------------
    def _delete(self, statement: Any) -> bool:
        with writing(self.engine) as conn:
            gone = int(conn.execute(statement).rowcount or 0)
        if gone:
            scrub(self.engine, *SAVED_TABLES)  # the deleted text must not linger anywhere
        return gone > 0

    def delete_owners(self, prefix: str) -> Erased:
        """Delete every conversation and draft whose owner starts with `prefix` (exactly:
        case-sensitive, no LIKE wildcards), e.g. all the sessions of one API key."""
        if not prefix:
            raise ValueError("an empty prefix would delete everyone's saved work")
        counts = []
        with writing(self.engine) as conn:
            for t in (conversations_table, drafts_table):
                mine = func.substr(t.c.owner, 1, len(prefix)) == prefix
                counts.append(int(conn.execute(delete(t).where(mine)).rowcount or 0))
        done = Erased(*counts)
        if done.conversations or done.drafts:
            scrub(self.engine, *SAVED_TABLES)  # the deleted text must not linger anywhere
        return done

    def purge(self, older_than: timedelta) -> Purged:
        """Delete conversations and drafts not updated for `older_than`."""
        cutoff = (datetime.now(UTC) - older_than).strftime(TIME_FORMAT)
        with writing(self.engine) as conn:
            conversations = conn.execute(
                delete(conversations_table).where(conversations_table.c.updated_at < cutoff)
            ).rowcount
            drafts = conn.execute(
                delete(drafts_table).where(drafts_table.c.updated_at < cutoff)
            ).rowcount
        done = Purged(int(conversations or 0), int(drafts or 0), cutoff)
        if done.conversations or done.drafts:
            scrub(self.engine, *SAVED_TABLES)
        return done


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "title": record["title"],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "message_count": int(record["message_count"]),
    }


def _first_question(messages: list[dict[str, Any]]) -> str:
    return next((str(m.get("content", "")) for m in messages if m.get("role") == "user"), "")


def _draft_title(draft: dict[str, Any], edits: dict[str, Any]) -> str:
    return str(edits.get("title") or draft.get("title") or "")
