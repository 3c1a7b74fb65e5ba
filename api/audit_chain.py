"""The audit log (AI Act Art. 12/19 record-keeping): one record per answer, append-only and
tamper-evident, kept `audit_retention_days` (six months by default) and then purged.

Each record's hash covers its header (sequence number, time, kind, trace id, key id), the
digest of its payload and the previous record's hash, so changing, inserting or deleting a
record breaks the chain. A one-row head table holds the last sequence number and hash (so
deleting the newest records is detected too) and the anchor left by the last purge (the hash
of the last purged record, which the first remaining record links to).

The payload sits outside the hash, referenced by its digest: a later erasure (by key id) can
blank a payload and record that it did so without breaking the chain; records are indexed by
time, trace id and key id for that and for exports by date range.

Erasure rewrites a payload without touching its header, so the chain still links; it appends
an `erasure` record naming each rewritten record with the digest of its new payload, and
`verify` accepts a payload that differs from its header digest only when an erasure record
vouches for it (a payload blanked or changed any other way is reported). The command-line
tool is `python -m api.audit` (api/audit.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
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
from sqlalchemy.exc import IntegrityError

from api.answer_record import AnswerRecord
from api.db import checkpoint, create_schema, make_engine, metadata, writing
from common.settings import Settings

GENESIS = "0" * 64
ANSWER_KINDS = ("answer", "inform")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("created_at", String(32), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("trace_id", String(64), index=True),
    Column("key_id", String(64), index=True),
    Column("payload", Text),
    Column("payload_digest", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("anchor_seq", BigInteger, nullable=False),
    Column("anchor_hash", String(64), nullable=False),
)


# Payload fields that may hold what a person wrote (or text derived from it): blanked by
# `erase`. Everything else in a payload is about the system (versions, passages, timings).
PERSONAL_FIELDS = ("question", "query", "topic", "reason", "answer", "note", "comment")


def scrubbed(payload: dict[str, Any], at: str) -> dict[str, Any]:
    """The payload with its personal fields blanked, marked as erased."""
    out = {k: ("" if k in PERSONAL_FIELDS and v else v) for k, v in payload.items()}
    out["erased"] = at
    return out


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def now_text() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


@dataclass
class VerifyResult:
    records: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, seq: int, message: str) -> None:
        if self.first_bad_seq is None:
            self.first_bad_seq = seq
        self.problems.append(message)


@dataclass
class PurgeResult:
    purged: int
    through_seq: int
    cutoff: str


@dataclass
class EraseResult:
    records: int
    feedback: int = 0
    reviews: int = 0
    erasure_seq: int | None = None


class AuditLog:
    """Appends, verifies and purges the hash chain. Thread-safe; across processes the head
    row lock (PostgreSQL) or SQLite's immediate transactions serialise appends."""

    def __init__(self, engine: Engine, hmac_key: bytes | None = None) -> None:
        self.engine = engine
        self._key = hmac_key
        self._lock = threading.Lock()
        create_schema(engine)
        try:
            with writing(engine) as conn:
                if conn.execute(select(audit_head.c.id)).first() is None:
                    conn.execute(
                        insert(audit_head).values(
                            id=1, seq=0, hash=GENESIS, anchor_seq=0, anchor_hash=GENESIS
                        )
                    )
        except IntegrityError:  # another replica created it at the same moment
            pass

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditLog:
        key = settings.audit_hmac_key
        return cls(
            make_engine(settings.audit_db_url),
            key.get_secret_value().encode() if key is not None else None,
        )

    # --- hashing ------------------------------------------------------------------------
    def record_hash(self, row: dict[str, Any]) -> str:
        header = {
            name: row[name]
            for name in ("seq", "created_at", "kind", "trace_id", "key_id", "payload_digest")
        }
        header["prev_hash"] = row["prev_hash"]
        data = canonical_json(header).encode("utf-8")
        if self._key:
            return hmac.new(self._key, data, hashlib.sha256).hexdigest()
        return hashlib.sha256(data).hexdigest()

    @staticmethod
    def digest(payload: str) -> str:
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    # --- writing ------------------------------------------------------------------------
    def append(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        trace_id: str | None = None,
        key_id: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """Append one record; returns its sequence number."""
        with self._lock, writing(self.engine) as conn:
            return self._append(conn, kind, payload, trace_id, key_id, at)

    def append_answer(self, record: AnswerRecord, *, trace_id: str, key_id: str | None) -> int:
        return self.append(
            "answer", record.model_dump(mode="json"), trace_id=trace_id, key_id=key_id
        )

    def _append(
        self,
        conn: Connection,
        kind: str,
        payload: dict[str, Any],
        trace_id: str | None,
        key_id: str | None,
        at: datetime | None,
    ) -> int:
        head = conn.execute(select(audit_head).where(audit_head.c.id == 1).with_for_update()).one()
        text = canonical_json(payload)
        row: dict[str, Any] = {
            "seq": int(head.seq) + 1,
            "created_at": (at or datetime.now(UTC)).astimezone(UTC).strftime(TIME_FORMAT),
            "kind": kind,
            "trace_id": trace_id,
            "key_id": key_id,
            "payload": text,
            "payload_digest": self.digest(text),
            "prev_hash": head.hash,
        }
        row["hash"] = self.record_hash(row)
        conn.execute(insert(audit_log).values(**row))
        conn.execute(
            update(audit_head).where(audit_head.c.id == 1).values(seq=row["seq"], hash=row["hash"])
        )
        return int(row["seq"])

    # --- reading ------------------------------------------------------------------------
    def has_trace(self, trace_id: str) -> bool:
        """Whether an answer (or another answer-like record, e.g. an inform draft) with this
        trace id is on record."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(audit_log.c.seq)
                .where(audit_log.c.trace_id == trace_id, audit_log.c.kind != "purge")
                .limit(1)
            ).first()
        return found is not None

    def find(self, trace_id: str) -> dict[str, Any] | None:
        """The record of the answer (or inform draft) with this trace id."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(audit_log)
                .where(audit_log.c.trace_id == trace_id, audit_log.c.kind.in_(ANSWER_KINDS))
                .order_by(audit_log.c.seq)
                .limit(1)
            ).first()
        return dict(row._mapping) if row is not None else None

    def head(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(audit_head)).one()._mapping)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())

    def records(self, since: str | None = None, until: str | None = None) -> Iterator[dict]:
        """Records in chain order, optionally within [since, until) (ISO UTC text)."""
        query = select(audit_log).order_by(audit_log.c.seq)
        if since:
            query = query.where(audit_log.c.created_at >= since)
        if until:
            query = query.where(audit_log.c.created_at < until)
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=500).execute(query):
                yield dict(row._mapping)

    # --- checking -----------------------------------------------------------------------
    def verify(self) -> VerifyResult:
        """Walk the chain from the purge anchor to the head; report every break."""
        result = VerifyResult()
        erased = self._erased_digests()
        head = self.head()
        prev_hash, expected = head["anchor_hash"], int(head["anchor_seq"]) + 1
        last_seq = int(head["anchor_seq"])
        for row in self.records():
            seq = int(row["seq"])
            result.records += 1
            where = f"record {seq}" + (f" (trace id {row['trace_id']})" if row["trace_id"] else "")
            if seq != expected:
                result.fail(expected, f"{_span(expected, seq - 1)} deleted (chain jumps to {seq})")
            if row["prev_hash"] != prev_hash:
                result.fail(seq, f"{where}: link to the previous record is broken")
            payload = row["payload"]
            if payload is None:
                result.fail(seq, f"{where}: content removed (no payload)")
            elif self.digest(payload) not in (row["payload_digest"], erased.get(seq)):
                # An erased payload is vouched for by the erasure record (itself in the chain).
                result.fail(seq, f"{where}: content changed (payload digest mismatch)")
            if self.record_hash(row) != row["hash"]:
                result.fail(seq, f"{where}: content changed (hash mismatch)")
            prev_hash, expected, last_seq = row["hash"], seq + 1, seq
        if int(head["seq"]) != last_seq or head["hash"] != prev_hash:
            if int(head["seq"]) > last_seq:
                result.fail(
                    last_seq + 1,
                    f"{_span(last_seq + 1, int(head['seq']))} deleted (the head is at "
                    f"{head['seq']}, the last record is {last_seq})",
                )
            else:
                result.fail(last_seq, f"head does not match record {last_seq}")
        return result

    def _erased_digests(self) -> dict[int, str]:
        """seq -> digest of its erased payload, from every erasure record (an erasure record
        that was itself altered fails its own digest check in `verify`)."""
        out: dict[int, str] = {}
        query = select(audit_log.c.payload).where(audit_log.c.kind == "erasure")
        with self.engine.connect() as conn:
            for (payload,) in conn.execute(query):
                with contextlib.suppress(TypeError, ValueError, AttributeError):
                    for seq, digest in json.loads(payload)["records"].items():
                        out[int(seq)] = str(digest)
        return out

    # --- erasure ------------------------------------------------------------------------
    def erase(self, key_id: str) -> EraseResult:
        """Blank the personal fields of every record written with this API key (a data
        subject's request); the chain still verifies. Returns how many were rewritten."""
        at = now_text()
        with self._lock, writing(self.engine) as conn:
            rows = conn.execute(
                select(audit_log.c.seq, audit_log.c.payload)
                .where(audit_log.c.key_id == key_id, audit_log.c.payload.is_not(None))
                .order_by(audit_log.c.seq)
            ).all()
            records: dict[str, str] = {}
            for seq, payload in rows:
                try:
                    data = json.loads(payload)
                except ValueError:
                    continue
                if not isinstance(data, dict) or "erased" in data:
                    continue
                text = canonical_json(scrubbed(data, at))
                conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(payload=text))
                records[str(seq)] = self.digest(text)
            erasure_seq = None
            if records:
                erasure_seq = self._append(
                    conn,
                    "erasure",
                    {"key_id": key_id, "fields": list(PERSONAL_FIELDS), "records": records},
                    None,
                    None,
                    None,
                )
        checkpoint(self.engine)
        return EraseResult(records=len(records), erasure_seq=erasure_seq)

    # --- retention ----------------------------------------------------------------------
    def purge(self, older_than: timedelta, now: datetime | None = None) -> PurgeResult:
        """Delete the oldest records (created before now - older_than), move the anchor to
        the last deleted record, and record the purge itself in the chain."""
        cutoff = ((now or datetime.now(UTC)) - older_than).astimezone(UTC).strftime(TIME_FORMAT)
        with self._lock, writing(self.engine) as conn:
            head = conn.execute(
                select(audit_head).where(audit_head.c.id == 1).with_for_update()
            ).one()
            first_kept = conn.execute(
                select(func.min(audit_log.c.seq)).where(audit_log.c.created_at >= cutoff)
            ).scalar_one()
            through = int(first_kept) - 1 if first_kept is not None else int(head.seq)
            if through <= int(head.anchor_seq):
                return PurgeResult(0, int(head.anchor_seq), cutoff)
            last = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == through)).one()
            purged = conn.execute(delete(audit_log).where(audit_log.c.seq <= through)).rowcount
            conn.execute(
                update(audit_head)
                .where(audit_head.c.id == 1)
                .values(anchor_seq=through, anchor_hash=last.hash)
            )
            self._append(
                conn,
                "purge",
                {"cutoff": cutoff, "purged": purged, "through_seq": through},
                None,
                None,
                None,
            )
        checkpoint(self.engine)
        return PurgeResult(int(purged), through, cutoff)


def _span(first: int, last: int) -> str:
    return f"record {first}" if first == last else f"records {first}-{last}"
