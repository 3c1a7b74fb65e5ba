"""Fast in-process checks of the service's parts: settings, keys, rate limiter, error
envelope for unexpected exceptions, body limit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import assert_error
from conftest import child_env
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.answering import with_citation_urls
from api.audit import AuditLog
from api.feedback_store import FeedbackStore
from api.keys import KeyStore, create_key, revoke_key
from api.main import create_app
from api.metrics import Metrics
from api.ratelimit import RateLimiter
from api.state import Service
from common.settings import Settings
from rag.answer import Answer, Citation, Versions
from rag.pipeline import StreamEvent


def test_service_settings_derive_from_the_index_location(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, index_dir=tmp_path / "index")  # type: ignore[call-arg]
    assert settings.data_dir == tmp_path / "data"
    assert settings.api_keys_file == tmp_path / "data" / "api-keys.json"
    assert settings.audit_db_url == f"sqlite:///{tmp_path / 'data' / 'audit.sqlite'}"
    assert settings.auth_mode == "open" and settings.cors_origins == []
    assert settings.audit_retention_days == 183


def test_cors_origins_accept_a_comma_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMN_CORS_ORIGINS", "https://a.eu, https://b.eu")
    assert Settings(_env_file=None).cors_origins == ["https://a.eu", "https://b.eu"]  # type: ignore[call-arg]
    monkeypatch.setenv("EMN_CORS_ORIGINS", '["https://c.eu"]')
    assert Settings(_env_file=None).cors_origins == ["https://c.eu"]  # type: ignore[call-arg]


def test_key_store_finds_active_keys_and_sees_revocations(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    store = KeyStore(path)
    assert store.lookup("emn_anything") is None
    key, record = create_key(path, "client", ["search"])
    found = store.lookup(key)
    assert found is not None and found.id == record.id and found.allows("search")
    assert not found.allows("ask")
    assert store.lookup(key + "x") is None and store.lookup("not-emn") is None
    time.sleep(0.01)
    assert revoke_key(path, record.id)
    assert store.lookup(key) is None
    admin_key, _ = create_key(path, "ops", ["admin"])
    admin = store.lookup(admin_key)
    assert admin is not None and all(admin.allows(s) for s in ("ask", "search", "feedback"))
    with pytest.raises(ValueError):
        create_key(path, "bad", ["everything"])


def test_keys_cli_rejects_unknown_scopes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.keys", "--file", str(tmp_path / "k.json"), "create",
         "--name", "x", "--scopes", "ask,root"],
        capture_output=True, text=True, env=child_env({}), timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "scopes must be" in result.stderr
    assert not (tmp_path / "k.json").exists()


def test_rate_limiter_allows_a_burst_then_refills() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    wait = limiter.check("a")
    assert wait is not None and 0 < wait <= 1.0
    assert limiter.check("b") is None  # buckets are per client
    fast = RateLimiter(per_minute=60_000, burst=1)
    assert fast.check("c") is None
    time.sleep(0.01)
    assert fast.check("c") is None  # refilled at 1000/s
    assert limiter.check("slow", per_minute=1) is None
    assert limiter.check("slow", per_minute=1) is not None  # a key's own limit and burst


def make_client(tmp_path: Path, **overrides: object) -> TestClient:
    """The app without its lifespan (no index): enough for routing and error handling."""
    settings = Settings(_env_file=None, index_dir=tmp_path / "index", **overrides)  # type: ignore[call-arg]
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    return TestClient(app, raise_server_exceptions=False)


def test_unexpected_exceptions_are_500_json_without_details(tmp_path: Path) -> None:
    response = make_client(tmp_path).get("/boom")
    error = assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text and "RuntimeError" not in response.text
    assert len(error["trace_id"]) == 32


def test_body_limit_is_configurable(tmp_path: Path) -> None:
    client = make_client(tmp_path, max_body_bytes=2048)
    response = client.post("/v1/ask", json={"question": "x" * 3000})
    assert_error(response, 413, "payload_too_large")


class SlowStreamAssistant:
    """Stands in for rag's Assistant: three deltas, then the answer."""

    generation = True

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def stream(self, *args: object) -> Iterator[StreamEvent]:
        for word in ("The ", "budget ", "is EUR 28 200 000 [1]."):
            time.sleep(0.05)
            yield StreamEvent(kind="delta", text=word)
        yield StreamEvent(kind="answer", answer=self.answer)


