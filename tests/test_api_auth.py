"""Auth mode 'keys' on a real server: keys created with `python -m api.keys`, every route
checked without a key (401), with a key lacking the scope (403) and with the right one (2xx);
per-key rate limit (429 + Retry-After); revocation; CORS for a configured origin."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from api_helpers import BUDGET_QUESTION, assert_error
from conftest import ApiServer, child_env, copy_index, settings_env, start_api_server

from api.audit_chain import AuditLog
from api.db import make_engine
from common.settings import Settings

pytestmark = pytest.mark.slow

UI_ORIGIN = "https://ui.example.eu"


def keys_cli(keys_file: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m api.keys` on the service database of the server whose data folder holds
    `keys_file` (its default database, data_dir/audit.sqlite), importing that file."""
    return subprocess.run(
        [sys.executable, "-m", "api.keys", "--file", str(keys_file), *args],
        capture_output=True, text=True, timeout=60, check=True,
        env=child_env({"EMN_DATA_DIR": str(keys_file.parent)}),
    )  # fmt: skip


def create_key(keys_file: Path, name: str, scopes: str, *extra: str) -> str:
    result = keys_cli(keys_file, "create", "--name", name, "--scopes", scopes, *extra)
    key = result.stdout.strip()
    assert key.startswith("emn_") and "not shown again" in result.stderr
    return key


@dataclass
class KeysServer:
    server: ApiServer
    keys_file: Path
    keys: dict[str, str]


@pytest.fixture(scope="module")
def keys_server(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KeysServer]:
    workdir = tmp_path_factory.mktemp("api-keys")
    settings = copy_index(default_index_settings, workdir / "index")
    keys_file = workdir / "data" / "api-keys.json"
    keys = {
        scope: create_key(keys_file, f"{scope}-client", scope)
        for scope in ("ask", "search", "feedback", "admin")
    }
    keys["slow"] = create_key(keys_file, "slow-client", "ask,search", "--rate-per-minute", "3")
    keys["revoked"] = create_key(keys_file, "to-revoke", "search")
    server = start_api_server(
        workdir,
        {
            **settings_env(settings),
            "EMN_AUTH_MODE": "keys",
            "EMN_API_KEYS_FILE": str(keys_file),
            "EMN_CORS_ORIGINS": UI_ORIGIN,
            "EMN_RATE_LIMIT_PER_MINUTE": "6000",
            "EMN_RATE_LIMIT_BURST": "1000",
            # Every route is checked without a key and with a wrong one, all from loopback;
            # the failed-authentication throttle has its own tests (test_api_hardening.py).
            "EMN_AUTH_FAILURE_LIMIT": "100000",
        },
    )
    yield KeysServer(server, keys_file, keys)
    server.stop()


@pytest.fixture(scope="module")
def http(keys_server: KeysServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keys_server.server.base_url, timeout=60) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def ids(http: httpx.Client, keys_server: KeysServer) -> dict[str, str]:
    """A real trace id and chunk id for the routes that need one."""
    keys = keys_server.keys
    answer = http.post("/v1/ask", json={"question": BUDGET_QUESTION}, headers=bearer(keys["ask"]))
    assert answer.status_code == 200, answer.text
    citation = answer.json()["citations"][0]
    return {"trace_id": answer.json()["trace_id"], "chunk_id": citation["chunk_id"]}


