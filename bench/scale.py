"""Retrieval cost as the index grows: synthetic indexes of N chunks built from the real corpus.

Vectors: each synthetic chunk is a real vector of the index (a chunk's or a sentence's) plus a
random share (0-0.5) of another real vector plus small Gaussian noise, renormalised: the
vectors stay in the region of embedding space the corpus occupies (as a bigger corpus of the
same kind would), without two being equal. Texts: 2-6 real sentences drawn at random,
with a real title and section path, so BM25 sees the corpus's vocabulary and term statistics.
Nothing is embedded.

Each size runs as two processes: `build` (insert into a Chroma PersistentClient in batches,
build and save the BM25 index; timed, with disk sizes and peak memory) and `query` (open the
index as the service would, then time dense, BM25 and fused retrieval for real dev questions
embedded once beforehand, through the project's own `IndexReader.dense`, `IndexReader.lexical`
and, fused, `HybridRetriever.ranked` (which runs both at once from 50k chunks on) and
`rag.retrieval.fuse`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.util import dir_size_mb, peak_rss_mb, rss_mb, summary

COLLECTION = "bench_scale"
INSERT_BATCH = 5000
NOISE_SIGMA = 0.02  # per dimension; for 384 dimensions the noise vector's norm is about 0.4
WARM_QUERIES = 5


def real_material(index_dir: Path) -> dict[str, Any]:
    """Vectors, sentences, titles and metadata of a real index, to build synthetic ones."""
    from common.settings import load_settings
    from index.chroma import chroma_client, get_collection
    from index.chunk_store import ChunkStore
    from index.schema import IndexPaths

    paths = IndexPaths(index_dir)
    manifest = paths.read_manifest()
    if manifest is None:
        raise RuntimeError(f"no index at {index_dir}: run `python -m ingest` first")
    store = ChunkStore(paths.chunk_store)
    try:
        chunks = list(store.iter_chunks())
        sentences = store.load_sentences(manifest.embedding_dimension)
    finally:
        store.close()
    settings = load_settings(index_dir=index_dir, collection=manifest.collection)
    collection = get_collection(chroma_client(settings), manifest.collection)
    got = collection.get(ids=[c.id for c in chunks], include=["embeddings"])
    by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
    chunk_vectors = np.asarray([by_id[c.id] for c in chunks], dtype=np.float32)
    sentence_texts: list[str] = []
    sentence_vectors: list[np.ndarray] = []
    for chunk in chunks:
        spans, vectors = sentences.get(chunk.id, ([], np.zeros((0, 1))))
        for (a, b), vector in zip(spans, vectors, strict=False):
            sentence_texts.append(chunk.text[a:b])
            sentence_vectors.append(vector)
    bases = np.vstack([chunk_vectors, *([np.vstack(sentence_vectors)] if sentence_vectors else [])])
    bases = bases[np.linalg.norm(bases, axis=1) > 0.5]  # sentences stored without a vector
    return {
        "bases": bases.astype(np.float32),
        "sentences": sentence_texts,
        "headers": [(c.doc.title, c.section_path) for c in chunks],
        "metadatas": [c.chroma_metadata() for c in chunks],
        "real_chunks": len(chunks),
    }


def synthetic_vectors(
    bases: np.ndarray, n: int, rng: np.random.Generator, sigma: float = NOISE_SIGMA
) -> np.ndarray:
    i = rng.integers(0, len(bases), n)
    j = rng.integers(0, len(bases), n)
    mix = rng.uniform(0.0, 0.5, (n, 1)).astype(np.float32)
    noise = rng.normal(0.0, sigma, (n, bases.shape[1])).astype(np.float32)
    vectors = bases[i] + mix * bases[j] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


class _Lexicon:
    """Token ids of the real sentences and headers, tokenised once with the project's own
    analyser; a synthetic chunk's tokens are its header's followed by its sentences', as
    `index.lexical.lexical_text` would give."""

    def __init__(self, sentences: list[str], headers: list[tuple[str, str]]) -> None:
        from index.lexical import lexical_header, tokenize

        self.vocab: dict[str, int] = {}
        self.sentence_ids = [self._ids(tokenize(s)) for s in sentences]
        self.header_ids = [self._ids(tokenize(lexical_header(t, p))) for t, p in headers]

    def _ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab.setdefault(t, len(self.vocab)) for t in tokens]


def build(params: dict[str, Any]) -> dict[str, Any]:
    """Build one synthetic index of `size` chunks in `workdir`."""
    from bm25s.tokenization import Tokenized

    from common.settings import load_settings
    from index.bm25 import write_bm25
    from index.chroma import chroma_client, get_collection

    size = int(params["size"])
    workdir = Path(params["workdir"])
    rng = np.random.default_rng(int(params.get("seed", 1)))
    material = real_material(Path(params["base_index_dir"]))
    bases, sentences, headers = material["bases"], material["sentences"], material["headers"]
    metadatas = material["metadatas"]
    lexicon = _Lexicon(sentences, headers)
    rss_start = rss_mb()

    settings = load_settings(index_dir=workdir, collection=COLLECTION, chroma_mode="embedded")
    client = chroma_client(settings)
    collection = get_collection(client, COLLECTION, create=True)
    batch = min(INSERT_BATCH, int(client.get_max_batch_size()))
    ids: list[str] = []
    token_ids: list[list[int]] = []
    insert_seconds = 0.0
    generate_seconds = 0.0
    for start in range(0, size, batch):
        n = min(batch, size - start)
        t0 = time.perf_counter()
        vectors = synthetic_vectors(bases, n, rng)
        batch_ids = [f"s{start + k:08d}" for k in range(n)]
        texts, metas = [], []
        for k in range(n):
            picked = rng.integers(0, len(sentences), int(rng.integers(2, 7)))
            texts.append(" ".join(sentences[p] for p in picked))
            h = int(rng.integers(0, len(headers)))
            metas.append({**metadatas[h], "ordinal": start + k})
            tokens = list(lexicon.header_ids[h])
            for p in picked:
                tokens.extend(lexicon.sentence_ids[p])
            token_ids.append(tokens)
        generate_seconds += time.perf_counter() - t0
        t0 = time.perf_counter()
        collection.add(ids=batch_ids, embeddings=vectors, documents=texts, metadatas=metas)
        insert_seconds += time.perf_counter() - t0
        ids.extend(batch_ids)
    count = collection.count()
    del client, collection
    rss_after_insert = rss_mb()

    t0 = time.perf_counter()
    bm25_dir = workdir / "bm25"
    write_bm25(Tokenized(ids=token_ids, vocab=dict(lexicon.vocab)), ids, bm25_dir)
    bm25_seconds = time.perf_counter() - t0
    tokens_total = sum(len(t) for t in token_ids)

    return {
        "size": size,
        "count": int(count),
        "real_chunks": material["real_chunks"],
        "base_vectors": len(bases),
        "insert_batch": batch,
        "generate_seconds": round(generate_seconds, 2),
        "insert_seconds": round(insert_seconds, 2),
        "insert_per_s": round(size / insert_seconds, 1) if insert_seconds else None,
        "bm25_build_seconds": round(bm25_seconds, 2),
        "tokens_per_chunk": round(tokens_total / size, 1) if size else None,
        "chroma_mb": dir_size_mb(workdir / "chroma"),
        "bm25_mb": dir_size_mb(bm25_dir),
        "rss_start_mb": rss_start,
        "rss_after_insert_mb": rss_after_insert,
        "peak_rss_build_mb": peak_rss_mb(),
    }


class _Sized(dict):
    """Stands in for `IndexReader.chunks`: `dense` reads only its length, and no chunk is
    found for keyword filters (this benchmark uses none)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self._n = n

    def __len__(self) -> int:
        return self._n


