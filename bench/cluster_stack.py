"""The processes of the cluster benchmark (`make bench-cluster`): API hosts, the nginx
reverse proxy in front of them, the shared index in a Chroma server, and the CPU time each
component spends.

A host is one `python -m api` process group (pinned to its cores with taskset) with its own
data folder and its own copy of the index folder (chunk store, BM25, manifest); every host
shares the PostgreSQL database and the Chroma server. `Host.kill()` is a SIGKILL of the whole
group, as a crashed machine would be; `Host.start()` again brings it back on the same port and
folders. All of it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.util import PYTHON, BenchError, child_env, copy_sqlite
from common.local_servers import free_port, wait_http_ok
from common.settings import PROJECT_ROOT, load_settings
from index.schema import IndexPaths
from ingest.embedding_cache import seed_path

STARTUP_COMPLETE = "Application startup complete."
# Passive failover: one failed attempt takes a host out for this long, then it is tried again.
FAIL_TIMEOUT_S = 1


# --- the shared index -------------------------------------------------------------------
def seed_embedding_cache(index_dir: Path) -> str | None:
    """Copy an existing embedding cache (the default corpus's shipped vectors, else the
    default index's) into `index_dir` so that ingesting embeds nothing already embedded; the
    source used, or None."""
    target = IndexPaths(index_dir).embedding_cache
    settings = load_settings()
    for source in (seed_path(settings), IndexPaths(settings.index_dir).embedding_cache):
        if source is not None and copy_sqlite(source, target):
            return str(source)
    return None


def ingest_into_chroma_server(index_dir: Path, corpus_dir: Path, chroma_port: int) -> float:
    """`python -m ingest` of `corpus_dir` into the Chroma server (vectors) and `index_dir`
    (chunk store, BM25, manifest); its wall time in seconds."""
    started = time.perf_counter()
    result = subprocess.run(
        [PYTHON, "-m", "ingest", "--index", str(index_dir), "--corpus", str(corpus_dir), "--quiet"],
        cwd=PROJECT_ROOT,
        env=child_env(chroma_env(chroma_port)),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0 or not (index_dir / "manifest.json").exists():
        raise BenchError(f"ingest into the Chroma server failed:\n{result.stderr[-3000:]}")
    return round(time.perf_counter() - started, 2)


def chroma_env(port: int) -> dict[str, str]:
    return {
        "EMN_CHROMA_MODE": "server",
        "EMN_CHROMA_HOST": "127.0.0.1",
        "EMN_CHROMA_PORT": str(port),
    }


# --- API hosts --------------------------------------------------------------------------
@dataclass
class Host:
    """One API host: `python -m api` with its own port, data folder and index copy."""

    name: str
    folder: Path
    env: dict[str, str]
    cpus: str | None = None
    workers: int = 1
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    starts: int = 0
    _log_offset: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """As nginx names it in $upstream_addr."""
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "host.log"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def checkpoint_file(self) -> Path:
        return self.data_dir / "audit-checkpoints.jsonl"

    def command(self) -> list[str]:
        pin = ["taskset", "-c", self.cpus] if self.cpus is not None else []
        return [*pin, PYTHON, "-m", "api"]

    def start(self) -> None:
        """Start the process group (no wait: `wait_ready`)."""
        if self.proc is not None and self.proc.poll() is None:
            raise BenchError(f"host {self.name} is already running")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        env = child_env(
            {
                **self.env,
                "EMN_API_HOST": "127.0.0.1",
                "EMN_API_PORT": str(self.port),
                "EMN_API_WORKERS": str(self.workers),
                "EMN_DATA_DIR": str(self.data_dir),
            }
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes every worker
            )
        self.starts += 1

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Until /readyz is 200 and every worker has finished its startup."""
        import httpx

        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"host {self.name} exited with status {self.proc.returncode}:\n"
                    f"{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(self.url + "/readyz", timeout=2).status_code == 200
                if ready and self.log_since_start().count(STARTUP_COMPLETE) >= self.workers:
                    return
            if time.monotonic() > deadline:
                raise BenchError(f"host {self.name} not ready within {timeout:.0f} s")
            time.sleep(0.1)

    def log_since_start(self) -> str:
        with contextlib.suppress(OSError), self.log.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")
        return ""

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def kill(self) -> None:
        """SIGKILL every process of the host at once (a crash: nothing is flushed)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the group (uvicorn drains, the audit log writes its shutdown checkpoint)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


# --- the reverse proxy ------------------------------------------------------------------
def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise BenchError(
            "nginx not found: install Debian's package (`apt-get install -y nginx-light`; "
            "`make bench-cluster` does it)"
        )
    return found


def nginx_config(
    listen_port: int, upstreams: list[str], folder: Path, max_body_bytes: int, debug: bool = True
) -> str:
    """The tested reverse-proxy configuration (docs/deployment.md shows it). `debug` adds the
    X-Upstream header the benchmark uses to tell which host answered."""
    servers = "\n".join(
        f"        server {address} max_fails=1 fail_timeout={FAIL_TIMEOUT_S}s;"
        for address in upstreams
    )
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    debug_header = "            add_header X-Upstream $upstream_addr always;\n" if debug else ""
    temp = folder / "tmp"
    return f"""# nginx in front of the EMN API hosts (written by bench/cluster_stack.py)
{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    upstream emn_api {{
{servers}
    }}
    # just inside the service's own limits (README, "Limits")
    large_client_header_buffers 4 16k;
    client_header_timeout 10s;
    client_body_timeout 15s;
    client_max_body_size {max_body_bytes};
    keepalive_timeout 5s;
    server {{
        listen 127.0.0.1:{listen_port};
        location / {{
            proxy_pass http://emn_api;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            # the client's address as nginx saw it (never one the client wrote itself);
            # each host trusts it from this proxy (uvicorn: FORWARDED_ALLOW_IPS)
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            # A host that refuses the connection (down) is skipped: the request is sent to
            # the next one. A POST that reached a host is never sent again (no
            # non_idempotent), so one /v1/ask never gives two answers or two audit records.
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
            proxy_buffering off;
{debug_header}        }}
    }}
}}
"""


@dataclass
class Nginx:
    """nginx as a foreground child process with its own configuration and folder."""

    folder: Path
    upstreams: list[str]
    max_body_bytes: int
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.folder / "nginx.conf"

    def start(self, timeout: float = 30.0) -> None:
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        for path in (self.folder, self.folder / "tmp"):
            path.chmod(0o755)  # the unprivileged worker creates its temporary files there
        self.config_file.write_text(
            nginx_config(self.port, self.upstreams, self.folder, self.max_body_bytes), "utf-8"
        )
        with (self.folder / "nginx.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [nginx_binary(), "-p", str(self.folder), "-c", str(self.config_file)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_http_ok(self.url + "/healthz", self.proc, timeout, "nginx")
        except (RuntimeError, TimeoutError) as exc:
            error_log = self.folder / "error.log"
            detail = error_log.read_text(errors="replace")[-2000:] if error_log.exists() else ""
            self.stop()
            raise BenchError(f"{exc}\n{detail}") from exc

    def stop(self) -> None:
        """Fast shutdown (SIGTERM) of the master and its worker."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


