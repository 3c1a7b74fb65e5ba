"""Secrets stay secret: the output guard blocks an answer that contains a configured secret,
the provenance signing key is kept private, and settings never print secret values."""

from __future__ import annotations

import stat
from pathlib import Path

from common.settings import Settings
from rag import guards
from rag.provenance import key_id, load_or_create_key


def test_output_guard_blocks_an_answer_holding_the_model_api_key() -> None:
    secret = "sk-live-4f9a8b7c6d5e"
    verdicts = guards.check_answer(f"The key is {secret} [1].", [secret])
    assert any(v.guard == "secrets" and v.verdict == "block" for v in verdicts)
    assert all(v.verdict == "pass" for v in guards.check_answer("EUR 28 200 000 [1].", [secret]))


def test_provenance_key_is_private_and_named_without_being_revealed(tmp_path: Path) -> None:
    path = tmp_path / "data" / "provenance.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key  # kept, not regenerated
    assert key.decode() not in key_id(key) and len(key_id(key)) == 12


def test_settings_never_print_secret_values() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_api_key="sk-model-secret",
        provenance_key="signing-secret",
        audit_hmac_key="audit-secret",
    )
    shown = repr(settings) + str(settings.model_dump())
    for secret in ("sk-model-secret", "signing-secret", "audit-secret"):
        assert secret not in shown
