"""Ingestion throughput against the raw embedding model, in one fresh process.

1. The whole ingestion job into an empty index folder (no embedding cache): loaders, chunking,
   sentence splitting, model loading, embedding, Chroma, chunk store, BM25, manifest.
2. The raw model on the same texts (each chunk's embedding text and each sentence, de-duplicated
   as ingestion does), with the same batch size, through `Embedder.embed_passages`: the best
   the pipeline could do. pipeline chunks/s ÷ raw chunks/s is the share of the job's time the
   model alone would need (1.0 = no overhead).
3. A no-change re-ingest in the same process (the CLI's wall time, imports included, is
   measured by the caller in another process).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.util import peak_rss_mb, rss_mb


def corpus_texts(index_dir: Path) -> tuple[list[str], int, int]:
    """The texts ingestion embeds for an index (unique, in first-seen order), with the counts
    of chunks and sentences."""
    from index.chunk_store import ChunkStore
    from index.schema import IndexPaths
    from ingest.pipeline import chunk_sentences, embedding_text

    store = ChunkStore(IndexPaths(index_dir).chunk_store)
    try:
        chunks = list(store.iter_chunks())
    finally:
        store.close()
    texts: list[str] = []
    n_sentences = 0
    for chunk in chunks:
        texts.append(embedding_text(chunk))
        spans = chunk_sentences(chunk)
        n_sentences += len(spans)
        texts.extend(chunk.text[a:b] for a, b in spans)
    return list(dict.fromkeys(texts)), len(chunks), n_sentences


def embed_queries(settings: Any, questions: list[str], target: Path) -> float:
    """Embed the benchmark's queries once (the scale curve then needs no model); seconds."""
    import numpy as np

    from common.embedding import embedder_from_settings

    embedder = embedder_from_settings(settings)
    started = time.perf_counter()
    vectors = embedder.embed_queries(questions)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.save(target, vectors.astype(np.float32))
    return time.perf_counter() - started


def coldstart(params: dict[str, Any]) -> dict[str, Any]:
    """What a fresh process pays before its first embedding: imports (torch, then the library
    that runs the model), weights, first call."""
    t0 = time.perf_counter()
    import torch  # noqa: F401

    t1 = time.perf_counter()
    from common.embedding import embedder_from_settings
    from common.settings import load_settings

    embedder = embedder_from_settings(load_settings())
    if embedder.engine == "bert":
        runtime = "the plain-torch BERT (safetensors, tokenizers)"
        import safetensors.torch  # noqa: F401
        import tokenizers  # noqa: F401
    elif embedder.engine == "transformers":
        runtime = "transformers"
        from transformers import AutoModel  # noqa: F401
    else:
        runtime = "sentence-transformers"
        import sentence_transformers  # noqa: F401

    t2 = time.perf_counter()
    _ = embedder.model
    t3 = time.perf_counter()
    embedder.embed_query("How is the EMN work programme financed?")
    t4 = time.perf_counter()
    embedder.embed_query("Which Member States take part in the EMN?")
    t5 = time.perf_counter()
    return {
        "import_torch_seconds": round(t1 - t0, 2),
        "runtime": runtime,
        "import_runtime_seconds": round(t2 - t1, 2),
        "load_weights_seconds": round(t3 - t2, 2),
        "first_query_ms": round((t4 - t3) * 1000, 1),
        "second_query_ms": round((t5 - t4) * 1000, 1),
        "rss_mb": rss_mb(),
    }


def run(params: dict[str, Any]) -> dict[str, Any]:
    from common.embedding import embedder_from_settings
    from common.settings import load_settings
    from ingest.pipeline import run_ingest

    settings = load_settings(index_dir=Path(params["index_dir"]), corpus_dir=params["corpus_dir"])
    rss_start = rss_mb()
    report = run_ingest(settings, progress=False)
    if not report.ok:
        failed = "; ".join(f"{r.file}: {r.error}" for r in report.failed)
        raise RuntimeError(f"ingestion failed: {failed}")
    peak_ingest = peak_rss_mb()
    rss_after = rss_mb()

    texts, n_chunks, n_sentences = corpus_texts(settings.index_dir)
    embedder = embedder_from_settings(settings)  # the instance ingestion used, model loaded
    batch = settings.embedding_batch_size
    embedder.embed_passages(texts[:batch], batch_size=batch)  # same warm state as the pipeline
    t0 = time.perf_counter()
    embedder.embed_passages(texts, batch_size=batch)
    raw_seconds = time.perf_counter() - t0

    noop = run_ingest(settings, progress=False)

    queries_seconds = None
    if params.get("queries"):
        queries_seconds = embed_queries(settings, params["queries"], Path(params["queries_out"]))

    seconds = report.seconds
    pipeline_cps = report.chunks_added / seconds if seconds else 0.0
    raw_cps = n_chunks / raw_seconds if raw_seconds else 0.0
    return {
        "device": embedder.device,
        "model": embedder.model_id,
        "batch_size": batch,
        "documents": report.count("added"),
        "chunks": report.chunks_added,
        "sentences": n_sentences,
        "sentences_per_chunk": round(n_sentences / n_chunks, 2) if n_chunks else None,
        "texts_embedded": report.texts_embedded,
        "unique_texts": len(texts),
        "seconds": round(seconds, 2),
        "embedding_seconds": round(report.embedding_seconds, 2),
        "non_embedding_seconds": round(seconds - report.embedding_seconds, 2),
        "pipeline_chunks_per_s": round(pipeline_cps, 2),
        "pipeline_texts_per_s": round(report.texts_embedded / seconds, 2) if seconds else None,
        "raw_seconds": round(raw_seconds, 2),
        "raw_texts_per_s": round(len(texts) / raw_seconds, 2) if raw_seconds else None,
        "raw_chunks_per_s": round(raw_cps, 2),
        "pipeline_vs_raw": round(pipeline_cps / raw_cps, 3) if raw_cps else None,
        "noop_reingest_seconds": round(noop.seconds, 3),
        "noop_reingest_changed_chunks": noop.chunks_added + noop.chunks_removed,
        "rss_start_mb": rss_start,
        "rss_after_ingest_mb": rss_after,
        "peak_rss_ingest_mb": peak_ingest,
        "queries_embed_seconds": round(queries_seconds, 2) if queries_seconds else None,
    }