def query(params: dict[str, Any]) -> dict[str, Any]:
    """Open a built synthetic index as the service would and time retrieval."""
    from common.settings import load_settings
    from index.bm25 import read_bm25
    from index.chroma import chroma_client, get_collection
    from index.reader import IndexReader
    from rag.retrieval import HybridRetriever, QueryTerms, fuse

    workdir = Path(params["workdir"])
    questions: list[str] = params["questions"]
    vectors = np.load(params["query_vectors"])
    rss_start = rss_mb()

    # Chroma's graph at every size, the exact search below EMN_EXACT_SEARCH_MAX_CHUNKS
    # apart: this measures how the graph scales.
    settings = load_settings(index_dir=workdir, collection=COLLECTION, exact_search_max_chunks=0)
    t0 = time.perf_counter()
    collection = get_collection(chroma_client(settings), COLLECTION)
    count = int(collection.count())
    open_seconds = time.perf_counter() - t0
    reader = IndexReader(settings)
    reader._collection = collection
    reader.chunks = _Sized(count)  # type: ignore[assignment]
    t0 = time.perf_counter()
    bm25, ids = read_bm25(workdir / "bm25")
    reader.attach_lexical(bm25, ids)
    bm25_load_seconds = time.perf_counter() - t0
    retriever = HybridRetriever(reader)
    fetch_k = retriever.fetch_k
    # The keyword query as `HybridRetriever.ranked` builds it (money questions expanded).
    terms = [QueryTerms.of(q, reader) for q in questions]
    lexical_queries = [t.lexical_query(q) for q, t in zip(questions, terms, strict=True)]
    rss_loaded = rss_mb()

    t0 = time.perf_counter()
    reader.dense(vectors[0], fetch_k)
    first_dense_ms = (time.perf_counter() - t0) * 1000
    for i in range(min(WARM_QUERIES, len(questions))):
        fuse(*retriever.ranked(questions[i], vectors[i], terms[i], None))

    dense_ms, lexical_ms, fused_ms = [], [], []
    for question, term, lexical_query, vector in zip(
        questions, terms, lexical_queries, vectors, strict=True
    ):
        t0 = time.perf_counter()
        reader.dense(vector, fetch_k)
        t1 = time.perf_counter()
        reader.lexical(lexical_query, fetch_k)
        t2 = time.perf_counter()
        fuse(*retriever.ranked(question, vector, term, None))
        t3 = time.perf_counter()
        dense_ms.append((t1 - t0) * 1000)
        lexical_ms.append((t2 - t1) * 1000)
        fused_ms.append((t3 - t2) * 1000)
    return {
        "size": count,
        "queries": len(questions),
        "fetch_k": fetch_k,
        "open_seconds": round(open_seconds, 3),
        "bm25_load_seconds": round(bm25_load_seconds, 3),
        "first_dense_ms": round(first_dense_ms, 2),
        "dense_ms": summary(dense_ms),
        "bm25_ms": summary(lexical_ms),
        "fused_ms": summary(fused_ms),
        "rss_start_mb": rss_start,
        "rss_loaded_mb": rss_loaded,
        "rss_after_queries_mb": rss_mb(),
        "peak_rss_query_mb": peak_rss_mb(),
    }


def projected_ingest(
    size: int, sentences_per_chunk: float, raw_texts_per_s: float | None, overhead: float | None
) -> dict[str, Any]:
    """How long a real corpus of `size` chunks would take to ingest on this machine, from the
    measured embedding throughput (each chunk embeds itself and its sentences)."""
    texts = size * (1.0 + sentences_per_chunk)
    if not raw_texts_per_s:
        return {"texts": int(texts), "embedding_hours": None, "pipeline_hours": None}
    embedding = texts / raw_texts_per_s
    pipeline = embedding / overhead if overhead else None
    return {
        "texts": int(texts),
        "embedding_hours": round(embedding / 3600, 3),
        "pipeline_hours": round(pipeline / 3600, 3) if pipeline else None,
    }
