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

Truncation (deleting the newest records and rewinding the head row, or deleting the oldest and
moving the anchor) leaves a consistent chain, so it is caught outside it: signed checkpoints
(api/audit_checkpoints.py) in a file beside the database, written every
`audit_checkpoint_every` records, on a timer, at startup and shutdown, and after each purge
and erasure; `verify` checks the chain against every checkpoint. A purge records the range it
removed and the new anchor hash in the chain, and `verify` accepts an anchor only when the
newest purge record names it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
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
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from api.answer_record import AnswerRecord
from api.audit_checkpoints import Checkpoint, CheckpointFile
from api.db import create_schema, make_engine, metadata, scrub, writing
from common.settings import Settings

log = logging.getLogger("api")

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


class AuditBusyError(RuntimeError):
    """Another writer held the audit log for longer than the busy timeout."""


@dataclass
class VerifyResult:
    records: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None
    warnings: list[str] = field(default_factory=list)
    checkpoints: int = 0  # checkpoints the chain was checked against
    latest_checkpoint: Checkpoint | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, seq: int | None, message: str) -> None:
        if self.first_bad_seq is None and seq is not None:
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
    conversations: int = 0  # saved conversations and drafts deleted (api/conversation_store)
    drafts: int = 0
    erasure_seq: int | None = None


