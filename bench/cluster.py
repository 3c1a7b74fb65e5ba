"""`python -m bench cluster` (make bench-cluster): several API hosts measured with real
servers: a durable PostgreSQL (the shared audit log and stores), a Chroma server holding the
default corpus, API hosts (separate `python -m api` processes with their own data folder and
index copy), nginx in front of them, and Locust driving /v1/ask through nginx.

Three phases, all through the same nginx configuration:
1. one host pinned to the first core (1 worker) under `users` closed-loop clients;
2. two hosts pinned to one core each, same clients: the throughput ratio;
3. failover: two hosts under load; half-way one host is SIGKILLed (its whole process group),
   restarted `down_seconds` later; errors before, around and after, and the recovery time
   (restart command -> its /readyz 200 and its first answer through nginx).
Then every answer a client received is looked up in the audit table by trace id, and
`python -m api.audit verify` checks the chain on PostgreSQL against each host's checkpoints.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from bench.cluster_stack import (
    FAIL_TIMEOUT_S,
    CpuMeter,
    Host,
    Nginx,
    chroma_env,
    ingest_into_chroma_server,
    seed_embedding_cache,
)
from bench.http_bench import LocustRun, load_summary, start_locust
from bench.util import PYTHON, BenchError, child_env, log, rss_mb
from common.chroma_server import ChromaServer
from common.local_servers import free_port
from common.postgres_server import PostgresServer
from common.settings import PROJECT_ROOT, load_settings

DEFAULT_OUT = PROJECT_ROOT / "evals" / "reports" / "cluster"
DEV_SET = PROJECT_ROOT / "evals" / "datasets" / "dev.jsonl"
HMAC_KEY = "bench-cluster-hmac-key-0123456789abcdef"
PROVENANCE_KEY = "bench-cluster-provenance-key-0123456789abcdef"
WARM_UP_ASKS = 3
MAX_RESTART_S = 300.0  # a restarted host not ready by then is a failed run
RECOVERED_TAIL_S = 10.0  # load kept on after the restarted host is ready


class ClusterParams(BaseModel):
    """What one run measures; written into cluster.json beside the figures."""

    users: int = Field(default=8, ge=1, description="Locust closed-loop users in every phase")
    scale_seconds: float = Field(default=60.0, gt=0, description="load per scaling phase")
    failover_seconds: float = Field(default=90.0, gt=0, description="load of the failover phase")
    down_seconds: float = Field(default=5.0, ge=0, description="killed host stays down this long")
    cores: list[int] = Field(default=[0, 1], min_length=2, description="core of host 1, host 2")
    workers: int = Field(default=1, ge=1, description="uvicorn workers per host")
    questions: int | None = Field(default=None, description="first N dev questions (None: all)")
    corpus_dir: Path | None = None
    dataset: Path = DEV_SET


def _questions(dataset: Path, limit: int | None) -> list[str]:
    from evals.dataset import load_dataset

    items = load_dataset(dataset)
    return [item.question for item in (items[:limit] if limit else items)]


def host_env(db_url: str, chroma_port: int, corpus_dir: Path, index_dir: Path) -> dict[str, str]:
    """The EMN_ settings every host gets (docs/deployment.md lists them): shared database
    and Chroma server, its own index copy; open mode and no effective rate limit so the
    load measures the service; the query cache off so repeated questions cost what new
    ones do."""
    return {
        "EMN_DATABASE_URL": db_url,
        **chroma_env(chroma_port),
        "EMN_INDEX_DIR": str(index_dir),
        "EMN_CORPUS_DIR": str(corpus_dir),
        "EMN_AUTH_MODE": "open",
        "EMN_AUDIT_HMAC_KEY": HMAC_KEY,
        # one signing key: a provenance record made on one host checks on every other
        "EMN_PROVENANCE_KEY": PROVENANCE_KEY,
        "EMN_COMPOSER": "extractive",
        "EMN_RATE_LIMIT_PER_MINUTE": "1000000000",
        "EMN_RATE_LIMIT_BURST": "1000000000",
        "EMN_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing there: extractive
        "EMN_TORCH_THREADS": "1",
        "EMN_QUERY_CACHE_SIZE": "0",
    }


def warm_up(hosts: list[Host], questions: list[str]) -> list[str]:
    """A few answers from each host directly (first requests load lazy parts); their trace
    ids, which the audit check counts as answers given."""
    import httpx

    traces: list[str] = []
    for host in hosts:
        with httpx.Client(base_url=host.url, timeout=120) as client:
            for question in questions[:WARM_UP_ASKS]:
                response = client.post("/v1/ask", json={"question": question})
                if response.status_code != 200:
                    raise BenchError(
                        f"warm-up on host {host.name}: HTTP {response.status_code} "
                        f"{response.text[:300]}"
                    )
                traces.append(response.json()["trace_id"])
    return traces


def upstream_of(event: list[Any]) -> str:
    """The host that answered: the last address nginx tried."""
    return str(event[5]).split(",")[-1].strip()


def by_host(events: list[list[Any]], hosts: list[Host]) -> dict[str, int]:
    names = {h.address: h.name for h in hosts}
    counts = Counter(names.get(upstream_of(e), "none") for e in events if e[3])
    return dict(sorted(counts.items()))


def load_phase(
    name: str,
    url: str,
    questions: list[str],
    params: ClusterParams,
    seconds: float,
    workdir: Path,
    meter: CpuMeter | None = None,
) -> tuple[dict[str, Any], list[list[Any]]]:
    log(f"cluster: {name}: {params.users} users for {seconds:g} s")
    if meter is not None:
        meter.begin()  # Locust is started after: all its CPU time falls within the phase
    run = start_locust(url, questions, params.users, seconds, workdir, name, events=True)
    samples = run.wait()
    out = load_summary(samples, params.users, seconds)
    if meter is not None:
        out["cpu"] = meter.end()
    return out, run.events()


def scaling(
    label: str,
    hosts: list[Host],
    nginx: Nginx,
    questions: list[str],
    params: ClusterParams,
    workdir: Path,
    pids: dict[str, int | None],
) -> tuple[dict[str, Any], list[list[Any]]]:
    meter = CpuMeter(
        {**pids, **{h.name: h.proc.pid if h.proc else None for h in hosts}}, reaped="locust"
    )
    result, events = load_phase(
        label, nginx.url, questions, params, params.scale_seconds, workdir, meter
    )
    result["hosts"] = [h.name for h in hosts]
    result["answers_by_host"] = by_host(events, hosts)
    result["host_rss_mb"] = {h.name: rss_mb(h.proc.pid, children=True) for h in hosts if h.proc}
    return result, events


def failover(
    hosts: list[Host], nginx: Nginx, questions: list[str], params: ClusterParams, workdir: Path
) -> tuple[dict[str, Any], list[list[Any]]]:
    """Load through both hosts; kill the second half-way; restart it; time its return. The
    load lasts `failover_seconds`, or longer: until the host has been ready for
    `RECOVERED_TAIL_S` (so the steady state after the recovery is measured too)."""
    import httpx

    victim = hosts[-1]
    planned = params.failover_seconds
    log(f"cluster: failover: {params.users} users for {planned:g} s; kill {victim.name} half-way")
    run: LocustRun = start_locust(
        nginx.url, questions, params.users, planned + MAX_RESTART_S, workdir, "failover",
        events=True, stoppable=True,
    )  # fmt: skip
    t_start = time.time()
    time.sleep(planned / 2)
    t_kill = time.time()
    victim.kill()
    log(f"cluster: failover: {victim.name} killed (SIGKILL to its process group)")
    time.sleep(params.down_seconds)
    t_restart = time.time()
    victim.start()
    t_ready: float | None = None
    deadline = time.monotonic() + MAX_RESTART_S
    while time.monotonic() < deadline and victim.proc and victim.proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(victim.url + "/readyz", timeout=1).status_code == 200:
                t_ready = time.time()
                break
        time.sleep(0.05)
    log(f"cluster: failover: {victim.name} restarted, ready: {t_ready is not None}")
    end = max(t_start + planned, (t_ready or time.time()) + RECOVERED_TAIL_S)
    time.sleep(max(0.0, end - time.time()))
    run.stop()
    samples = run.wait()
    events = run.events()
    seconds = round(time.time() - t_start, 2)
    result = load_summary(samples, params.users, seconds)
    back = [
        e[0]
        for e in events
        if e[3] and upstream_of(e) == victim.address and e[0] - e[1] / 1000 >= t_restart
    ]
    t_first = min(back) if back else None
    recovered = max(t_ready, t_first) if t_ready and t_first else None
    before = [e for e in events if e[0] < t_kill]
    around = [e for e in events if t_kill <= e[0] <= (recovered or float("inf"))]
    after = [e for e in events if recovered is not None and e[0] > recovered]
    result.update(
        {
            "victim": victim.name,
            "kill_at_s": round(t_kill - t_start, 2),
            "down_seconds": params.down_seconds,
            "restart_at_s": round(t_restart - t_start, 2),
            "ready_after_restart_s": round(t_ready - t_restart, 2) if t_ready else None,
            "first_answer_after_restart_s": round(t_first - t_restart, 2) if t_first else None,
            "recovery_s": round(recovered - t_restart, 2) if recovered else None,
            "errors_before_kill": sum(not e[3] for e in before),
            "errors_around_kill": sum(not e[3] for e in around),
            "errors_after_recovery": sum(not e[3] for e in after),
            "statuses_around_kill": dict(Counter(str(e[2]) for e in around if not e[3])),
            "answers_by_host": by_host(events, hosts),
            "timeline": timeline(events, hosts, t_start, seconds),
        }
    )
    return result, events


def timeline(
    events: list[list[Any]], hosts: list[Host], t_start: float, seconds: float
) -> dict[str, list[int]]:
    """Answers (per host) and errors per second since the load began."""
    bins = int(seconds) + 40  # in-flight requests finish after the -t limit
    series = {h.name: [0] * bins for h in hosts} | {"errors": [0] * bins}
    names = {h.address: h.name for h in hosts}
    for event in events:
        second = int(event[0] - t_start)
        if not 0 <= second < bins:
            continue
        key = names.get(upstream_of(event)) if event[3] else "errors"
        if key:
            series[key][second] += 1
    last = max((i for s in series.values() for i, n in enumerate(s) if n), default=0)
    return {k: v[: last + 1] for k, v in series.items()}


def audit_check(db_url: str, delivered: list[str], failover_errors: int) -> dict[str, Any]:
    """Answers given vs answer records: every trace id a client received must be on record;
    a record without a delivered answer can only be a request in flight on the killed host
    (answered and recorded, the reply lost with the process)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            kinds = dict(
                conn.execute(text("SELECT kind, count(*) FROM audit_log GROUP BY kind")).all()
            )
            recorded = [
                str(row[0])
                for row in conn.execute(
                    text("SELECT trace_id FROM audit_log WHERE kind = 'answer'")
                )
            ]
    finally:
        engine.dispose()
    given = set(delivered)
    on_record = set(recorded)
    without_record = sorted(given - on_record)
    without_answer = sorted(on_record - given)
    return {
        "records_by_kind": {str(k): int(n) for k, n in kinds.items()},
        "answers_given": len(delivered),
        "distinct_answers_given": len(given),
        "answer_records": len(recorded),
        "duplicate_records": len(recorded) - len(on_record),
        "answers_without_record": len(without_record),
        "trace_ids_without_record": without_record[:50],
        "records_without_delivered_answer": len(without_answer),
        "trace_ids_without_delivered_answer": without_answer[:50],
        "failover_errors": failover_errors,
        "explained": len(without_record) == 0
        and len(recorded) == len(on_record)
        and len(without_answer) <= failover_errors,
    }


