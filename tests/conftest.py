"""Session-wide fixtures shared by the test suites: the default corpus ingested once per
session, and real API servers (uvicorn subprocesses on free loopback ports).

Embedding is the slow part of ingestion (about a minute and a half for the default corpus on
two cores), so the session index takes the corpus's vectors that ship with the code
(ingest/corpus_vectors.sqlite, keyed by model and text hash: they can only skip work, never
change a result); tests/test_seed_vectors.py fails when they miss one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from api.protocol import HTTP_PROTOCOL
from common.local_servers import free_port, stop_process, wait_http_ok
from common.postgres_server import PostgresNotInstalledError, PostgresServer
from common.settings import PROJECT_ROOT, Settings, default_checkpoint_path
from index.schema import IndexPaths

if TYPE_CHECKING:
    from index.reader import IndexReader
    from rag.pipeline import Assistant
    from rag.verify import Verifier

PYTHON = sys.executable


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, write-ahead log included."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(str(source))
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@pytest.fixture(scope="session")
def default_index_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of an embedded index of the default corpus/, ingested once per session.
    Treat it as read-only; copy it (`copy_index`) to change it or to serve it."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        index_dir=tmp_path_factory.mktemp("default-index") / "index",
        corpus_dir=PROJECT_ROOT / "corpus",
        chroma_mode="embedded",
    )
    # Parallel workers (pytest -n 2) share one ingest: the first builds the index while the
    # others wait, then each starts from a copy of it (each worker's own files: Chroma writes
    # beside its database on open). The corpus's vectors ship with the code
    # (ingest/corpus_vectors.sqlite), so the build embeds nothing while they are current.
    shared = shared_session_dir(tmp_path_factory) / "default-index"
    with session_index_lock(shared.parent):
        if not (shared / INDEX_BUILT).exists():
            from ingest.pipeline import run_ingest

            report = run_ingest(settings.model_copy(update={"index_dir": shared / "index"}),
                                progress=False)  # fmt: skip
            assert report.ok, report.render()
            embedded = report.texts_embedded + report.multilingual_texts_embedded
            (shared / INDEX_BUILT).write_text(str(embedded), encoding="utf-8")
        shutil.copytree(shared / "index", settings.index_dir)
    return settings


INDEX_BUILT = "built"


def texts_embedded_for_session_index(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many texts the session's ingest of corpus/ embedded (0: every vector shipped)."""
    built = shared_session_dir(tmp_path_factory) / "default-index" / INDEX_BUILT
    return int(built.read_text(encoding="utf-8"))


def shared_session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder all workers of this session see (pytest-xdist gives each worker its own
    base temp folder inside a common one); a run without workers has it to itself."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def session_index_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock, across processes, on the session's shared index."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "default-index.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def assistant(default_index_settings: Settings) -> Iterator[Assistant]:
    """The product's default configuration (extractive composer) over the session index."""
    from rag.pipeline import Assistant

    assistant = Assistant(default_index_settings.model_copy(update={"composer": "extractive"}))
    assistant.warm_up()
    yield assistant


@pytest.fixture(scope="module")
def reader(default_index_settings: Settings) -> IndexReader:
    """The session index, loaded (chunks and their sentence vectors)."""
    from index.reader import IndexReader

    reader = IndexReader(default_index_settings)
    reader.ensure_loaded()
    return reader


@pytest.fixture(scope="module")
def verifier(default_index_settings: Settings) -> Verifier:
    """As the pipeline builds it: paraphrases are scored with the embedding model."""
    from common.embedding import embedder_from_settings
    from rag.verify import Verifier

    return Verifier(embed=embedder_from_settings(default_index_settings).embed_passages)


def copy_index(settings: Settings, target: Path, *, vectors: bool = True) -> Settings:
    """A private copy of an index (so servers never share Chroma files). Without `vectors`,
    only the embedding cache is kept: ingesting into another Chroma then embeds nothing."""
    if vectors:
        shutil.copytree(settings.index_dir, target)
    else:
        copy_sqlite(
            IndexPaths(settings.index_dir).embedding_cache, IndexPaths(target).embedding_cache
        )
    return settings.model_copy(update={"index_dir": target})


