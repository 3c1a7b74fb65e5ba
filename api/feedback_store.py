"""Feedback on answers (Art. 14 human oversight): thumbs up/down, an optional "report" flag
and a comment per trace id, in the service database beside the audit log. Comments are
redacted before they are stored; 'down' ratings and reports form the review queue."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Integer,
    String,
    Table,
    Text,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from api.db import create_schema, metadata, scrub
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
    Column("report", Boolean, nullable=False, default=False, server_default=false()),
)


def flagged_clause() -> ColumnElement[bool]:
    """Feedback that puts an answer in the review queue: thumbs down or a report."""
    return or_(feedback_table.c.rating == "down", feedback_table.c.report.is_(True))


class FeedbackStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(engine)

    def add(
        self, trace_id: str, rating: str, comment: str, key_id: str | None, report: bool = False
    ) -> dict:
        row = {
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "trace_id": trace_id,
            "rating": rating,
            "comment": redact(comment),
            "key_id": key_id,
            "report": bool(report),
        }
        with self.engine.begin() as conn:
            result = conn.execute(insert(feedback_table).values(**row))
            row["id"] = int(result.inserted_primary_key[0])
        return row

    def update(
        self,
        feedback_id: int,
        trace_id: str,
        rating: str,
        comment: str,
        key_id: str | None,
        report: bool = False,
    ) -> dict | None:
        """Change a rating already given (the page records a thumb on click, then adds the
        comment to it): only with its trace id and by the same key; None when no such row."""
        t = feedback_table
        same_key = t.c.key_id.is_(None) if key_id is None else t.c.key_id == key_id
        values = {"rating": rating, "comment": redact(comment), "report": bool(report)}
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t).where(t.c.id == feedback_id, t.c.trace_id == trace_id, same_key)
                .values(**values)
            )  # fmt: skip
            if not result.rowcount:
                return None
            row = conn.execute(select(t).where(t.c.id == feedback_id)).first()
        return dict(row._mapping) if row is not None else None

    def for_trace(self, trace_id: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(feedback_table)
                .where(feedback_table.c.trace_id == trace_id)
                .order_by(feedback_table.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def flagged(self) -> list[tuple[str, str]]:
        """(trace id, time of its latest flag) of every flagged answer, latest first."""
        latest = func.max(feedback_table.c.created_at)
        query = (
            select(feedback_table.c.trace_id, latest)
            .where(flagged_clause())
            .group_by(feedback_table.c.trace_id)
            .order_by(latest.desc())
        )
        with self.engine.connect() as conn:
            return [(row[0], row[1]) for row in conn.execute(query)]

    def erase_key(self, key_id: str) -> int:
        """Blank the comments written with this key (the ratings stay); how many rows."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(feedback_table)
                .where(feedback_table.c.key_id == key_id, feedback_table.c.comment != "")
                .values(comment="")
            )
            changed = int(result.rowcount or 0)
        if changed:
            scrub(self.engine, feedback_table.name)  # no old copy of the text stays in the files
        return changed
