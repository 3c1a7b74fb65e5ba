"""The service over HTTP: a real uvicorn server on a free loopback port, timed by a client one
request at a time (/v1/search and /v1/ask), then loaded by Locust with 1, 4 and 16 closed-loop
clients; the server's memory after start, after the sequential pass and after the load.

The server runs as `make run` runs it: EMN_API_WORKERS worker processes with
EMN_TORCH_THREADS torch threads each (resolved from the settings unless the command line
overrides them), with the query-vector cache off (EMN_QUERY_CACHE_SIZE=0), because the load
repeats the same dev questions and the figures must be those of questions not seen before.
It has a very high rate limit (EMN_RATE_LIMIT_PER_MINUTE, EMN_RATE_LIMIT_BURST) so the load
measures the service, not the limiter (every request still goes through the shared limiter);
it writes its audit records to a temporary data folder, as it would in production. All
traffic stays on 127.0.0.1 and every loop is bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.protocol import HTTP_PROTOCOL
from bench.util import PYTHON, BenchError, child_env, log, rss_mb, summary
from common.local_servers import free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
WARM_UP = 3
STARTUP_COMPLETE = "Application startup complete."


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path
    start_seconds: float
    workers: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> float | None:
        return rss_mb(self.proc.pid, children=self.workers > 1)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)


def start_server(
    index_dir: Path,
    corpus_dir: Path,
    workdir: Path,
    workers: int = 1,
    timeout: float = 300.0,
    torch_threads: int | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """uvicorn with `workers` processes of `torch_threads` torch threads each (None: the
    settings' auto value), ready once every worker has finished its startup. `env` overrides
    the benchmark's EMN_ settings (open mode, extractive composer, no rate limit)."""
    import httpx

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = child_env(
        {
            "EMN_INDEX_DIR": str(index_dir),
            "EMN_CORPUS_DIR": str(corpus_dir),
            "EMN_DATA_DIR": str(workdir / "data"),
            "EMN_DATABASE_URL": f"sqlite:///{workdir / 'data' / 'audit.sqlite'}",
            "EMN_AUTH_MODE": "open",
            "EMN_COMPOSER": "extractive",
            "EMN_RATE_LIMIT_PER_MINUTE": "1000000000",
            "EMN_RATE_LIMIT_BURST": "1000000000",
            # no chat model: the 'llm' composer, if asked for, falls back at once
            "EMN_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
            "EMN_API_WORKERS": str(workers),
            "EMN_TORCH_THREADS": str(torch_threads or "auto"),
            # the load repeats the dev questions: measure them as if never seen before
            "EMN_QUERY_CACHE_SIZE": "0",
            **(env or {}),
        }
    )
    command = [
        PYTHON,
        "-m",
        "uvicorn",
        "api.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--workers",
        str(workers),
        "--http",
        HTTP_PROTOCOL,
    ]
    log_file = workdir / "server.log"
    started = time.perf_counter()
    with log_file.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, port, log_file, 0.0, workers)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = log_file.read_text(errors="replace")[-3000:]
            raise BenchError(f"the API server exited with status {proc.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            # /readyz answers once one worker is up; the others must be ready too
            ready = httpx.get(server.url + "/readyz", timeout=5).status_code == 200
            if ready and log_file.read_text(errors="replace").count(STARTUP_COMPLETE) >= workers:
                break
        if time.monotonic() > deadline:
            server.stop()
            raise BenchError(f"the API server was not ready within {timeout} s")
        time.sleep(0.2)
    server.start_seconds = round(time.perf_counter() - started, 2)
    return server


def _timed(client: Any, endpoint: str, body: Callable[[str], dict[str, Any]],
           questions: list[str]) -> tuple[list[float], list[float], Counter[int]]:  # fmt: skip
    """Each question posted in turn: wall times, the times the pipeline reports (/v1/search
    `took_ms`, /v1/ask `timings.total`) and the status counts (0: no response)."""
    import httpx

    wall: list[float] = []
    server_ms: list[float] = []
    statuses: Counter[int] = Counter()
    for question in questions:
        t0 = time.perf_counter()
        try:
            response = client.post(endpoint, json=body(question))
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        wall.append((time.perf_counter() - t0) * 1000)
        statuses[status] += 1
        if status == 200:
            data = response.json()
            took = data.get("took_ms") or (data.get("timings") or {}).get("total")
            if took is not None:
                server_ms.append(float(took))
    return wall, server_ms, statuses


def _errors(statuses: Counter[int]) -> int:
    return sum(n for s, n in statuses.items() if s != 200)


def _ask(question: str) -> dict[str, Any]:
    return {"question": question, "composer": "extractive"}


def sequential(server: Server, questions: list[str]) -> dict[str, Any]:
    """One client, one request at a time: /v1/search (k=10) then /v1/ask per question."""
    import httpx

    out: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for question in questions[:WARM_UP]:
            client.post("/v1/search", json={"query": question, "k": 10})
            client.post("/v1/ask", json=_ask(question))
        for endpoint, body in (
            ("/v1/search", lambda q: {"query": q, "k": 10}),
            ("/v1/ask", _ask),
        ):
            wall, server_ms, statuses = _timed(client, endpoint, body, questions)
            out[endpoint] = {
                "requests": len(questions),
                "errors": _errors(statuses),
                "statuses": {str(s): n for s, n in sorted(statuses.items())},
                "wall_ms": summary(wall),
                "pipeline_ms": summary(server_ms),
            }
    return out


def by_language(server: Server, questions: dict[str, list[str]]) -> dict[str, Any]:
    """/v1/ask, one request at a time, per language: a question not in English takes two
    more query embeddings than an English one (the multilingual model's), so its latency is
    its own figure. `other` pools every language but English."""
    import httpx

    out: dict[str, Any] = {}
    others: list[float] = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for code, texts in questions.items():
            wall, _, statuses = _timed(client, "/v1/ask", _ask, texts)
            out[code] = {"requests": len(texts), "errors": _errors(statuses),
                         "wall_ms": summary(wall)}  # fmt: skip
            if code != "en":
                others += wall
    if others:
        out["other"] = {"requests": len(others), "wall_ms": summary(others)}
    return out


@dataclass
class LocustRun:
    """A headless Locust process under way; `wait()` returns its per-request samples."""

    proc: subprocess.Popen
    seconds: float
    samples_file: Path
    events_file: Path | None
    log: Path
    started: float
    stop_file: Path | None = None

    def stop(self) -> None:
        """End the run now, as its time limit would (only with `stoppable`)."""
        if self.stop_file is not None:
            self.stop_file.touch()

    def wait(self) -> list[list[Any]]:
        try:
            self.proc.wait(timeout=self.seconds + 180)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self.proc.returncode != 0 or not self.samples_file.exists():
            tail = self.log.read_text(errors="replace")[-3000:]
            raise BenchError(f"locust failed (exit {self.proc.returncode}):\n{tail}")
        return json.loads(self.samples_file.read_text(encoding="utf-8"))

    def events(self) -> list[list[Any]]:
        """(end time, ms, status, ok, trace id, upstream) per request, when asked for."""
        if self.events_file is None or not self.events_file.exists():
            return []
        return json.loads(self.events_file.read_text(encoding="utf-8"))


def start_locust(
    url: str,
    questions: list[str],
    clients: int,
    seconds: float,
    workdir: Path,
    tag: str,
    events: bool = False,
    stoppable: bool = False,
) -> LocustRun:
    """Locust, headless, `clients` closed-loop users for `seconds` against `url`/v1/ask.
    `events`: also record each request's end time, trace id and the upstream that answered
    (the X-Upstream header a reverse proxy adds), for the cluster benchmark. `stoppable`:
    `LocustRun.stop()` may end it before `seconds` (an upper bound then)."""
    workdir.mkdir(parents=True, exist_ok=True)
    questions_file = workdir / "questions.json"
    questions_file.write_text(json.dumps(questions), encoding="utf-8")
    samples_file = workdir / f"samples-{tag}.json"
    samples_file.unlink(missing_ok=True)
    events_file = workdir / f"events-{tag}.json" if events else None
    if events_file is not None:
        events_file.unlink(missing_ok=True)
    stop_file = workdir / f"stop-{tag}" if stoppable else None
    if stop_file is not None:
        stop_file.unlink(missing_ok=True)
    command = [
        PYTHON,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(clients),
        "-r",
        str(clients),
        "-t",
        f"{max(1, round(seconds))}s",
        "--host",
        url,
        "--csv",
        str(workdir / f"locust-{tag}"),
        "--only-summary",
        "--stop-timeout",
        "30",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
    ]
    extra = {"BENCH_QUESTIONS": str(questions_file), "BENCH_SAMPLES": str(samples_file)}
    if events_file is not None:
        extra["BENCH_EVENTS"] = str(events_file)
    if stop_file is not None:
        extra["BENCH_STOP_FILE"] = str(stop_file)
    log_file = workdir / f"locust-{tag}.log"
    with log_file.open("wb") as out:
        proc = subprocess.Popen(command, env=child_env(extra), stdout=out, stderr=subprocess.STDOUT)
    return LocustRun(
        proc, seconds, samples_file, events_file, log_file, time.perf_counter(), stop_file
    )


def load_summary(samples: list[list[Any]], clients: int, seconds: float) -> dict[str, Any]:
    """Requests, answers, errors, statuses, answers/s and latency of Locust samples."""
    ok = [ms for ms, _status, good in samples if good]
    errors = len(samples) - len(ok)
    statuses = Counter(status for _ms, status, _good in samples)
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(samples),
        "answers": len(ok),
        "errors": errors,
        "error_rate": round(errors / len(samples), 4) if samples else None,
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "answers_per_s": round(len(ok) / seconds, 2),
        "latency_ms": summary(ok),
        "latency_all_ms": {"p50": summary([s[0] for s in samples])["p50"]},
    }


