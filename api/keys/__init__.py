"""API keys for machine clients: hashed keys with scopes, in the service database.

A key is `emn_<id>_<secret>` with 256 random bits; only its SHA-256 is stored. A slow hash
(scrypt) protects guessable passwords, which these keys are not, and would cost every request
tens of milliseconds. The id prefix names the key in logs and the audit log without revealing
it.

The service database (SQLite, or PostgreSQL shared by several hosts) is the source of truth,
so a key created or revoked through any host holds on every host: each worker re-reads the
keys at most every EMN_SHARED_STATE_REFRESH_S. A JSON keys file (EMN_API_KEYS_FILE, the
format of earlier versions and of `create_key`/`revoke_key` below, handy to provision a
host before it starts) is imported when the service starts, whenever the file changes, and
by the command line: keys with new ids are added and keys the file marks revoked are
revoked; a key revoked in the database stays revoked whatever the file says.

    python -m api.keys create --name NAME --scopes ask,search   prints the key once
    python -m api.keys list
    python -m api.keys revoke --id KEY_ID
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Engine,
    RowMapping,
    String,
    Table,
    false,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from api.db import create_schema, make_engine, metadata, shown_url, upsert_insert
from api.shared_sql import QuietWarning
from common.settings import Settings, load_settings

log = logging.getLogger("api")

Scope = Literal["ask", "search", "feedback", "admin"]
SCOPES: tuple[str, ...] = ("ask", "search", "feedback", "admin")
KEY_PREFIX = "emn_"

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("scopes", String(100), nullable=False),  # comma-separated, e.g. 'ask,search'
    Column("created_at", String(32), nullable=False),  # UTC, ISO 8601
    Column("rate_per_minute", Double, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False, server_default=false()),
    Column("revoked_at", String(32), nullable=True),
)


class ApiKey(BaseModel):
    id: str
    name: str
    hash: str = Field(description="sha256 hex digest of the whole key.")
    scopes: list[Scope]
    created_at: str
    rate_per_minute: float | None = Field(
        default=None, description="Overrides EMN_RATE_LIMIT_PER_MINUTE for this key."
    )
    revoked: bool = False

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class KeysFile(BaseModel):
    keys: list[ApiKey] = Field(default_factory=list)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_key(
    name: str, scopes: list[str], rate_per_minute: float | None = None
) -> tuple[str, ApiKey]:
    """A fresh key and its record (stored nowhere yet). ValueError for unknown scopes."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {scopes}")
    key_id = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(
        id=key_id,
        name=name,
        hash=hash_key(key),
        scopes=list(dict.fromkeys(scopes)),  # type: ignore[arg-type]
        created_at=_now(),
        rate_per_minute=rate_per_minute,
    )
    return key, record


# --- the keys file (import format) ----------------------------------------------------------


def load_keys(path: Path) -> KeysFile:
    if not path.exists():
        return KeysFile()
    return KeysFile.model_validate_json(path.read_text(encoding="utf-8"))


