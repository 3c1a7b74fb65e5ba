"""Fast in-process checks of the service's parts: settings (workers and torch threads
included), keys, the rate limiter and the generation switch (each shared by the workers of a
host through the data folder), workers starting together on a new data folder, error
envelope for unexpected exceptions, body limit. The versions of these shared by several
hosts through the service database are tested in test_shared_state.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
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
from pydantic import ValidationError

from api.audit_chain import AuditLog
from api.db import make_engine
from api.feedback_store import FeedbackStore
from api.keys import KeyStore, create_key, revoke_key
from api.kill_switch import SWITCH_FILE, SharedSwitch, server_run_id
from api.main import create_app
from api.metrics import Metrics
from api.ratelimit import PURGE_EVERY, RateLimiter, retry_after_header
from api.state import Service
from common.settings import MAX_AUTO_WORKERS, Settings
from index.schema import Chunk, DocumentMeta
from rag.answer import Answer, Versions
from rag.citation import citation, public_base
from rag.pipeline import StreamEvent


def test_service_settings_derive_from_the_index_location(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, index_dir=tmp_path / "index")  # type: ignore[call-arg]
    assert settings.data_dir == tmp_path / "data"
    assert settings.api_keys_file == tmp_path / "data" / "api-keys.json"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'audit.sqlite'}"
    assert settings.auth_mode == "open" and settings.cors_origins == []
    assert settings.audit_retention_days == 183


def test_the_old_audit_db_url_is_an_alias_used_only_without_database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old, new = f"sqlite:///{tmp_path / 'old.sqlite'}", f"sqlite:///{tmp_path / 'new.sqlite'}"
    monkeypatch.setenv("EMN_AUDIT_DB_URL", old)
    assert Settings(_env_file=None, index_dir=tmp_path).database_url == old  # type: ignore[call-arg]
    monkeypatch.setenv("EMN_DATABASE_URL", new)
    assert Settings(_env_file=None, index_dir=tmp_path).database_url == new  # type: ignore[call-arg]


def test_cors_origins_accept_a_comma_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMN_CORS_ORIGINS", "https://a.eu, https://b.eu")
    assert Settings(_env_file=None).cors_origins == ["https://a.eu", "https://b.eu"]  # type: ignore[call-arg]
    monkeypatch.setenv("EMN_CORS_ORIGINS", '["https://c.eu"]')
    assert Settings(_env_file=None).cors_origins == ["https://c.eu"]  # type: ignore[call-arg]


def test_key_store_finds_active_keys_and_sees_revocations(tmp_path: Path) -> None:
    """Keys written to a keys file (the import format) reach the store's database."""
    path = tmp_path / "keys.json"
    store = KeyStore(make_engine(f"sqlite:///{tmp_path / 'service.sqlite'}"), path, refresh_s=0)
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


def test_api_workers_and_torch_threads_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = len(os.sched_getaffinity(0))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_workers == "auto" and settings.torch_threads == "auto"
    assert settings.query_cache_size == 1024
    workers = min(cores, MAX_AUTO_WORKERS)
    assert settings.resolved_api_workers == workers
    assert settings.resolved_torch_threads == max(1, cores // workers)
    assert settings.torch_threads_for(1) == cores  # a server that is one process: every core
    monkeypatch.setenv("EMN_API_WORKERS", "3")
    monkeypatch.setenv("EMN_TORCH_THREADS", "2")
    explicit = Settings(_env_file=None)  # type: ignore[call-arg]
    assert explicit.resolved_api_workers == 3 and explicit.resolved_torch_threads == 2
    assert explicit.torch_threads_for(1) == 2
    monkeypatch.setenv("EMN_API_WORKERS", "auto")
    assert Settings(_env_file=None).resolved_api_workers == workers  # type: ignore[call-arg]
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv("EMN_API_WORKERS", bad)
        with pytest.raises(ValidationError):
            Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(params=["memory", "file"])
def limiter_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path / "data" / "ratelimit.sqlite" if request.param == "file" else None


def test_rate_limiter_allows_a_burst_then_refills(limiter_path: Path | None) -> None:
    limiter = RateLimiter(per_minute=60, burst=3, path=limiter_path)
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
    limiter.close()


def test_workers_share_one_rate_limit_through_the_data_folder(tmp_path: Path) -> None:
    path = tmp_path / "data" / "ratelimit.sqlite"
    one, two = RateLimiter(60, 4, path), RateLimiter(60, 4, path)  # as two workers hold them
    assert [w.check("ip:1") for w in (one, two, one, two)] == [None] * 4
    first, second = one.check("ip:1"), two.check("ip:1")
    assert first is not None and second is not None and 0 < second <= first <= 1.0
    assert retry_after_header(first) == "1"
    assert two.check("ip:2") is None  # another client has its own bucket
    assert one.clients() == two.clients() == 2


CHECKER = """
import sys, time
from pathlib import Path
from api.ratelimit import RateLimiter
limiter = RateLimiter(per_minute=0.001, burst=20, path=Path(sys.argv[1]))
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
print(sum(limiter.check("key:shared") is None for _ in range(15)))
"""


def test_processes_checking_at_once_allow_the_burst_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "ratelimit.sqlite"
    start = str(time.time() + 2.0)
    command = [sys.executable, "-c", CHECKER, str(path), start]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=child_env({}))
        for _ in range(3)
    ]
    allowed = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert sum(allowed) == 20, allowed  # 45 checks, one shared burst of 20, no refill