def fake_answer() -> Answer:
    versions = Versions(app="t", composer="extractive", model="none", embedding_model="m",
                        index_manifest="h", corpus_hash="c", chunker="3")  # fmt: skip
    return Answer(answer="The budget is EUR 28 200 000 [1].", behaviour="answered",
                  confidence=0.9, versions=versions, timings={"total": 1.0})  # fmt: skip


def fake_service_app(tmp_path: Path, answer: Answer, **overrides: object) -> FastAPI:
    """The app with its service built around a fake assistant (no index, no model)."""
    settings = Settings(_env_file=None, index_dir=tmp_path / "index", **overrides)  # type: ignore[call-arg]
    app = create_app(settings)
    audit = AuditLog.from_settings(settings)
    app.state.service = Service(
        settings=settings,
        assistant=SlowStreamAssistant(answer),  # type: ignore[arg-type]
        audit=audit,
        feedback=FeedbackStore(audit.engine),
        keys=KeyStore(tmp_path / "keys.json"),
        limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
        metrics=Metrics(),
    )
    return app


def test_open_mode_limits_each_client_ip(tmp_path: Path) -> None:
    app = fake_service_app(tmp_path, fake_answer(), rate_limit_per_minute=6, rate_limit_burst=2)
    client = TestClient(app)
    assert [client.get("/v1/models").status_code for _ in range(2)] == [200, 200]
    limited = client.get("/v1/models")
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) in (9, 10)  # one request per 10 s
    assert client.get("/healthz").status_code == 200  # probes are not limited


def test_a_stream_the_client_leaves_is_still_recorded(tmp_path: Path) -> None:
    answer = fake_answer()
    app = fake_service_app(tmp_path, answer)
    audit: AuditLog = app.state.service.audit
    body = json.dumps({"question": "What is the budget?"}).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": "/v1/ask", "raw_path": b"/v1/ask",
        "query_string": b"stream=true", "root_path": "", "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        if not sent:
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and len(sent) > 2:
            raise OSError("client went away")  # after the first delta

    with contextlib.suppress(Exception):
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    shown = b"".join(m.get("body", b"") for m in sent[1:])
    assert b"event: delta" in shown and b"event: answer" not in shown
    records = [r for r in audit.records() if r["trace_id"] == answer.trace_id]
    assert len(records) == 1
    assert json.loads(records[0]["payload"])["interrupted"] is True
    assert audit.verify().ok


def test_citation_urls_become_absolute_under_a_public_url() -> None:
    answer = fake_answer()
    citation = Citation(marker=1, chunk_id="c1", doc_id="d", title="T", quote="q",
                        url="/v1/documents/d/chunks#c1")  # fmt: skip
    answer = answer.model_copy(update={"citations": [citation]})
    assert with_citation_urls(answer, "") is answer
    absolute = with_citation_urls(answer, "https://emn.example.eu")
    assert absolute.citations[0].url == "https://emn.example.eu/v1/documents/d/chunks#c1"
    assert answer.citations[0].url == "/v1/documents/d/chunks#c1"  # the original is unchanged


@pytest.mark.slow  # loads the embedding model in this process
def test_without_an_index_the_service_starts_and_answers_503_index_not_ready(
    tmp_path: Path,
) -> None:
    settings = Settings(_env_file=None, index_dir=tmp_path / "empty-index")  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "index_not_ready"
        assert ready.json()["checks"]["embedding_model"]["ok"] is True
        response = client.post("/v1/ask", json={"question": "What is the EMN budget?"})
        assert_error(response, 503, "index_not_ready")
        assert "python -m ingest" in response.json()["error"]["message"]
        assert_error(client.get("/v1/documents"), 503, "index_not_ready")