# --- CPU time per component ---------------------------------------------------------------
def tree_cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) of a process, its live descendants and the children it
    has reaped (PostgreSQL's finished backends, uvicorn's restarted workers)."""
    import psutil

    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    except psutil.Error:
        return 0.0
    return total


def machine_busy_seconds() -> list[float]:
    """Busy CPU seconds of each core since boot (everything but idle and iowait)."""
    import psutil

    return [
        sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
        for t in psutil.cpu_times(percpu=True)
    ]


def reaped_children_seconds() -> float:
    """CPU seconds of this process's children that have exited and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """CPU seconds per named component (a process tree) and per core over one phase.
    `reaped`: the name of a child that exits within the phase (Locust): its time is that of
    the children this process waited for during the phase."""

    pids: dict[str, int | None]
    reaped: str | None = None
    start: dict[str, float] = field(default_factory=dict)
    cores_start: list[float] = field(default_factory=list)
    started: float = 0.0

    def begin(self) -> None:
        self.start = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        if self.reaped:
            self.start[self.reaped] = reaped_children_seconds()
        self.cores_start = machine_busy_seconds()
        self.started = time.monotonic()

    def end(self) -> dict[str, object]:
        wall = time.monotonic() - self.started
        used = {
            name: round(tree_cpu_seconds(pid) - self.start.get(name, 0.0), 2)
            for name, pid in self.pids.items()
        }
        if self.reaped:
            used[self.reaped] = round(reaped_children_seconds() - self.start[self.reaped], 2)
        cores = [
            round(b - a, 2) for a, b in zip(self.cores_start, machine_busy_seconds(), strict=True)
        ]
        busy = sum(cores)
        return {
            "wall_seconds": round(wall, 2),
            "cpu_seconds": used,
            "other_cpu_seconds": round(max(0.0, busy - sum(used.values())), 2),
            "core_busy_share": [round(c / wall, 3) if wall else None for c in cores],
            "machine_busy_cores": round(busy / wall, 2) if wall else None,
        }
