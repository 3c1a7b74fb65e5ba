"""The audit log's command-line tool (the log itself: api/audit_chain.py).

    python -m api.audit verify [--allow-missing-checkpoint]
                                            exit 1 and name the record and the kind of
                                            tampering when the chain is broken, or when it no
                                            longer holds what a checkpoint saw
    python -m api.audit checkpoint          write a signed checkpoint of the head now
    python -m api.audit purge --older-than 183d [--saved-older-than 90d]
                                            also deletes saved conversations and drafts not
                                            updated within their retention (default
                                            EMN_CONVERSATION_RETENTION_DAYS, else the audit's)
    python -m api.audit export --since 2026-01-01 --until 2026-06-30 [--out FILE]
                                            records of those days (UTC) as JSON Lines, with the
                                            chain fields, for an authority or an archive
    python -m api.audit erase --key-id KEY_ID
                                            blank the personal fields (question, answer, notes)
                                            of that key's records, feedback and review notes,
                                            and delete the saved conversations and drafts of
                                            every browser session under that key
    python -m api.audit head                the head hash, to anchor outside the database

Purges and erasures are records in the chain themselves, so `verify` still passes after them.
`--checkpoints FILE` names the checkpoint file (default EMN_AUDIT_CHECKPOINT_FILE, beside a
SQLite database): give it when checking a copy of the database kept elsewhere.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from api.audit_chain import TIME_FORMAT, AuditLog, EraseResult
from common.settings import Settings, load_settings

if TYPE_CHECKING:
    from api.conversation_store import Purged

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
    with this key, and the saved work of all its browser sessions (same database)."""
    from api.conversation_store import ConversationStore
    from api.feedback_store import FeedbackStore
    from api.owner import key_owner_prefix
    from api.review_store import ReviewStore

    done = log.erase(key_id)
    done.feedback = FeedbackStore(log.engine).erase_key(key_id)
    done.reviews = ReviewStore(log.engine).erase_key(key_id)
    saved = ConversationStore(log.engine).delete_owners(key_owner_prefix(key_id))
    done.conversations, done.drafts = saved.conversations, saved.drafts
    return done  # each store scrubbed what it changed (api/db.py `scrub`)


def saved_work_age(settings: Settings, audit_age: timedelta) -> timedelta:
    """How old unchanged saved work may get: EMN_CONVERSATION_RETENTION_DAYS when set, else
    the audit log's retention of this purge (the service's rule, Settings.
    resolved_conversation_retention_days)."""
    days = settings.conversation_retention_days
    return timedelta(days=days) if days else audit_age


def purge_saved_work(log: AuditLog, older_than: timedelta) -> Purged:
    """Saved conversations and drafts not updated for `older_than`: deleted."""
    from api.conversation_store import ConversationStore

    return ConversationStore(log.engine).purge(older_than)


def report_verify(log: AuditLog, *, allow_missing_checkpoint: bool) -> int:
    """Print what `verify` found; 1 when anything is wrong."""
    result = log.verify(require_checkpoint=not allow_missing_checkpoint)
    for warning in result.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    for problem in result.problems:
        print(f"BROKEN: {problem}", file=sys.stderr)
    if not result.ok:
        where = f" at record {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        print(f"audit chain broken{where}", file=sys.stderr)
        return 1
    head = log.head()
    print(f"audit chain OK: {result.records} records, head {head['seq']} {head['hash']}")
    if result.latest_checkpoint is not None:
        latest = result.latest_checkpoint
        print(
            f"checked against {result.checkpoints} checkpoints (latest: record {latest.seq} "
            f"at {latest.at}); newer records rest on the chain alone"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.audit", description="Check and maintain the audit log."
    )
    parser.add_argument("--db", help="SQLAlchemy URL (default: EMN_DATABASE_URL)")
    parser.add_argument(
        "--checkpoints",
        type=Path,
        help="checkpoint file (default: EMN_AUDIT_CHECKPOINT_FILE, beside a SQLite database)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="check the hash chain; exit 1 when it is broken")
    verify.add_argument(
        "--allow-missing-checkpoint",
        action="store_true",
        help="a log without any checkpoint is a warning, not a failure (a copy of the "
        "database without its checkpoint file); truncation then goes undetected",
    )
    sub.add_parser("checkpoint", help="write a signed checkpoint of the head now")
    purge = sub.add_parser(
        "purge",
        help="delete records older than the retention period, and saved conversations and "
        "drafts not updated within theirs",
    )
    purge.add_argument(
        "--older-than",
        type=parse_duration,
        help="e.g. 183d (default: EMN_AUDIT_RETENTION_DAYS days)",
    )
    purge.add_argument(
        "--saved-older-than",
        type=parse_duration,
        help="saved conversations and drafts, e.g. 90d (default: "
        "EMN_CONVERSATION_RETENTION_DAYS days when set, else the audit records' age)",
    )
    exp = sub.add_parser("export", help="records of a date range as JSON Lines")
    exp.add_argument("--since", type=parse_day, help="first day, YYYY-MM-DD (UTC, inclusive)")
    exp.add_argument("--until", type=parse_day, help="last day, YYYY-MM-DD (UTC, inclusive)")
    exp.add_argument("--out", type=Path, help="file to write (default: standard output)")
    erase = sub.add_parser("erase", help="blank the personal data recorded under an API key")
    erase.add_argument("--key-id", required=True, help="the key id (python -m api.keys list)")
    sub.add_parser("head", help="print the head (sequence number and hash)")
    args = parser.parse_args(argv)

    overrides: dict[str, object] = {"database_url": args.db} if args.db else {}
    if args.checkpoints:
        overrides["audit_checkpoint_file"] = args.checkpoints
    settings = load_settings(**overrides)
    log = AuditLog.from_settings(settings)
    try:
        return run_command(parser, args, settings, log)
    finally:
        log.engine.dispose()  # no connection outlives the command (PostgreSQL counts them)


def run_command(
    parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings, log: AuditLog
) -> int:
    if args.command == "verify":
        return report_verify(log, allow_missing_checkpoint=args.allow_missing_checkpoint)
    if args.command == "checkpoint":
        point = log.write_checkpoint()
        assert point is not None and log.checkpoints is not None
        print(f"checkpoint written to {log.checkpoints.path}: record {point.seq} {point.hash}, "
              f"{point.count} records, anchor {point.anchor_seq}")  # fmt: skip
        return 0
    if args.command == "purge":
        older = args.older_than  # 0s is a valid age (purge everything), not "not given"
        if older is None:
            older = timedelta(days=settings.audit_retention_days)
        done = log.purge(older)
        print(f"purged {done.purged} records created before {done.cutoff}")
        saved_age = args.saved_older_than
        if saved_age is None:
            saved_age = saved_work_age(settings, older)
        saved = purge_saved_work(log, saved_age)
        print(f"purged {saved.conversations} saved conversations and {saved.drafts} drafts "
              f"not updated since {saved.cutoff}")  # fmt: skip
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
            f"feedback comments, {result.reviews} review notes, {result.conversations} saved "
            f"conversations, {result.drafts} saved drafts"
            + (f" (erasure record {result.erasure_seq})" if result.erasure_seq else "")
        )
        return 0
    head = log.head()
    print(f"{head['seq']} {head['hash']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