class AuditLog:
    """Appends, verifies and purges the hash chain. Thread-safe; across processes the head
    row lock (PostgreSQL) or SQLite's immediate transactions serialise appends.

    `checkpoints`: where signed checkpoints go (None: none are written or checked);
    `checkpoint_every`: write one after every this many records (0: not by count);
    `busy_timeout_s`: an append waits at most this long for the log (this process's other
    writers and another process's database lock together), then raises, so a request fails
    fast instead of stalling; `migrate`: bring the schema to the newest version (False: only
    check it, raising SchemaNotCurrentError when it is behind)."""

    def __init__(
        self,
        engine: Engine,
        hmac_key: bytes | None = None,
        *,
        checkpoints: CheckpointFile | None = None,
        checkpoint_every: int = 0,
        busy_timeout_s: float = 30.0,
        migrate: bool = True,
    ) -> None:
        self.engine = engine
        self._key = hmac_key
        self._lock = threading.Lock()
        self.checkpoints = checkpoints
        self._every = checkpoint_every
        self._busy_s = busy_timeout_s
        self._checkpointed_seq: int | None = None
        if migrate:
            create_schema(engine)
        else:
            from api.schema_migrations import require_current

            require_current(engine)
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
        secret = key.get_secret_value().encode() if key is not None else None
        assert settings.audit_checkpoint_file is not None  # resolved by Settings
        return cls(
            make_engine(
                settings.database_url,
                settings.audit_busy_timeout_s,
                settings.database_connect_timeout_s,
            ),
            secret,
            checkpoints=CheckpointFile(settings.audit_checkpoint_file, secret),
            checkpoint_every=settings.audit_checkpoint_every,
            busy_timeout_s=settings.audit_busy_timeout_s,
            migrate=settings.database_migrate,
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
        """Append one record; returns its sequence number. Raises (AuditBusyError or the
        database's error) when the log stays locked past the busy timeout."""
        deadline = time.monotonic() + self._busy_s
        if not self._lock.acquire(timeout=self._busy_s):
            raise AuditBusyError(f"the audit log stayed busy for {self._busy_s:g} s")
        try:
            with writing(self.engine, max(0.0, deadline - time.monotonic())) as conn:
                seq = self._append(conn, kind, payload, trace_id, key_id, at)
        finally:
            self._lock.release()
        if self._every and seq % self._every == 0:
            self.checkpoint_quietly()
        return seq

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

    # --- checkpoints --------------------------------------------------------------------
    def write_checkpoint(self) -> Checkpoint | None:
        """Append a signed checkpoint of the current head (None: no checkpoint file)."""
        if self.checkpoints is None:
            return None
        # One statement, so one snapshot on every database: PostgreSQL's READ COMMITTED gives
        # each statement its own, and another host's append between two reads would make the
        # count disagree with the head.
        count_now = select(func.count()).select_from(audit_log).scalar_subquery()
        with self.engine.connect() as conn:
            head = conn.execute(
                select(audit_head, count_now.label("count")).where(audit_head.c.id == 1)
            ).one()
        count = head.count
        point = Checkpoint(
            seq=int(head.seq),
            hash=str(head.hash),
            count=int(count),
            anchor_seq=int(head.anchor_seq),
            anchor_hash=str(head.anchor_hash),
            at=now_text(),
        )
        self.checkpoints.append(point)
        self._checkpointed_seq = point.seq
        return point

    def checkpoint_quietly(self, *, only_if_moved: bool = False) -> Checkpoint | None:
        """A checkpoint where failing must not stop the caller (an answer is already on
        record): a failure is logged; `verify` then relies on the previous checkpoint."""
        try:
            if only_if_moved and int(self.head()["seq"]) == self._checkpointed_seq:
                return None
            return self.write_checkpoint()
        except (OSError, SQLAlchemyError) as exc:
            log.warning("audit checkpoint not written: %s", exc)
            return None

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
    def verify(self, *, require_checkpoint: bool = True) -> VerifyResult:
        """Walk the chain from the purge anchor to the head and report every break; then
        check that a purge record explains the anchor, and the chain against every
        checkpoint. `require_checkpoint`: with a checkpoint file configured, a log with
        records but no checkpoint fails (its file was deleted, or this is a copy without
        it); otherwise that is a warning."""
        result = VerifyResult()
        read = self.checkpoints.read() if self.checkpoints is not None else None
        wanted = {point.seq for point in read.checkpoints} if read is not None else set()
        seen: dict[int, str] = {}  # seq -> hash of the checkpointed records present
        newest_purge: tuple[int, dict[str, Any]] | None = None
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
            if seq in wanted:
                seen[seq] = row["hash"]
            if row["kind"] == "purge":
                newest_purge = (seq, _json_object(payload))
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
        _check_anchor(head, newest_purge, result)
        if read is not None:
            assert self.checkpoints is not None
            result.problems.extend(read.problems)
            result.warnings.extend(read.warnings)
            _check_checkpoints(
                head, read.checkpoints, seen, newest_purge, result,
                require=require_checkpoint, where=str(self.checkpoints.path),
            )  # fmt: skip
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
        scrub(self.engine, "audit_log")
        if erasure_seq is not None:
            self.checkpoint_quietly()
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
            # The range removed and the anchor left, signed like every record: `verify`
            # accepts the anchor only when the newest purge record names it.
            self._append(
                conn,
                "purge",
                {
                    "cutoff": cutoff,
                    "purged": purged,
                    "from_seq": int(head.anchor_seq) + 1,
                    "through_seq": through,
                    "anchor_hash": last.hash,
                },
                None,
                None,
                None,
            )
        scrub(self.engine, "audit_log")
        self.checkpoint_quietly()  # a purge is always covered by a checkpoint at once
        return PurgeResult(int(purged), through, cutoff)


def _span(first: int, last: int) -> str:
    return f"record {first}" if first == last else f"records {first}-{last}"


def _json_object(payload: str | None) -> dict[str, Any]:
    try:
        value = json.loads(payload or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _check_anchor(
    head: dict[str, Any], newest_purge: tuple[int, dict[str, Any]] | None, result: VerifyResult
) -> None:
    """A moved anchor (records deleted at the oldest end) must be the one the newest purge
    record left; purge records written before they named the anchor hash are checked by
    range only."""
    anchor = int(head["anchor_seq"])
    if anchor == 0:
        return
    if newest_purge is None:
        result.fail(
            anchor + 1,
            f"oldest records deleted: the chain starts after record {anchor} (purge anchor "
            "moved) but no purge record in the chain explains it",
        )
        return
    seq, purge = newest_purge
    named = purge.get("anchor_hash", head["anchor_hash"])  # older purge records: range only
    if purge.get("through_seq") != anchor or named != head["anchor_hash"]:
        result.fail(
            anchor + 1,
            f"oldest records deleted: the purge anchor is at record {anchor}, but the newest "
            f"purge record ({seq}) removed records through {purge.get('through_seq')}",
        )


def _check_checkpoints(
    head: dict[str, Any],
    points: list[Checkpoint],
    seen: dict[int, str],
    newest_purge: tuple[int, dict[str, Any]] | None,
    result: VerifyResult,
    *,
    require: bool,
    where: str,
) -> None:
    """The chain must still hold what every checkpoint saw: at least its head, with the same
    hash (unless purged since, by a purge record written after it)."""
    head_seq, anchor = int(head["seq"]), int(head["anchor_seq"])
    if not points:
        if head_seq == 0:
            result.warnings.append(f"no checkpoint in {where} yet (the log is empty)")
            return
        message = (
            f"no checkpoint in {where}: deletion of the newest or oldest records cannot be "
            "ruled out (the file was deleted, or this database was copied without it)"
        )
        if require:
            result.fail(None, message + "; --allow-missing-checkpoint checks the chain alone")
        else:
            result.warnings.append(message)
        return
    latest = max(points, key=lambda point: (point.seq, point.anchor_seq))
    result.checkpoints, result.latest_checkpoint = len(points), latest
    if latest.seq > head_seq:
        result.fail(
            head_seq + 1,
            f"newest records deleted: the checkpoint of {latest.at} saw record {latest.seq}, "
            f"the log now ends at record {head_seq} ({_span(head_seq + 1, latest.seq)} missing, "
            "head rewound)",
        )
    for point in points:
        if anchor < point.seq <= head_seq:
            found = seen.get(point.seq)
            if found is None:
                result.fail(point.seq, f"record {point.seq}, seen by the checkpoint of "
                                       f"{point.at}, is missing")  # fmt: skip
            elif found != point.hash:
                result.fail(
                    point.seq,
                    f"record {point.seq} differs from the checkpoint of {point.at} (the chain "
                    "was rewritten)",
                )
        elif point.seq == anchor and point.hash != head["anchor_hash"]:
            result.fail(anchor + 1, f"the purge anchor differs from the checkpoint of {point.at}")
        if point.anchor_seq > anchor:
            result.fail(
                anchor + 1,
                f"the purge anchor moved back from record {point.anchor_seq} (checkpoint of "
                f"{point.at}) to {anchor}",
            )
    purge_seq = newest_purge[0] if newest_purge is not None else 0
    if anchor > latest.anchor_seq and purge_seq <= latest.seq:
        result.fail(
            latest.anchor_seq + 1,
            f"oldest records deleted: the purge anchor moved from record {latest.anchor_seq} "
            f"to {anchor} after the checkpoint of {latest.at} without a purge record since",
        )
    if purge_seq > latest.seq:
        result.fail(
            purge_seq,
            f"purge record {purge_seq} is newer than every checkpoint (a purge writes one at "
            "once), so it may be forged; if the purge was genuine, write one with "
            "`python -m api.audit checkpoint`",
        )