def load(
    server: Server, questions: list[str], clients: int, seconds: float, workdir: Path
) -> dict[str, Any]:
    """Locust, headless, `clients` closed-loop users for `seconds` against /v1/ask."""
    run = start_locust(server.url, questions, clients, seconds, workdir, str(clients))
    samples = run.wait()
    elapsed = time.perf_counter() - run.started
    return {
        **load_summary(samples, clients, seconds),
        "process_seconds": round(elapsed, 2),
        "rss_after_mb": server.rss(),
    }


def run(
    index_dir: Path,
    corpus_dir: Path,
    questions: list[str],
    workdir: Path,
    clients: list[int],
    seconds: float,
    workers: int = 1,
    torch_threads: int | None = None,
    languages: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    from common.settings import load_settings

    threads = torch_threads or load_settings().torch_threads_for(workers)
    log(f"HTTP: starting uvicorn ({workers} worker(s), {threads} torch thread(s) each)")
    server = start_server(
        index_dir, corpus_dir, workdir / "server", workers=workers, torch_threads=threads
    )
    out: dict[str, Any] = {
        "workers": workers,
        "torch_threads": threads,
        "query_cache_size": 0,
        "start_seconds": server.start_seconds,
        "rss_after_start_mb": server.rss(),
        "questions": len(questions),
    }
    try:
        log(f"HTTP: sequential /v1/search and /v1/ask over {len(questions)} questions")
        out["sequential"] = sequential(server, questions)
        out["rss_after_sequential_mb"] = server.rss()
        if languages:
            count = sum(map(len, languages.values()))
            log(f"HTTP: sequential /v1/ask over {count} questions in {len(languages)} languages")
            out["languages"] = by_language(server, languages)
        out["load"] = []
        for n in clients:
            log(f"HTTP: load with {n} client(s) for {seconds:g} s (locust)")
            out["load"].append(load(server, questions, n, seconds, workdir / "locust"))
        out["rss_after_load_mb"] = server.rss()
    finally:
        server.stop()
        out["server_errors"] = server_errors(server.log)
    return out


def server_errors(log_file: Path, limit: int = 120) -> list[str]:
    """The server log's error reports (each with its traceback), so a failed request can be
    explained after the temporary folder is gone."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return []
    out: list[str] = []
    i = 0
    while i < len(lines) and len(out) < limit:
        line = lines[i]
        if "ERROR" in line or "Traceback" in line or "CRITICAL" in line:
            block = [line]
            i += 1
            while i < len(lines) and (lines[i].startswith((" ", "\t")) or "Error" in lines[i]):
                block.append(lines[i])
                i += 1
            out.extend(block[:40])
        else:
            i += 1
    return out[:limit]