def save_keys(path: Path, data: KeysFile) -> None:
    """Atomic replace, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data.model_dump_json(indent=2))
    os.replace(tmp, path)


def create_key(
    path: Path, name: str, scopes: list[str], rate_per_minute: float | None = None
) -> tuple[str, ApiKey]:
    """Add a key to a keys file (imported by the service); returns (the key, shown only
    now, and its record)."""
    key, record = new_key(name, scopes, rate_per_minute)
    data = load_keys(path)
    data.keys.append(record)
    save_keys(path, data)
    return key, record


def revoke_key(path: Path, key_id: str) -> bool:
    """Mark a key revoked in a keys file (the service revokes it at the next import)."""
    data = load_keys(path)
    found = False
    for record in data.keys:
        if record.id == key_id:
            record.revoked = found = True
    if found:
        save_keys(path, data)
    return found


# --- the service database (source of truth) -------------------------------------------------


@dataclass(frozen=True)
class Imported:
    added: int
    revoked: int


def _record(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        hash=row["hash"],
        scopes=[s for s in row["scopes"].split(",") if s],
        created_at=row["created_at"],
        rate_per_minute=row["rate_per_minute"],
        revoked=bool(row["revoked"]),
    )


class KeyTable:
    """The keys in the service database: create, revoke, list, import a keys file."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(engine)

    def _insert_new(self, records: list[ApiKey]) -> int:
        """Insert the records whose id (and hash) the table does not hold yet."""
        if not records:
            return 0
        insert = upsert_insert(self.engine, api_keys)
        added = 0
        with self.engine.begin() as conn:
            for r in records:
                values = {"id": r.id, "name": r.name, "hash": r.hash,
                          "scopes": ",".join(r.scopes), "created_at": r.created_at,
                          "rate_per_minute": r.rate_per_minute, "revoked": r.revoked,
                          "revoked_at": _now() if r.revoked else None}  # fmt: skip
                added += conn.execute(insert.values(**values).on_conflict_do_nothing()).rowcount
        return added

    def create(
        self, name: str, scopes: list[str], rate_per_minute: float | None = None
    ) -> tuple[str, ApiKey]:
        """A new key in the database; returns (the key, shown only now, and its record)."""
        key, record = new_key(name, scopes, rate_per_minute)
        self._insert_new([record])
        return key, record

    def revoke(self, key_id: str) -> bool:
        """Revoke a key for good; False when there is no key with that id."""
        with self.engine.begin() as conn:
            exists = conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id)).first()
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked.is_(False))
                .values(revoked=True, revoked_at=_now())
            )
        return exists is not None

    def records(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
            return [_record(row) for row in rows.mappings()]

    def active(self) -> dict[str, ApiKey]:
        """The keys in force, by hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys).where(api_keys.c.revoked.is_(False)))
            return {row["hash"]: _record(row) for row in rows.mappings()}

    def import_file(self, path: Path) -> Imported:
        """Add the file's keys with new ids; revoke the keys it marks revoked. Never
        re-activates a key the database holds revoked."""
        data = load_keys(path)
        added = self._insert_new(data.keys)
        gone = [r.id for r in data.keys if r.revoked]
        revoked = 0
        if gone:
            with self.engine.begin() as conn:
                revoked = conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id.in_(gone), api_keys.c.revoked.is_(False))
                    .values(revoked=True, revoked_at=_now())
                ).rowcount
        return Imported(added, revoked)


def _file_stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


class KeyStore:
    """The keys in force, as one worker sees them: read from the database at most every
    `refresh_s` (the keys file imported first when it changed), kept between reads. An
    unreachable database keeps the keys last read."""

    def __init__(
        self, engine: Engine, keys_file: Path | None = None, refresh_s: float = 0.5
    ) -> None:
        self.table = KeyTable(engine)
        self.keys_file = keys_file
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, ApiKey] = {}
        self._warn = QuietWarning(log)

    def refresh(self, force: bool = False) -> None:
        """Import the keys file if it changed, then read the keys in force, unless that was
        done less than `refresh_s` ago (one worker thread does it; the others go on with
        the keys they have)."""
        if not force and time.monotonic() - self._read_at < self.refresh_s:
            return
        if not self._lock.acquire(blocking=force or self._read_at == float("-inf")):
            return
        try:
            stamp = _file_stamp(self.keys_file)
            if stamp is not None and stamp != self._stamp and self.keys_file is not None:
                done = self.table.import_file(self.keys_file)
                if done.added or done.revoked:
                    log.info("keys file %s: %d key(s) imported, %d revoked",
                             self.keys_file, done.added, done.revoked)  # fmt: skip
            self._by_hash = self.table.active()
            self._stamp = stamp
            self._read_at = time.monotonic()
        except (SQLAlchemyError, OSError, ValueError) as exc:
            self._warn("API keys could not be re-read (%s: %s); keeping the last keys read",
                       exc.__class__.__name__, exc)  # fmt: skip
        finally:
            self._lock.release()

    def lookup(self, key: str) -> ApiKey | None:
        """The active key record for a presented key, or None."""
        if not key.startswith(KEY_PREFIX):
            return None
        self.refresh()
        digest = hash_key(key)
        found = self._by_hash.get(digest)
        if found is None or not hmac.compare_digest(found.hash, digest):
            return None
        return found


def service_database_url(settings: Settings) -> str:
    """The service database's URL (audit log, keys, shared state)."""
    return settings.database_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.keys",
        description="Manage API keys in the service database (EMN_DATABASE_URL). The keys file "
        "(EMN_API_KEYS_FILE or --file), if present, is imported first.",
    )
    parser.add_argument(
        "--file", type=Path, help="keys file to import (default: EMN_API_KEYS_FILE)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--scopes", required=True, help=f"comma-separated: {','.join(SCOPES)}")
    create.add_argument("--rate-per-minute", type=float, help="this key's own rate limit")
    sub.add_parser("list", help="list keys (never the keys themselves)")
    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("--id", required=True)
    args = parser.parse_args(argv)

    scopes: list[str] = []
    if args.command == "create":
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown or not scopes:
            print(f"error: scopes must be some of {', '.join(SCOPES)}; got {scopes}",
                  file=sys.stderr)  # fmt: skip
            return 2
    settings = load_settings(**({"api_keys_file": args.file} if args.file else {}))
    url = service_database_url(settings)
    try:
        table = KeyTable(make_engine(url))
        if settings.api_keys_file is not None and settings.api_keys_file.exists():
            done = table.import_file(settings.api_keys_file)
            if done.added or done.revoked:
                print(f"imported {settings.api_keys_file}: {done.added} key(s) added, "
                      f"{done.revoked} revoked", file=sys.stderr)  # fmt: skip
        if args.command == "create":
            key, record = table.create(args.name, scopes, args.rate_per_minute)
            print(key)
            print(
                f"created key id {record.id} ({record.name}; scopes {','.join(record.scopes)}) "
                f"in {shown_url(url)}. Store the key now: it is not shown again.",
                file=sys.stderr,
            )
            return 0
        if args.command == "list":
            for record in table.records():
                state = "revoked" if record.revoked else "active"
                print(f"{record.id}\t{record.name}\t{','.join(record.scopes)}\t{state}\t"
                      f"{record.created_at}")  # fmt: skip
            return 0
        if not table.revoke(args.id):
            print(f"error: no key with id {args.id} in {shown_url(url)}", file=sys.stderr)
            return 1
    except SQLAlchemyError as exc:
        print(f"error: the service database {shown_url(url)} could not be used: "
              f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)  # fmt: skip
        return 3
    except ValueError as exc:  # a keys file that is not valid JSON of keys
        print(f"error: the keys file {settings.api_keys_file} could not be read: {exc}",
              file=sys.stderr)  # fmt: skip
        return 2
    print(f"revoked key {args.id}")
    return 0
