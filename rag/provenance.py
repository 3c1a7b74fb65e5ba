"""Machine-readable marking of generated text (AI Act Art. 50(2)).

Every answer (and every exported draft) carries a provenance record — generator, composer and
model, index manifest hash, time, hashes of the answer text and of the citations — signed
with HMAC-SHA256 under a server key. Anyone holding the answer JSON can ask the service
whether it is unaltered; editing the text or a citation breaks the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

GENERATOR = "EMN policy assistant"
ALGORITHM = "HMAC-SHA256"


class Provenance(BaseModel):
    generator: str = GENERATOR
    generator_version: str
    ai_generated: bool = True
    composer: str
    model: str
    index_manifest: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    trace_id: str
    behaviour: str
    answer_sha256: str = Field(description="SHA-256 of the answer text as returned.")
    citations_sha256: str = Field(description="SHA-256 of the canonical citations JSON.")
    verbatim: bool = Field(
        description="True when every answer sentence is a verbatim quote of a cited passage "
        "(extractive composer): the text is quoted, not generated."
    )
    algorithm: str = ALGORITHM
    key_id: str
    signature: str = ""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def citations_digest(citations: list[dict[str, Any]]) -> str:
    return sha256(_canonical(citations))


def key_id(key: bytes) -> str:
    """Names the key without revealing it (so verifiers know which key signed)."""
    return sha256(b"emn-provenance-key-id" + key)[:12]


def _signed_payload(record: Provenance) -> bytes:
    return _canonical(record.model_dump(exclude={"signature"}))


def sign(record: Provenance, key: bytes) -> Provenance:
    record.signature = hmac.new(key, _signed_payload(record), hashlib.sha256).hexdigest()
    return record


def sign_output(key: bytes, text: str, citations: list[dict[str, Any]], verbatim: bool,
                **record: str) -> Provenance:  # fmt: skip
    """The signed record over an answer's (or a draft's) text and citations as returned;
    `record`: generator_version, composer, model, index_manifest, trace_id, behaviour."""
    signed = Provenance(
        **record,
        answer_sha256=sha256(text),
        citations_sha256=citations_digest(citations),
        verbatim=verbatim,
        key_id=key_id(key),
    )
    return sign(signed, key)


def verify_answer(answer: dict[str, Any], key: bytes) -> tuple[bool, str]:
    """Is `answer` (a JSON object as the service returned it) unaltered? (valid, reason)."""
    raw = answer.get("provenance")
    if not isinstance(raw, dict):
        return False, "the answer has no provenance record"
    try:
        record = Provenance.model_validate(raw)
    except Exception as exc:
        return False, f"malformed provenance record: {exc}"
    if record.key_id != key_id(key):
        return False, "signed with a different key"
    expected = hmac.new(key, _signed_payload(record), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, record.signature):
        return False, "the provenance record was altered (signature mismatch)"
    if sha256(str(answer.get("answer", ""))) != record.answer_sha256:
        return False, "the answer text was altered"
    if citations_digest(list(answer.get("citations") or [])) != record.citations_sha256:
        return False, "the citations were altered"
    if answer.get("trace_id") != record.trace_id or answer.get("behaviour") != record.behaviour:
        return False, "the trace id or behaviour was altered"
    return True, "unaltered: signed by this service"


def load_or_create_key(path: Path, configured: str = "") -> bytes:
    """The configured key, or one generated once and kept (0600) beside the index.

    Several API workers may start at once with no key yet: the key is written to a temporary
    file and linked into place, which fails if another process got there first; every
    process then uses the key that is on disk, never a key of its own."""
    if configured:
        return configured.encode()
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd, tmp = tempfile.mkstemp(prefix=".provenance-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # atomic, complete, and only if no key is there yet
        except FileExistsError:
            return path.read_bytes().strip()
        except OSError:  # a file system without hard links: create the file exclusively
            try:
                created = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return path.read_bytes().strip()
            with os.fdopen(created, "wb") as out:
                out.write(key)
    finally:
        os.unlink(tmp)
    return key
