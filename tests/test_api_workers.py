"""A real uvicorn server with two worker processes on loopback (what `make run` starts on a
two-core machine): the generation kill switch and the rate limit hold for the whole server,
whichever worker answers.

Each request goes over a fresh connection, and the test finds which worker accepted it (the
worker process holding the server end of that connection), so it shows that both workers
answered: a switch or a limit kept per process would let one of them disagree.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from api_helpers import BUDGET_QUESTION
from conftest import ApiServer, copy_index, free_port, settings_env, start_api_server

from api.keys import create_key
from common.settings import Settings

pytestmark = pytest.mark.slow

WORKERS = 2
LIMITED_RATE = 10  # requests per minute of the limited key, which is also its burst


@dataclass
class Reply:
    status: int
    body: dict
    headers: dict[str, str]
    worker: int | None


@dataclass
class TwoWorkers:
    server: ApiServer
    keys: dict[str, str]
    workers: set[int]

    def request(self, method: str, path: str, key: str, body: dict | None = None) -> Reply:
        """One request on a connection of its own; `worker` is the pid that accepted it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        try:
            headers = {"Authorization": f"Bearer {self.keys[key]}"}
            payload = None
            if body is not None:
                payload = json.dumps(body)
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            local = conn.sock.getsockname()[1]  # the connection is still open (keep-alive)
            worker = self.worker_of(local)
            return Reply(
                response.status, json.loads(data or b"{}"), dict(response.getheaders()), worker
            )
        finally:
            conn.close()

    def worker_of(self, client_port: int) -> int | None:
        for pid in self.workers:
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == client_port:
                    return pid
        return None

    def many(self, count: int, method: str, path: str, key: str, body: dict | None = None
             ) -> list[Reply]:  # fmt: skip
        """`count` requests from four client threads at once (so both workers are busy)."""
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(self.request, method, path, key, body) for _ in range(count)]
            return [f.result() for f in futures]


@pytest.fixture(scope="module")
def two_workers(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoWorkers]:
    workdir = tmp_path_factory.mktemp("api-workers")
    settings = copy_index(default_index_settings, workdir / "index")
    keys_file = workdir / "data" / "api-keys.json"
    keys = {
        "admin": create_key(keys_file, "ops", ["admin"])[0],
        "limited": create_key(keys_file, "limited", ["ask"], rate_per_minute=LIMITED_RATE)[0],
    }
    server = start_api_server(
        workdir,
        {
            **settings_env(settings),
            "EMN_AUTH_MODE": "keys",
            "EMN_API_KEYS_FILE": str(keys_file),
            "EMN_RATE_LIMIT_PER_MINUTE": "100000",
            "EMN_RATE_LIMIT_BURST": "10000",
            # No chat model: with generation on, the 'llm' composer is tried and falls back.
            "EMN_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        },
        workers=WORKERS,
        timeout=240,
    )
    children = psutil.Process(server.proc.pid).children()
    workers = {p.pid for p in children if "spawn_main" in " ".join(p.cmdline())}
    try:
        assert len(workers) == WORKERS, [p.cmdline() for p in children]
        yield TwoWorkers(server, keys, workers)
    finally:
        server.stop()


def until_both_answered(
    run: TwoWorkers, count: int, method: str, path: str, body: dict | None = None
) -> list[Reply]:
    """At least `count` admin requests, more (up to 60) until both workers have answered."""
    replies: list[Reply] = []
    while len(replies) < 60:
        replies += run.many(count if not replies else 4, method, path, "admin", body)
        if answered_by(replies) == run.workers:
            break
    assert answered_by(replies) == run.workers, "one worker answered every request"
    return replies


def answered_by(replies: list[Reply]) -> set[int]:
    """The workers seen holding a connection (a lookup can miss one that just closed)."""
    return {r.worker for r in replies if r.worker is not None}


def test_the_kill_switch_holds_in_every_worker(two_workers: TwoWorkers) -> None:
    run = two_workers
    assert run.request("GET", "/v1/admin/generation", "admin").body == {"enabled": True}
    switched = run.request("PUT", "/v1/admin/generation", "admin", {"enabled": False})
    assert switched.status == 200 and switched.body == {"enabled": False}
    try:
        seen = until_both_answered(run, 8, "GET", "/v1/admin/generation")
        assert all(r.status == 200 and r.body == {"enabled": False} for r in seen)
        asked = until_both_answered(
            run, 6, "POST", "/v1/ask", {"question": BUDGET_QUESTION, "composer": "llm"}
        )
        for reply in asked:
            assert reply.status == 200, reply.body
            versions = reply.body["versions"]
            # Off: extractive by decision, not a fallback from a failed model call.
            assert versions["composer"] == "extractive" and reply.body["fallback"] is False
        ready = until_both_answered(run, 4, "GET", "/readyz")
        assert all(r.body["generation"] == "off" for r in ready)
    finally:
        back = run.request("PUT", "/v1/admin/generation", "admin", {"enabled": True})
        assert back.body == {"enabled": True}
    on = until_both_answered(run, 6, "GET", "/v1/admin/generation")
    assert all(r.body == {"enabled": True} for r in on)
    switch = json.loads((Path(run.server.env["EMN_DATA_DIR"]) / "generation.json").read_text())
    assert switch["enabled"] is True and switch["by"] == "admin"


def test_the_rate_limit_is_shared_by_the_workers(two_workers: TwoWorkers) -> None:
    run = two_workers
    started = time.monotonic()
    replies = run.many(LIMITED_RATE + 4, "GET", "/v1/models", "limited")
    while answered_by(replies) != run.workers and len(replies) < 40:
        replies += run.many(4, "GET", "/v1/models", "limited")
    elapsed = time.monotonic() - started
    assert answered_by(replies) == run.workers, "one worker answered every request"
    allowed = [r for r in replies if r.status == 200]
    refilled = int(elapsed * LIMITED_RATE / 60)  # one token every 6 s
    # Per-process buckets would allow LIMITED_RATE in each worker.
    assert LIMITED_RATE <= len(allowed) <= LIMITED_RATE + refilled, (len(allowed), elapsed)
    assert all(r.status == 429 for r in replies if r.status != 200)
    denied = run.request("GET", "/v1/models", "limited")  # the next one, on a new connection
    assert denied.status == 429 and denied.body["error"]["code"] == "rate_limited"
    assert 1 <= int(denied.headers["retry-after"]) <= 60 // LIMITED_RATE
    assert run.request("GET", "/v1/admin/generation", "admin").status == 200  # its own bucket
