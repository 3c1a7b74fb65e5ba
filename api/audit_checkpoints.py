"""Signed checkpoints of the audit chain, kept outside the database.

The chain alone cannot tell a log whose newest records were deleted (and whose head row was
rewound to match) from one that never had them, nor an anchor moved by hand from one moved by
a purge. A checkpoint (record count, head sequence number and hash, purge anchor, time) is
appended as one JSON line to a file beside the database, so someone who can rewrite the
database but not that file is caught by `verify` up to the last checkpoint.

Each line carries a signature: HMAC-SHA256 with EMN_AUDIT_HMAC_KEY when it is set (a line
cannot then be forged or altered without the key); without the key a plain SHA-256 digest,
which only catches a damaged or hand-edited line, not one recomputed by someone who can write
the file, so without the key the file must be protected by other means (append-only, another
owner, copied off the host). Several worker processes append to the same file: each line is
one O_APPEND write under an exclusive lock, then fsync'd.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

try:  # POSIX; elsewhere O_APPEND alone keeps the lines whole on a local disk
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

VERSION = 1
# Keeps a checkpoint signature from ever being valid as a record hash, and the reverse.
_DOMAIN = b"emn-audit-checkpoint\n"


@dataclass(frozen=True)
class Checkpoint:
    """The state of the chain at one moment."""

    seq: int  # the head: the newest record's sequence number
    hash: str  # ... and its hash
    count: int  # records in the table
    anchor_seq: int  # the purge anchor (last purged record; 0: nothing purged)
    anchor_hash: str
    at: str  # UTC time it was taken

    def fields(self) -> dict[str, Any]:
        return {"v": VERSION, **asdict(self)}


@dataclass
class ReadResult:
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # tampering: verify fails
    warnings: list[str] = field(default_factory=list)


class CheckpointFile:
    """Appends and reads the checkpoint lines of one audit log."""

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        self.path = path
        self._key = key

    @property
    def alg(self) -> str:
        return "hmac-sha256" if self._key else "sha256"

    def sign(self, fields: dict[str, Any]) -> str:
        data = _DOMAIN + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        if self._key:
            return hmac.new(self._key, data, hashlib.sha256).hexdigest()
        return hashlib.sha256(data).hexdigest()

    def append(self, checkpoint: Checkpoint) -> None:
        """One whole line, appended and on disk before this returns."""
        fields = checkpoint.fields()
        line = json.dumps({**fields, "alg": self.alg, "sig": self.sign(fields)}, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            # After a write cut short (a full disk), start on a line of its own.
            start = "\n" if size and os.pread(fd, 1, size - 1) != b"\n" else ""
            os.write(fd, (start + line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock

    def read(self) -> ReadResult:
        """Every valid line; a line that does not parse or whose signature does not match
        (altered, or written with another key) is a problem, never silently skipped. Only
        an unfinished last line (a write cut short) that is not a checkpoint is a warning."""
        out = ReadResult()
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return out
        lines = text.split("\n")
        unfinished = lines.pop()  # "" when the file ends with a newline
        for number, line in enumerate(lines, 1):
            if line.strip():
                self._read_line(line, f"line {number}", out.checkpoints, out.problems)
        if unfinished.strip():
            where = f"line {len(lines) + 1}"
            problems: list[str] = []
            self._read_line(unfinished, where, out.checkpoints, problems)
            if problems:
                out.warnings.append(f"checkpoint file {self.path}, {where}: unfinished, ignored")
        return out

    def _read_line(
        self, line: str, where: str, checkpoints: list[Checkpoint], problems: list[str]
    ) -> None:
        where = f"checkpoint file {self.path}, {where}"
        try:
            data = json.loads(line)
            fields = {name: data[name] for name in ("v", *Checkpoint.__dataclass_fields__)}
            checkpoint = Checkpoint(**{k: v for k, v in fields.items() if k != "v"})
            sig, alg = str(data["sig"]), str(data["alg"])
            numbers = (checkpoint.seq, checkpoint.count, checkpoint.anchor_seq)
            if not all(type(n) is int for n in numbers):
                raise TypeError("not whole numbers")
        except (ValueError, KeyError, TypeError):
            problems.append(f"{where}: not a checkpoint (damaged or edited)")
            return
        if alg != self.alg:
            problems.append(
                f"{where}: signed with {alg}, expected {self.alg} (the HMAC key differs "
                "from the one it was written with)"
            )
        elif not hmac.compare_digest(sig, self.sign(fields)):
            problems.append(f"{where}: checkpoint altered (signature mismatch)")
        else:
            checkpoints.append(checkpoint)