def verify_chain(db_url: str, checkpoint_files: list[Path]) -> list[dict[str, Any]]:
    """`python -m api.audit verify` on the PostgreSQL URL, against each host's checkpoints."""
    out = []
    for checkpoints in checkpoint_files:
        command = [PYTHON, "-m", "api.audit", "--db", db_url, "--checkpoints", str(checkpoints)]
        result = subprocess.run(
            [*command, "verify"],
            cwd=PROJECT_ROOT,
            env=child_env({"EMN_AUDIT_HMAC_KEY": HMAC_KEY}),
            capture_output=True,
            text=True,
            timeout=600,
        )
        out.append(
            {
                "command": "python -m api.audit --db postgresql+psycopg://... --checkpoints "
                f"{checkpoints.parent.parent.name}/data/{checkpoints.name} verify",
                "exit_code": result.returncode,
                "output": (result.stdout + result.stderr).strip()[-1500:],
            }
        )
    return out


def run_cluster(params: ClusterParams, workdir: Path | None = None) -> dict[str, Any]:
    """Start everything, run the three phases, check the audit log; the figures. A part
    that fails is reported under `errors`; every process started here is stopped."""
    settings = load_settings()
    corpus_dir = (params.corpus_dir or settings.corpus_dir).resolve()
    questions = _questions(params.dataset, params.questions)
    keep = workdir is not None
    work = workdir.resolve() if workdir else Path(tempfile.mkdtemp(prefix="emn-cluster-"))
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"params": params.model_dump(mode="json"), "errors": {}}
    postgres: PostgresServer | None = None
    chroma: ChromaServer | None = None
    hosts: list[Host] = []
    nginx: Nginx | None = None
    delivered: list[str] = []
    try:
        log("cluster: PostgreSQL (durable) and the Chroma server")
        postgres = PostgresServer(durable=True).start()
        db_url = postgres.url("emn")
        chroma = ChromaServer(work / "chroma-data", free_port(), work / "chroma.log", child_env())
        chroma.start()
        index = work / "index"
        out["embedding_cache_seed"] = seed_embedding_cache(index)
        log(f"cluster: ingest {corpus_dir} into the Chroma server")
        out["ingest_seconds"] = ingest_into_chroma_server(index, corpus_dir, chroma.port)
        for number, core in enumerate(params.cores[:2], start=1):
            folder = work / f"host{number}"
            shutil.copytree(index, folder / "index")
            env = host_env(db_url, chroma.port, corpus_dir, folder / "index")
            hosts.append(Host(f"host{number}", folder, env, str(core), params.workers))
        shared = {
            "postgres": postgres.proc.pid if postgres.proc else None,
            "chroma": chroma.proc.pid if chroma.proc else None,
        }
        max_body = settings.max_body_bytes

        # The first host creates the schema; the second starts once it is there.
        started = time.perf_counter()
        hosts[0].start()
        hosts[0].wait_ready()
        out["host_start_seconds"] = round(time.perf_counter() - started, 2)
        delivered += warm_up(hosts[:1], questions)
        nginx = Nginx(work / "nginx-one", [hosts[0].address], max_body)
        nginx.start()
        one, events = scaling(
            "one-host", hosts[:1], nginx, questions, params, work / "locust",
            {**shared, "nginx": nginx.proc.pid if nginx.proc else None},
        )  # fmt: skip
        out["one_host"] = one
        delivered += [e[4] for e in events if e[3] and e[4]]
        nginx.stop()

        hosts[1].start()
        hosts[1].wait_ready()
        delivered += warm_up(hosts[1:], questions)
        nginx = Nginx(work / "nginx-two", [h.address for h in hosts], max_body)
        nginx.start()
        out["nginx_config"] = nginx.config_file.read_text(encoding="utf-8")
        out["nginx_fail_timeout_s"] = FAIL_TIMEOUT_S
        two, events = scaling(
            "two-hosts", hosts, nginx, questions, params, work / "locust",
            {**shared, "nginx": nginx.proc.pid if nginx.proc else None},
        )  # fmt: skip
        out["two_hosts"] = two
        delivered += [e[4] for e in events if e[3] and e[4]]

        fail, events = failover(hosts, nginx, questions, params, work / "locust")
        out["failover"] = fail
        delivered += [e[4] for e in events if e[3] and e[4]]
    except (BenchError, RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
        out["errors"]["run"] = str(exc)
        log(f"cluster failed: {exc}")
    finally:
        if nginx is not None:
            nginx.stop()
        for host in hosts:
            host.stop()
        out["host_log_errors"] = {h.name: _log_errors(h) for h in hosts}
        if postgres is not None and postgres.proc is not None and "failover" in out:
            try:
                out["audit"] = audit_check(
                    postgres.url("emn"), delivered, out["failover"]["errors_around_kill"]
                )
                out["verify"] = verify_chain(
                    postgres.url("emn"), [h.checkpoint_file for h in hosts]
                )
            except Exception as exc:  # reported, and the servers are still stopped
                out["errors"]["audit"] = repr(exc)
        if chroma is not None:
            chroma.stop()
        if postgres is not None:
            postgres.stop()
        if keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return out


def _log_errors(host: Host) -> list[str]:
    from bench.http_bench import server_errors

    return server_errors(host.log, limit=60)