def test_buckets_that_refilled_are_forgotten(tmp_path: Path) -> None:
    limiter = RateLimiter(per_minute=6_000_000, burst=1, path=tmp_path / "rl.sqlite")
    for i in range(PURGE_EVERY - 1):
        assert limiter.check(f"ip:{i}") is None
    assert limiter.clients() == PURGE_EVERY - 1
    time.sleep(0.01)  # every bucket is full again after 10 microseconds
    limiter.check("ip:last")  # the PURGE_EVERY-th check deletes the full ones
    assert limiter.clients() <= 1


def test_generation_switch_is_shared_and_set_again_when_the_server_starts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / SWITCH_FILE
    first = SharedSwitch(path, startup=True, run_id="run-1")
    second = SharedSwitch(path, startup=True, run_id="run-1")  # another worker of the run
    assert first.start() is True and second.start() is True
    assert first.set(False) is False
    assert second.current() is False  # picked up before its next request
    late = SharedSwitch(path, startup=True, run_id="run-1")  # a worker restarted in the run
    assert late.start() is False, "a restarted worker keeps the admin's choice"
    assert second.set(True) is True
    assert first.current() is True and late.current() is True
    assert json.loads(path.read_text())["by"] == "admin"
    first.set(False)
    restarted = SharedSwitch(path, startup=True, run_id="run-2")  # the next server run
    assert restarted.start() is True and first.current() is True  # EMN_GENERATION again
    off = SharedSwitch(path, startup=False, run_id="run-3")
    assert off.start() is False
    path.write_text("{not json", encoding="utf-8")
    assert off.current() is False  # a damaged file keeps the last value seen
    path.unlink()
    assert off.current() is False


def test_the_workers_of_one_server_share_its_run_id() -> None:
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        children = [pool.apply(server_run_id) for _ in range(2)]
    assert children == [server_run_id()] * 2  # each child names this process's run
    assert server_run_id().startswith(f"{os.getpid()}:")


STARTER = """
import sys, time
from pathlib import Path
from api.audit_chain import AuditLog
from api.db import make_engine
from api.feedback_store import FeedbackStore
from api.ratelimit import RateLimiter
from api.review_store import ReviewStore
from api.kill_switch import SharedSwitch
from rag.provenance import load_or_create_key
data, start = Path(sys.argv[1]), float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
audit = AuditLog(make_engine(f"sqlite:///{data / 'audit.sqlite'}"))
FeedbackStore(audit.engine)
ReviewStore(audit.engine)
assert RateLimiter(60, 5, data / "ratelimit.sqlite").check("ip:1") is None
SharedSwitch(data / "generation.json", True, run_id="run").start()
print(load_or_create_key(data / "provenance.key").decode())
"""


def test_workers_starting_together_share_a_new_data_folder(tmp_path: Path) -> None:
    """What each worker does at startup, in four processes at the same moment on an empty
    data folder: the databases, the switch and one provenance key that all of them use."""
    data = tmp_path / "data"
    start = str(time.time() + 3.0)
    command = [sys.executable, "-c", STARTER, str(data), start]
    procs = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env({})
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in results]
    keys = {out.strip() for out, _ in results}
    assert keys == {(data / "provenance.key").read_text().strip()}
    assert AuditLog(make_engine(f"sqlite:///{data / 'audit.sqlite'}")).verify().ok
    assert RateLimiter(60, 5, data / "ratelimit.sqlite").clients() == 1


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
        keys=KeyStore(audit.engine, tmp_path / "keys.json"),
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
    assert audit.verify(require_checkpoint=False).ok  # the app ran without its lifespan


def test_citation_urls_are_absolute_under_a_public_url(tmp_path: Path) -> None:
    doc = DocumentMeta(doc_id="d", title="T", status="superseded", superseded_by="d2")
    chunk = Chunk(id="c1", doc=doc, ordinal=0, text="q")
    public = Settings(_env_file=None, index_dir=tmp_path / "index",  # type: ignore[call-arg]
                      api_public_url="https://emn.example.eu/")  # fmt: skip
    absolute = citation(1, chunk, public_base(public))
    assert absolute.url == "https://emn.example.eu/v1/documents/d/chunks#c1"
    assert citation(1, chunk, "").url == "/v1/documents/d/chunks#c1"
    assert absolute.quote == "q" and absolute.status == "superseded by d2"


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
