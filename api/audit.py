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

    python -m api.audit verify              exit 1 and name the record when the chain is broken
    python -m api.audit purge --older-than 183d
    python -m api.audit export --since 2026-01-01 --until 2026-06-30 [--out FILE]
                                            records of those days (UTC) as JSON Lines, with the
                                            chain fields, for an authority or an archive
    python -m api.audit erase --key-id KEY_ID
                                            blank the personal fields (question, answer, notes)
                                            of that key's records, feedback and review notes
    python -m api.audit head                the head hash, to anchor outside the database

Erasure rewrites a payload without touching its header, so the chain still links; it appends
an `erasure` record naming each rewritten record with the digest of its new payload, and
`verify` accepts a payload that differs from its header digest only when an erasure record
vouches for it (a payload blanked or changed any other way is reported).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, Field
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

from api.db import checkpoint, create_schema, make_engine, metadata, writing
from common.settings import Settings, load_settings
from index.schema import Filters
from rag.answer import Answer, Citation, GuardVerdict, Turn
from rag.redaction import redact

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


class RetrievedEntry(BaseModel):
    chunk_id: str
    doc_id: str
    score: float


class CitedEntry(BaseModel):
    """A citation as shown with the answer, without the quoted passage (the passage is in
    the index under its chunk id, which is a hash of its text)."""

    marker: int
    chunk_id: str
    doc_id: str
    title: str = ""
    reference: str = ""
    section_path: str = ""
    page: int | None = None
    url: str = ""
    status: str = ""

    @classmethod
    def of(cls, citation: Citation) -> CitedEntry:
        return cls(**citation.model_dump(include=set(cls.model_fields)))


class AnswerRecord(BaseModel):
    """What is kept about one answer: enough to reconstruct why it was given, and no
    personal data (the question is redacted before it is stored)."""

    endpoint: str = Field(description="ask, ask_stream, chat_completions or chat_stream.")
    question: str = Field(description="The question, personal data redacted.")
    query: str = Field(description="The question as answered (after rewriting), redacted.")
    history_turns: int = 0
    filters: Filters | None = None
    behaviour: str
    reason: str = ""
    answer: str = Field(default="", description="The answer text as returned, redacted.")
    confidence: float
    retrieved: list[RetrievedEntry]
    cited: list[str]
    citations: list[CitedEntry] = Field(default_factory=list)
    composer: str
    model: str
    fallback: bool = False
    index_manifest: str
    corpus_hash: str
    embedding_model: str
    app_version: str
    guards: list[GuardVerdict]
    timings: dict[str, float]
    interrupted: bool = Field(default=False, description="The client left before the stream ended.")


def answer_record(
    answer: Answer,
    *,
    endpoint: str,
    question: str,
    history: list[Turn] | None = None,
    filters: Filters | None = None,
) -> AnswerRecord:
    versions = answer.versions
    # The query, the reason and the answer derive from the question and the history (rewritten,
    # depersonalised: "I'm Olena K." -> "a person'm Olena K."), where the cues that redaction
    # keys on may be gone: what was redacted in the sources is scrubbed from them as well.
    sources = [question, *(turn.content for turn in history or [])]
    return AnswerRecord(
        endpoint=endpoint,
        question=redact(question),
        query=redact_derived(answer.question or question, sources),
        history_turns=len(history or []),
        filters=redacted_filters(filters),
        behaviour=answer.behaviour,
        reason=redact_derived(answer.reason, sources),
        answer=redact_derived(answer.answer, sources),
        confidence=answer.confidence,
        retrieved=[
            RetrievedEntry(chunk_id=r.chunk_id, doc_id=r.doc_id, score=r.score)
            for r in answer.retrieval
        ],
        cited=[c.chunk_id for c in answer.citations],
        citations=[CitedEntry.of(c) for c in answer.citations],
        composer=versions.composer,
        model=versions.model,
        fallback=answer.fallback,
        index_manifest=versions.index_manifest,
        corpus_hash=versions.corpus_hash,
        embedding_model=versions.embedding_model,
        app_version=versions.app,
        guards=answer.guards,
        timings=answer.timings,
    )


_PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|IBAN|DOCUMENT_NUMBER|DATE_OF_BIRTH|NAME)\]")


def personal_values(text: str) -> list[tuple[str, str]]:
    """(kind, value) of each piece of personal data that `redact` replaces in `text`."""
    redacted = redact(text)
    if redacted == text:
        return []
    parts = _PLACEHOLDER.split(redacted)  # literal, kind, literal, kind, ..., literal
    literals, kinds = parts[0::2], parts[1::2]
    match = re.fullmatch("(.+?)".join(re.escape(lit) for lit in literals), text, re.DOTALL)
    if match is None:  # the text itself held a placeholder: redaction alone is applied
        return []
    return [(kind, value.strip()) for kind, value in zip(kinds, match.groups(), strict=True)]


def redact_derived(text: str, sources: list[str]) -> str:
    """`text` redacted, and every personal value found in `sources` (which `text` was
    derived from) replaced by its placeholder as well."""
    out = redact(text)
    values = {value: kind for source in sources for kind, value in personal_values(source)}
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 3:
            out = out.replace(value, f"[{values[value]}]")
    return out