# (method, path, json body, scope); {trace_id} and {chunk_id} are filled in.
ROUTES = [
    ("POST", "/v1/ask", {"question": BUDGET_QUESTION}, "ask"),
    ("POST", "/v1/chat/completions",
     {"model": "emn-extractive", "messages": [{"role": "user", "content": BUDGET_QUESTION}]},
     "ask"),
    ("GET", "/v1/models", None, "ask"),
    ("POST", "/v1/inform",
     {"topic": "EMN budget", "filters": {"doc_ids": ["emn-work-programme-2026-2027"]}}, "ask"),
    ("POST", "/v1/search", {"query": "readmission", "k": 3}, "search"),
    ("GET", "/v1/documents", None, "search"),
    ("GET", "/v1/documents/emn-work-programme-2026-2027", None, "search"),
    ("GET", "/v1/documents/emn-work-programme-2026-2027/chunks", None, "search"),
    ("GET", "/v1/chunks/{chunk_id}", None, "search"),
    ("POST", "/v1/feedback", {"trace_id": "{trace_id}", "rating": "up"}, "feedback"),
    ("GET", "/v1/model-card", None, "ask"),
    ("POST", "/v1/provenance/verify", {"answer": "x"}, "ask"),
    ("GET", "/v1/review", None, "admin"),
    ("GET", "/v1/review/{trace_id}", None, "admin"),
    ("POST", "/v1/review/{trace_id}", {"verdict": "right", "note": "spot check"}, "admin"),
    ("GET", "/metrics", None, "admin"),
    ("GET", "/v1/admin/generation", None, "admin"),
    ("PUT", "/v1/admin/generation", {"enabled": True}, "admin"),
    ("PUT", "/v1/feedback/{feedback_id}", {"trace_id": "{trace_id}", "rating": "down"},
     "feedback"),
    ("GET", "/v1/conversations", None, "ask"),
    ("GET", "/v1/conversations/{conversation_id}", None, "ask"),
    ("PUT", "/v1/conversations/{conversation_id}", {"messages": []}, "ask"),
    ("POST", "/v1/conversations/{conversation_id}/messages",
     {"messages": [{"role": "user", "content": "q"}]}, "ask"),
    ("DELETE", "/v1/conversations/{conversation_id}", None, "ask"),
    ("GET", "/v1/drafts", None, "ask"),
    ("GET", "/v1/drafts/{draft_id}", None, "ask"),
    ("PUT", "/v1/drafts/{draft_id}", {"topic": "t", "draft": {}}, "ask"),
    ("PUT", "/v1/drafts/{draft_id}/edits", {"title": "T"}, "ask"),
    ("DELETE", "/v1/drafts/{draft_id}", None, "ask"),
]  # fmt: skip

# Routes on something the caller owns: created first, with the same credentials.
_CONVERSATION = ("PUT", "/v1/conversations/auth-check", {"messages": []})
_DRAFT = ("PUT", "/v1/drafts/auth-check", {"topic": "t", "draft": {}})
SETUP = {
    ("PUT", "/v1/feedback/{feedback_id}"): ("POST", "/v1/feedback",
                                            {"trace_id": "{trace_id}", "rating": "up"}),
    ("GET", "/v1/conversations/{conversation_id}"): _CONVERSATION,
    ("DELETE", "/v1/conversations/{conversation_id}"): _CONVERSATION,
    ("GET", "/v1/drafts/{draft_id}"): _DRAFT,
    ("PUT", "/v1/drafts/{draft_id}/edits"): _DRAFT,
    ("DELETE", "/v1/drafts/{draft_id}"): _DRAFT,
}  # fmt: skip


