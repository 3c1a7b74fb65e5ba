"""`python -m api` with two worker processes on loopback: every scrape of /metrics shows the
whole server (the sum over its workers, a SIGKILLed one included), whichever worker answers
it; /metrics keeps its access rules; a second server cannot take over the metrics folder.

Each request goes over a fresh connection and the test finds the worker that accepted it (the
process holding the server end of that connection), to show that both workers answered:
per-worker counters would make the scrapes disagree."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from conftest import (
    PYTHON,
    STARTUP_COMPLETE,
    ApiServer,
    child_env,
    copy_index,
    free_port,
    settings_env,
    wait_workers_ready,
)
from metrics_helpers import WORKER, run_python, sample

from api.keys import create_key
from api.metrics_run import LOCK_FILE, RUN_FOLDER
from common.local_servers import wait_http_ok
from common.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.slow

WORKERS = 2
ROUTE = {"route": "/v1/models", "method": "GET"}
STALE = 1000  # what a previous run left in the folder: never part of this run's figures


@dataclass
class Reply:
    status: int
    text: str
    worker: int | None


@dataclass
class Server:
    api: ApiServer
    keys: dict[str, str]

    def workers(self) -> set[int]:
        """The live worker processes (a killed one is a zombie until uvicorn reaps it)."""
        found = set()
        for child in psutil.Process(self.api.proc.pid).children():
            try:
                if "spawn_main" in " ".join(child.cmdline()):
                    found.add(child.pid)
            except (psutil.ZombieProcess, psutil.NoSuchProcess):
                continue
        return found

    def request(self, path: str, key: str | None) -> Reply:
        """One GET on a connection of its own; `worker` is the pid that accepted it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.api.port, timeout=60)
        try:
            headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            local = conn.sock.getsockname()[1]  # still open (keep-alive)
            return Reply(response.status, text, self.worker_of(local))
        finally:
            conn.close()

    def worker_of(self, client_port: int) -> int | None:
        for pid in self.workers():
            try:
                connections = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            if any(c.raddr and c.raddr.port == client_port for c in connections):
                return pid
        return None

    def many(self, count: int, path: str, key: str) -> list[Reply]:
        """`count` requests from four client threads at once (so both workers are busy)."""
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda _: self.request(path, key), range(count)))

    def models(self, count: int) -> list[Reply]:
        """`count` calls of GET /v1/models, all 200."""
        replies = self.many(count, "/v1/models", "ask")
        assert all(r.status == 200 for r in replies), [r.text for r in replies]
        return replies

    def scrape(self) -> Reply:
        reply = self.request("/metrics", "admin")
        assert reply.status == 200, reply.text
        return reply

    def models_counted(self, reply: Reply) -> float:
        return sample(reply.text, "emn_http_requests_total", **ROUTE, status="200")

    def settled_count(self, expected: float, timeout: float = 10) -> float:
        """The count once it reaches `expected`: a worker counts a request just after it has
        sent the response, so a scrape may come in between."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.models_counted(self.scrape())
            if seen >= expected or time.monotonic() > deadline:
                return seen
            time.sleep(0.1)

    def scrapes_by_both(self, minimum: int = 6) -> list[Reply]:
        """At least `minimum` scrapes, more (up to 60) until both workers have answered."""
        replies: list[Reply] = []
        while len(replies) < 60:
            replies += self.many(minimum if not replies else 4, "/metrics", "admin")
            if {r.worker for r in replies} >= self.workers():
                break
        assert {r.worker for r in replies} >= self.workers(), "one worker answered every scrape"
        assert all(r.status == 200 for r in replies)
        return replies


def start_python_m_api(workdir: Path, emn: dict[str, str], timeout: float = 240) -> ApiServer:
    """`python -m api` (what `make run` starts) on a free loopback port, ready in every worker."""
    port = free_port()
    emn = {**emn, "EMN_API_HOST": "127.0.0.1", "EMN_API_PORT": str(port)}
    log = workdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([PYTHON, "-m", "api"], cwd=PROJECT_ROOT, env=child_env(emn),
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    server = ApiServer(port=port, proc=proc, env=emn, workdir=workdir, log=log)
    try:
        wait_http_ok(server.url("/healthz"), proc, timeout, "python -m api")
        wait_workers_ready(server, int(emn["EMN_API_WORKERS"]), timeout)
    except Exception as exc:
        server.stop()
        raise RuntimeError(f"{exc}\n--- server log ---\n{server.log_tail()}") from exc
    return server


@pytest.fixture(scope="module")
def server(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("api-metrics-workers")
    settings = copy_index(default_index_settings, workdir / "index")
    data = workdir / "data"
    keys_file = data / "api-keys.json"
    keys = {
        "admin": create_key(keys_file, "ops", ["admin"])[0],
        "ask": create_key(keys_file, "client", ["ask"])[0],
    }
    # A previous run's files, under a pid that may be reused now: the new run starts without.
    stale = run_python(WORKER.format(count=STALE, killed=False), data / "metrics" / RUN_FOLDER)
    assert stale.returncode == 0, stale.stderr
    api = start_python_m_api(
        workdir,
        {
            **settings_env(settings),
            "EMN_DATA_DIR": str(data),
            "EMN_AUDIT_DB_URL": f"sqlite:///{data / 'audit.sqlite'}",
            "EMN_API_WORKERS": str(WORKERS),
            "EMN_AUTH_MODE": "keys",
            "EMN_API_KEYS_FILE": str(keys_file),
            "EMN_RATE_LIMIT_PER_MINUTE": "100000",
            "EMN_RATE_LIMIT_BURST": "10000",
            "EMN_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        },
    )
    run = Server(api, keys)
    try:
        assert len(run.workers()) == WORKERS
        yield run
    finally:
        api.stop()


def test_every_scrape_shows_the_whole_server(server: Server) -> None:
    before = server.models_counted(server.scrape())
    assert before < STALE  # the previous run's figures are gone
    count = 12
    replies = server.models(count)
    while {r.worker for r in replies} < server.workers() and len(replies) < 60:
        replies += server.models(4)  # until both workers have answered some
    assert {r.worker for r in replies} >= server.workers(), "one worker answered every request"
    total = before + len(replies)
    assert server.settled_count(total) == total
    for scrape in server.scrapes_by_both():
        # Not a per-worker share: the same total from either worker.
        assert server.models_counted(scrape) == total, scrape.worker
        duration = sample(scrape.text, "emn_http_request_duration_seconds_count", **ROUTE)
        assert duration == total
        assert sample(scrape.text, "emn_worker_processes") == WORKERS


def test_a_killed_worker_still_counts_and_its_replacement_adds(server: Server) -> None:
    first = server.models_counted(server.scrape())
    server.models(8)
    before = server.settled_count(first + 8)
    assert before == first + 8
    old = server.workers()
    victim = min(old)
    started = server.api.log.read_text(errors="replace").count(STARTUP_COMPLETE)
    os.kill(victim, signal.SIGKILL)
    # While uvicorn replaces it, the survivor still shows the whole count.
    assert server.models_counted(server.scrape()) == before
    deadline = time.monotonic() + 180
    while len(server.workers() - {victim}) < WORKERS or (
        server.api.log.read_text(errors="replace").count(STARTUP_COMPLETE) <= started
    ):
        assert time.monotonic() < deadline, server.api.log_tail()
        time.sleep(0.2)
    replacement = server.workers() - old
    assert len(replacement) == 1 and victim not in server.workers()
    for scrape in server.scrapes_by_both():
        assert server.models_counted(scrape) == before  # never backwards
        assert sample(scrape.text, "emn_worker_processes") == WORKERS  # the dead one dropped
    replies = server.models(8)
    while not replacement & {r.worker for r in replies} and len(replies) < 60:
        replies += server.models(4)
    assert replacement & {r.worker for r in replies}, "the new worker answered nothing"
    total = before + len(replies)
    assert server.settled_count(total) == total
    assert all(server.models_counted(s) == total for s in server.scrapes_by_both())


def test_metrics_keep_their_access_rules(server: Server) -> None:
    anonymous = server.request("/metrics", None)
    assert anonymous.status == 401
    assert json.loads(anonymous.text)["error"]["code"] == "missing_api_key"
    wrong_scope = server.request("/metrics", "ask")
    assert wrong_scope.status == 403
    assert json.loads(wrong_scope.text)["error"]["code"] == "insufficient_scope"
    assert server.scrape().text.startswith("# HELP")


def test_a_second_server_cannot_take_the_metrics_folder(server: Server) -> None:
    data = Path(server.api.env["EMN_DATA_DIR"])
    server.models(2)
    counted = server.settled_count(2)
    emn = {**server.api.env, "EMN_API_PORT": str(free_port())}
    # Its own process group: should it start after all, its workers go with it.
    second = subprocess.Popen([PYTHON, "-m", "api"], cwd=PROJECT_ROOT, env=child_env(emn),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)  # fmt: skip
    try:
        _, stderr = second.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        second.communicate()
        pytest.fail("a second server started on a metrics folder in use")
    assert second.returncode != 0
    assert f"pid {server.api.proc.pid}" in stderr and "EMN_METRICS_DIR" in stderr
    assert (data / "metrics" / LOCK_FILE).read_text().strip() == str(server.api.proc.pid)
    assert server.models_counted(server.scrape()) >= counted  # the live figures are intact