def settings_env(settings: Settings) -> dict[str, str]:
    """EMN_ variables that make a child process use the same index as `settings`."""
    return {
        "EMN_INDEX_DIR": str(settings.index_dir),
        "EMN_CORPUS_DIR": str(settings.corpus_dir),
        "EMN_COLLECTION": settings.collection,
        "EMN_CHROMA_MODE": settings.chroma_mode,
        "EMN_CHROMA_HOST": settings.chroma_host,
        "EMN_CHROMA_PORT": str(settings.chroma_port),
        "EMN_EMBEDDING_MODEL": settings.embedding_model,
        "EMN_MULTILINGUAL_MODEL": settings.multilingual_model,
    }


def child_env(emn: dict[str, str]) -> dict[str, str]:
    """The test process's environment without its EMN_ variables, plus `emn` and offline
    switches (no model hub, no telemetry)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMN_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    env.update(emn)
    return env


def python_output(code: str, emn: dict[str, str] | None = None, timeout: float = 180) -> str:
    """Run `code` in a fresh Python process (nothing imported yet) from the project root;
    its standard output. Fails the test, with the process's stderr, when it fails."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=child_env(emn or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@dataclass
class ApiServer:
    """A running `uvicorn api.main:app` subprocess."""

    port: int
    proc: subprocess.Popen
    env: dict[str, str]
    workdir: Path
    log: Path
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def database_url(self) -> str:
        return self.env["EMN_DATABASE_URL"]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc)


def start_api_server(
    workdir: Path, emn: dict[str, str], *, timeout: float = 120.0, workers: int = 1
) -> ApiServer:
    """Start the API on a free loopback port with the given EMN_ environment and wait until
    /healthz answers (the index and the embedding model are loaded by then) in each of its
    `workers` processes (one by default: the suite does not pay for more). Its data (keys,
    audit log) defaults to `workdir`/data; its log is `workdir`/server.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    emn = {
        "EMN_DATA_DIR": str(workdir / "data"),
        "EMN_DATABASE_URL": f"sqlite:///{workdir / 'data' / 'audit.sqlite'}",
        "EMN_API_WORKERS": str(workers),
        **emn,
    }
    env = child_env(emn)
    log = workdir / "server.log"
    command = [PYTHON, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log", "--workers", str(workers),
               "--http", HTTP_PROTOCOL]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = ApiServer(port=port, proc=proc, env=emn, workdir=workdir, log=log)
    try:
        wait_http_ok(server.url("/healthz"), proc, timeout, "the API server")
        wait_workers_ready(server, workers, timeout)
    except Exception as exc:
        server.stop()
        raise RuntimeError(f"{exc}\n--- server log ---\n{server.log_tail()}") from exc
    return server


STARTUP_COMPLETE = "Application startup complete."


def wait_workers_ready(server: ApiServer, workers: int, timeout: float) -> None:
    """With several workers, /healthz answers as soon as one is up: wait until uvicorn has
    logged the end of startup for each of them."""
    deadline = time.monotonic() + timeout
    while server.log.read_text(errors="replace").count(STARTUP_COMPLETE) < workers:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the API server exited with status {server.proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{workers} API workers were not ready within {timeout:.0f} s")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def api_server(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The API in open mode (no keys) over a copy of the session index, with a rate limit
    high enough for fuzzing; stopped at the end of the session."""
    workdir = tmp_path_factory.mktemp("api-open")
    settings = copy_index(default_index_settings, workdir / "index")
    server = start_api_server(
        workdir,
        {
            **settings_env(settings),
            "EMN_AUTH_MODE": "open",
            # No chat model runs there: the 'llm' composer falls back to extractive at once.
            "EMN_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
            "EMN_RATE_LIMIT_PER_MINUTE": "100000",
            "EMN_RATE_LIMIT_BURST": "10000",
        },
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's package) on a free loopback port for the session."""
    try:
        server = PostgresServer().start()
    except PostgresNotInstalledError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty PostgreSQL database for one test (SQLAlchemy URL)."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("postgres_url")


@dataclass(frozen=True)
class AuditDb:
    """An audit database under test (a SQLite file or a PostgreSQL database) and the signed
    checkpoint file that goes with it (`python -m api.audit --db URL --checkpoints FILE`)."""

    url: str
    checkpoints: Path


def sqlite_db(path: Path) -> AuditDb:
    """A SQLite file with its checkpoint file where the service keeps it (beside it)."""
    url = f"sqlite:///{path}"
    return AuditDb(url, default_checkpoint_path(url, path.parent))


@pytest.fixture
def audit_db(database_url: str, tmp_path: Path) -> AuditDb:
    """The audit tests' database: each runs on SQLite and on PostgreSQL."""
    return AuditDb(database_url, tmp_path / "audit-checkpoints.jsonl")
