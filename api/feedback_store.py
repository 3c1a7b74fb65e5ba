"""Feedback on answers (Art. 14 human oversight): thumbs up/down and a comment per trace id,
in the service database beside the audit log. Comments are redacted before they are stored;
'down' ratings form the review queue."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Engine, Integer, String, Table, Text, insert, select

from api.db import create_schema, metadata
from rag.redaction import redact

feedback_table = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(32), nullable=False, index=True),
    Column("trace_id", String(64), nullable=False, index=True),
    Column("rating", String(8), nullable=False, index=True),
    Column("comment", Text, nullable=False, default=""),
    Column("key_id", String(64), index=True),
)


class FeedbackStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(engine)

    def add(self, trace_id: str, rating: str, comment: str, key_id: str | None) -> dict:
        row = {
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "trace_id": trace_id,
            "rating": rating,
            "comment": redact(comment),
            "key_id": key_id,
        }
        with self.engine.begin() as conn:
            result = conn.execute(insert(feedback_table).values(**row))
            row["id"] = int(result.inserted_primary_key[0])
        return row

    def for_trace(self, trace_id: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(feedback_table)
                .where(feedback_table.c.trace_id == trace_id)
                .order_by(feedback_table.c.id)
            )
            return [dict(r._mapping) for r in rows]