def redacted_filters(filters: Filters | None) -> Filters | None:
    """Filters as recorded: free-text values (document ids, kinds) are caller input too."""
    if filters is None or filters.is_empty():
        return None
    return filters.model_copy(
        update={
            "doc_ids": [redact(d) for d in filters.doc_ids],
            "kinds": [redact(k) for k in filters.kinds],
        }
    )


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


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'183d', '12h', '30m', '90s', '26w' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 183d, 12h, 30m)")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def day_bounds(since: date | None, until: date | None) -> tuple[str | None, str | None]:
    """[since 00:00 UTC, the day after until 00:00 UTC) as stored time text: both inclusive."""
    start = datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None
    end = (
        datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
        if until
        else None
    )
    return (
        start.strftime(TIME_FORMAT) if start else None,
        end.strftime(TIME_FORMAT) if end else None,
    )


def export_record(row: dict[str, Any]) -> dict[str, Any]:
    """One exported record: the chain fields as stored, the payload as JSON. The payload's
    canonical serialisation (sorted keys, no spaces, UTF-8) hashes to `payload_digest`
    unless an `erasure` record vouches for it."""
    payload = row["payload"]
    return {
        "seq": int(row["seq"]),
        "created_at": row["created_at"],
        "kind": row["kind"],
        "trace_id": row["trace_id"],
        "key_id": row["key_id"],
        "payload": json.loads(payload) if payload is not None else None,
        "payload_digest": row["payload_digest"],
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }


def export(log: AuditLog, out: TextIO, since: date | None, until: date | None) -> int:
    """Write the records created on days since..until (inclusive, UTC) as JSON Lines."""
    start, end = day_bounds(since, until)
    count = 0
    for row in log.records(start, end):
        out.write(json.dumps(export_record(row), ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


def erase_key(log: AuditLog, key_id: str) -> EraseResult:
    """A data subject's erasure: audit payloads, feedback comments and review notes written
    with this key (same database)."""
    from api.feedback_store import FeedbackStore
    from api.review_store import ReviewStore

    done = log.erase(key_id)
    done.feedback = FeedbackStore(log.engine).erase_key(key_id)
    done.reviews = ReviewStore(log.engine).erase_key(key_id)
    checkpoint(log.engine)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.audit", description="Check and maintain the audit log."
    )
    parser.add_argument("--db", help="SQLAlchemy URL (default: EMN_AUDIT_DB_URL)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify", help="check the hash chain; exit 1 when it is broken")
    purge = sub.add_parser("purge", help="delete records older than the retention period")
    purge.add_argument(
        "--older-than",
        type=parse_duration,
        help="e.g. 183d (default: EMN_AUDIT_RETENTION_DAYS days)",
    )
    exp = sub.add_parser("export", help="records of a date range as JSON Lines")
    exp.add_argument("--since", type=parse_day, help="first day, YYYY-MM-DD (UTC, inclusive)")
    exp.add_argument("--until", type=parse_day, help="last day, YYYY-MM-DD (UTC, inclusive)")
    exp.add_argument("--out", type=Path, help="file to write (default: standard output)")
    erase = sub.add_parser("erase", help="blank the personal data recorded under an API key")
    erase.add_argument("--key-id", required=True, help="the key id (python -m api.keys list)")
    sub.add_parser("head", help="print the head (sequence number and hash)")
    args = parser.parse_args(argv)

    settings = load_settings(**({"audit_db_url": args.db} if args.db else {}))
    log = AuditLog.from_settings(settings)
    if args.command == "verify":
        result = log.verify()
        for problem in result.problems:
            print(f"BROKEN: {problem}", file=sys.stderr)
        if not result.ok:
            print(f"audit chain broken at record {result.first_bad_seq}", file=sys.stderr)
            return 1
        head = log.head()
        print(f"audit chain OK: {result.records} records, head {head['seq']} {head['hash']}")
        return 0
    if args.command == "purge":
        older = args.older_than or timedelta(days=settings.audit_retention_days)
        done = log.purge(older)
        print(f"purged {done.purged} records created before {done.cutoff}")
        return 0
    if args.command == "export":
        if args.since and args.until and args.since > args.until:
            parser.error("--since is after --until")
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("w", encoding="utf-8") as out:
                count = export(log, out, args.since, args.until)
        else:
            count = export(log, sys.stdout, args.since, args.until)
        print(f"exported {count} records" + (f" to {args.out}" if args.out else ""),
              file=sys.stderr)  # fmt: skip
        return 0
    if args.command == "erase":
        result = erase_key(log, args.key_id)
        print(
            f"erased key {args.key_id}: {result.records} audit records, {result.feedback} "
            f"feedback comments, {result.reviews} review notes"
            + (f" (erasure record {result.erasure_seq})" if result.erasure_seq else "")
        )
        return 0
    head = log.head()
    print(f"{head['seq']} {head['hash']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