def call(
    http: httpx.Client, route: tuple, ids: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    method, path, body, _ = route
    owned = {"conversation_id": "auth-check", "draft_id": "auth-check", "feedback_id": 1}
    if path.startswith(("/v1/conversations", "/v1/drafts")):  # saved work: per browser session
        headers = {**headers, "X-EMN-Session": "auth-check-session-0001"}
    if (method, path) in SETUP:
        setup_method, setup_path, setup_body = SETUP[(method, path)]
        setup_body = json.loads(json.dumps(setup_body).replace("{trace_id}", ids["trace_id"]))
        made = http.request(setup_method, setup_path, json=setup_body, headers=headers)
        if made.status_code == 201 and "id" in made.json():
            owned["feedback_id"] = made.json()["id"]
    path = path.format(**ids, **owned)
    if body is not None:
        body = json.loads(json.dumps(body).replace("{trace_id}", ids["trace_id"]))
    return http.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_every_route_needs_a_key_with_its_scope(
    http: httpx.Client, keys_server: KeysServer, ids: dict[str, str], route: tuple
) -> None:
    keys = keys_server.keys
    scope = route[3]
    missing = call(http, route, ids, {})
    assert_error(missing, 401, "missing_api_key")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_error(call(http, route, ids, bearer("emn_deadbeef_not-a-key")), 401, "invalid_api_key")
    wrong = next(s for s in ("ask", "search", "feedback") if s != scope)
    assert_error(call(http, route, ids, bearer(keys[wrong])), 403, "insufficient_scope")
    for key in (keys[scope], keys["admin"]):
        ok = call(http, route, ids, bearer(key))
        assert 200 <= ok.status_code < 300, (ok.status_code, ok.text[:300])
    via_header = call(http, route, ids, {"X-API-Key": keys[scope]})
    assert 200 <= via_header.status_code < 300


def test_the_route_table_covers_every_operation(http: httpx.Client) -> None:
    """A new route must be added to ROUTES (and so get its auth checks)."""
    paths = http.get("/openapi.json").json()["paths"]
    operations = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    covered = {
        (method, path.replace("emn-work-programme-2026-2027", "{doc_id}"))
        for method, path, _, _ in ROUTES
    }
    probes = {("GET", "/healthz"), ("GET", "/readyz")}
    assert operations - probes == covered


def test_probes_and_the_schema_need_no_key(http: httpx.Client) -> None:
    # The docs and their bundled scripts too (api/main.py serves them without a CDN).
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/redoc",
                 "/static-offline-docs/swagger-ui-bundle.js",
                 "/static-offline-docs/redoc.standalone.js"):  # fmt: skip
        assert http.get(path).status_code == 200, path


def test_rate_limit_per_key_answers_429_with_retry_after(
    http: httpx.Client, keys_server: KeysServer
) -> None:
    slow = bearer(keys_server.keys["slow"])
    statuses = [http.get("/v1/documents", headers=slow).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = http.get("/v1/documents", headers=slow)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    # Another key is not affected.
    other = http.get("/v1/documents", headers=bearer(keys_server.keys["search"]))
    assert other.status_code == 200


def test_revoked_keys_stop_working_without_a_restart(
    http: httpx.Client, keys_server: KeysServer
) -> None:
    key = keys_server.keys["revoked"]
    assert http.get("/v1/documents", headers=bearer(key)).status_code == 200
    listed = keys_cli(keys_server.keys_file, "list")
    key_id = next(line.split("\t")[0] for line in listed.stdout.splitlines() if "to-revoke" in line)
    keys_cli(keys_server.keys_file, "revoke", "--id", key_id)
    # Each worker re-reads the keys at most every EMN_SHARED_STATE_REFRESH_S (0.5 s).
    deadline = time.monotonic() + 1.0
    while (response := http.get("/v1/documents", headers=bearer(key))).status_code == 200:
        assert time.monotonic() < deadline, "the revoked key still worked after 1 s"
        time.sleep(0.05)
    assert_error(response, 401, "invalid_api_key")


def test_keys_are_stored_hashed_and_the_audit_log_names_the_key_id(
    http: httpx.Client, keys_server: KeysServer
) -> None:
    key = keys_server.keys["ask"]
    trace_id = http.post("/v1/ask", json={"question": BUDGET_QUESTION}, headers=bearer(key)).json()[
        "trace_id"
    ]
    key_id = key.split("_")[1]
    log = AuditLog(make_engine(keys_server.server.database_url))
    record = next(r for r in log.records() if r["trace_id"] == trace_id)
    log.engine.dispose()
    assert record["key_id"] == key_id
    db_file = Path(keys_server.server.database_url.removeprefix("sqlite:///"))
    stored = b"".join(path.read_bytes() for path in db_file.parent.glob("audit.sqlite*"))
    assert all(k.encode() not in stored for k in keys_server.keys.values())  # hashes only
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored


def test_cors_allows_only_the_configured_origin(http: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = http.options("/v1/ask", headers={"Origin": UI_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    refused = http.options("/v1/ask", headers={"Origin": "https://evil.example", **preflight})
    assert_error(refused, 400, "cors_refused")
    assert "access-control-allow-origin" not in refused.headers
    simple = http.get("/healthz", headers={"Origin": UI_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == UI_ORIGIN
