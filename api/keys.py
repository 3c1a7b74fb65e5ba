"""API keys for machine clients: a JSON file of hashed keys with scopes.

A key is `emn_<id>_<secret>` with 256 random bits; only its SHA-256 is stored. A slow hash
(scrypt) protects guessable passwords, which these keys are not, and would cost every request
tens of milliseconds. The id prefix names the key in logs and the audit log without revealing
it. The file is re-read when it changes, so keys created or revoked take effect without a
restart.

    python -m api.keys create --name NAME --scopes ask,search   prints the key once
    python -m api.keys list
    python -m api.keys revoke --id KEY_ID
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from common.settings import load_settings

Scope = Literal["ask", "search", "feedback", "admin"]
SCOPES: tuple[str, ...] = ("ask", "search", "feedback", "admin")
KEY_PREFIX = "emn_"


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


class KeyStore:
    """Reads the keys file (again whenever its modification time changes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, ApiKey] = {}

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp == self._stamp:
            return
        with self._lock:
            data = load_keys(self.path)
            self._by_hash = {k.hash: k for k in data.keys if not k.revoked}
            self._stamp = stamp

    def lookup(self, key: str) -> ApiKey | None:
        """The active key record for a presented key, or None."""
        if not key.startswith(KEY_PREFIX):
            return None
        self._refresh()
        digest = hash_key(key)
        found = self._by_hash.get(digest)
        if found is None or not hmac.compare_digest(found.hash, digest):
            return None
        return found


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
    """Add a key to the file; returns (the key, shown only now, and its record)."""
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
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rate_per_minute=rate_per_minute,
    )
    data = load_keys(path)
    data.keys.append(record)
    save_keys(path, data)
    return key, record


def revoke_key(path: Path, key_id: str) -> bool:
    data = load_keys(path)
    found = False
    for record in data.keys:
        if record.id == key_id:
            record.revoked = found = True
    if found:
        save_keys(path, data)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.keys", description="Manage API keys.")
    parser.add_argument("--file", type=Path, help="keys file (default: EMN_API_KEYS_FILE)")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--scopes", required=True, help=f"comma-separated: {','.join(SCOPES)}")
    create.add_argument("--rate-per-minute", type=float, help="this key's own rate limit")
    sub.add_parser("list", help="list keys (never the keys themselves)")
    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("--id", required=True)
    args = parser.parse_args(argv)

    settings = load_settings(**({"api_keys_file": args.file} if args.file else {}))
    path = settings.api_keys_file
    assert path is not None
    if args.command == "create":
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        try:
            key, record = create_key(path, args.name, scopes, args.rate_per_minute)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(key)
        print(
            f"created key id {record.id} ({record.name}; scopes {','.join(record.scopes)}) "
            f"in {path}. Store the key now: it is not shown again.",
            file=sys.stderr,
        )
        return 0
    if args.command == "list":
        for record in load_keys(path).keys:
            state = "revoked" if record.revoked else "active"
            print(f"{record.id}\t{record.name}\t{','.join(record.scopes)}\t{state}\t"
                  f"{record.created_at}")  # fmt: skip
        return 0
    if not revoke_key(path, args.id):
        print(f"error: no key with id {args.id}", file=sys.stderr)
        return 1
    print(f"revoked key {args.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
