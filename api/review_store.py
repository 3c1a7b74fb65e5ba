"""Reviewer verdicts on answers (Art. 14 human oversight): a reviewer marks a flagged (or
any recorded) answer right or wrong with a note. The history is kept; the latest verdict
counts. Notes are redacted before they are stored."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Engine, Integer, String, Table, Text, insert, select, update

from api.db import create_schema, metadata, scrub
from rag.redaction import redact

review_table = Table(
    "review_verdicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(32), nullable=False, index=True),
    Column("trace_id", String(64), nullable=False, index=True),
    Column("verdict", String(8), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("key_id", String(64), index=True),
)


class ReviewStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(engine)

    def add(self, trace_id: str, verdict: str, note: str, key_id: str | None) -> dict:
        row = {
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "trace_id": trace_id,
            "verdict": verdict,
            "note": redact(note),
            "key_id": key_id,
        }
        with self.engine.begin() as conn:
            result = conn.execute(insert(review_table).values(**row))
            row["id"] = int(result.inserted_primary_key[0])
        return row

    def latest(self, trace_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(review_table)
                .where(review_table.c.trace_id == trace_id)
                .order_by(review_table.c.id.desc())
                .limit(1)
            ).first()
        return dict(row._mapping) if row is not None else None

    def erase_key(self, key_id: str) -> int:
        """Blank the notes written with this key (the verdicts stay); how many rows."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(review_table)
                .where(review_table.c.key_id == key_id, review_table.c.note != "")
                .values(note="")
            )
            changed = int(result.rowcount or 0)
        if changed:
            scrub(self.engine, review_table.name)  # no old copy of the text stays in the files
        return changed
