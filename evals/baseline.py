"""A naive LangChain RAG, run on the same questions as the assistant so the report shows what
our ingestion, retrieval, guards and verification add, metric by metric.

- Documents: every file of the corpus folder read as text (`catalog.json` and hidden files
  skipped; PDFs through pypdf's plain text extraction, HTML and Markdown raw, markup and all).
- Chunks: LangChain's `RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`.
- Vectors: the project's embedding model (the same MiniLM the index uses), wrapped as a
  LangChain `Embeddings`; never Chroma's default embedding function. Vectors are cached on disk
  by text hash (they depend only on the model), so a rerun does not re-embed the corpus.
- Store: an ephemeral (in-memory) Chroma collection, cosine space.
- Retrieval: similarity top-4 for the question.
- Answer: the same answer step as the assistant, the project's `ExtractiveComposer` over those 4
  passages (their sentences split and embedded at build time, as ingestion does for the index;
  question-term weights from the baseline's own chunks); [n] cites the n-th passage.
- No guards, no verification, no abstention: it always answers.

Latency is measured like the assistant's: question embedding + search ("retrieve") and
composing ("compose"), with their sum as "total"; building the store is not part of it.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter

from evals.dataset import Item
from evals.targets import RANKING_DEPTH, Passage, Reply, shown_path

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
TOP_K = 4
TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".html", ".htm", ".xml", ".csv", ".rst"}
_MARKER = re.compile(r"\[(\d+)\]")


def cache_path_for(settings: Any) -> Path:
    """Where the baseline keeps its vectors: beside the index folder (not inside it, which
    belongs to ingestion)."""
    return Path(settings.index_dir).parent / "baseline-embedding-cache.sqlite"


class ProjectEmbeddings(Embeddings):
    """The project's embedder as a LangChain `Embeddings` (optionally with a vector cache)."""

    def __init__(self, embedder: Any, cache_path: Path | None = None) -> None:
        self.embedder = embedder
        self.cache_path = cache_path

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_matrix(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()

    def embed_matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        if self.cache_path is None:
            return np.asarray(self.embedder.embed_passages(texts), dtype=np.float32)
        from index.schema import text_hash
        from ingest.embedding_cache import EmbeddingCache

        cache = EmbeddingCache(self.cache_path, self.embedder.model_id)
        try:
            vectors, _ = cache.embed(texts, self.embedder.embed_passages, self.embedder.batch_size)
        finally:
            cache.close()
        return np.vstack([vectors[text_hash(t)] for t in texts]).astype(np.float32)


def read_corpus(corpus_dir: Path) -> list[Document]:
    """Every document file of the folder as one LangChain `Document` of raw text."""
    docs = []
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if not path.is_file() or path.name == "catalog.json":
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        suffix = path.suffix.lower()
        if suffix == ".pdf":
            from pypdf import PdfReader

            try:
                text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
            except Exception:  # a naive baseline skips what it cannot read
                continue
        elif suffix in TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8", errors="replace")
        else:
            continue
        if text.strip():
            docs.append(Document(page_content=text, metadata={"source": rel.as_posix()}))
    return docs


class _Idf:
    """Term weights of the baseline's chunks, for the composer's question-term coverage."""

    def __init__(self, texts: list[str]) -> None:
        from index.lexical import tokenize

        self.n = len(texts)
        self.df: Counter[str] = Counter()
        for text in texts:
            self.df.update(set(tokenize(text)))

    def idf(self, token: str) -> float:
        df = self.df.get(token, 0)
        if not df:
            return 0.0
        return float(math.log(1 + (self.n - df + 0.5) / (df + 0.5)))


class BaselineTarget:
    name = "baseline"

    def __init__(self, settings: Any, cache_path: Path | None = None) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        from common.embedding import embedder_from_settings
        from common.sentences import split_sentences
        from rag.composers.extractive import ExtractiveComposer

        started = time.perf_counter()
        self.corpus_dir = Path(settings.corpus_dir)
        self.embeddings = ProjectEmbeddings(embedder_from_settings(settings), cache_path)
        self.composer = ExtractiveComposer()
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP
        )
        self.documents = read_corpus(self.corpus_dir)
        chunks = splitter.split_documents(self.documents)
        self.chunks: dict[str, Document] = {}
        for i, chunk in enumerate(chunks):
            self.chunks[f"b{i:05d}"] = chunk
        ids = list(self.chunks)
        texts = [c.page_content for c in self.chunks.values()]
        client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        self._client = client
        self.collection = client.create_collection(
            name=f"baseline-{uuid.uuid4().hex[:12]}",
            metadata={"hnsw:space": "cosine"},
            embedding_function=None,
        )
        vectors = self.embeddings.embed_documents(texts)
        for start in range(0, len(ids), 1000):
            self.collection.add(
                ids=ids[start : start + 1000],
                embeddings=vectors[start : start + 1000],
                documents=texts[start : start + 1000],
                metadatas=[self.chunks[i].metadata for i in ids[start : start + 1000]],
            )
        # Sentences of every chunk, split and embedded once (as ingestion does for the index).
        self.spans = {cid: split_sentences(self.chunks[cid].page_content) for cid in ids}
        flat = [self.chunks[cid].page_content[a:b] for cid in ids for a, b in self.spans[cid]]
        matrix = self.embeddings.embed_matrix(flat)
        self.sentence_vectors: dict[str, np.ndarray] = {}
        offset = 0
        for cid in ids:
            n = len(self.spans[cid])
            self.sentence_vectors[cid] = matrix[offset : offset + n]
            offset += n
        self.idf = _Idf(texts)
        self.build_seconds = round(time.perf_counter() - started, 2)
        self._last: tuple[str, np.ndarray] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "mode": "in-process",
            "corpus_dir": shown_path(self.corpus_dir),
            "documents": len(self.documents),
            "chunks": len(self.chunks),
            "splitter": f"RecursiveCharacterTextSplitter(chunk_size={CHUNK_SIZE}, "
            f"chunk_overlap={CHUNK_OVERLAP})",
            "store": "chromadb EphemeralClient, cosine",
            "top_k": TOP_K,
            "composer": "extractive (rag.composers.extractive.ExtractiveComposer), no verification",
            "build_seconds": self.build_seconds,
        }

    def _query_vector(self, question: str) -> np.ndarray:
        if self._last is None or self._last[0] != question:
            vector = np.asarray(self.embeddings.embed_query(question), dtype=np.float32)
            self._last = (question, vector)
        return self._last[1]

    def search(self, question: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        vector = self._query_vector(question)
        result = self.collection.query(
            query_embeddings=[vector.tolist()],
            n_results=max(1, min(k, len(self.chunks))),
            include=["distances"],
        )
        return [
            (cid, 1.0 - float(d))
            for cid, d in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def _candidate(self, cid: str, score: float, query_vector: np.ndarray) -> Any:
        from index.schema import Chunk, DocumentMeta
        from rag.retrieval import Candidate

        doc = self.chunks[cid]
        source = doc.metadata["source"]
        vectors = self.sentence_vectors[cid]
        sims = vectors @ query_vector if len(vectors) else np.zeros(0, dtype=np.float32)
        chunk = Chunk(
            id=cid,
            doc=DocumentMeta(doc_id=source, title=source),
            ordinal=int(cid[1:]),
            text=doc.page_content,
        )
        return Candidate(
            chunk=chunk,
            dense=score,
            dense_rank=None,
            sentence_spans=self.spans[cid],
            sentence_vectors=vectors if len(vectors) else np.zeros((0, 1), dtype=np.float32),
            sentence_sims=sims,
            best_sentence=float(sims.max()) if len(sims) else 0.0,
            score=score,
        )

    def ask(self, item: Item) -> Reply:
        from rag.composers.base import ComposeInput
        from rag.question import classify_question
        from rag.retrieval import QueryTerms

        self._last = None  # the question embedding is part of the timed retrieval
        t0 = time.perf_counter()
        top = self.search(item.question, TOP_K)
        t1 = time.perf_counter()
        vector = self._query_vector(item.question)
        passages = [self._candidate(cid, score, vector) for cid, score in top]
        wants_numbers, wants_list = classify_question(item.question)
        data = ComposeInput(
            question=item.question,
            passages=passages,
            query_vector=vector,
            terms=QueryTerms.of(item.question, self.idf),  # type: ignore[arg-type]
            wants_numbers=wants_numbers,
            wants_list=wants_list,
        )
        text = self.composer.compose(data).text
        t2 = time.perf_counter()
        citations = []
        for n in dict.fromkeys(int(m) for m in _MARKER.findall(text)):
            if 1 <= n <= len(passages):
                chunk = passages[n - 1].chunk
                citations.append(
                    {
                        "marker": n,
                        "chunk_id": chunk.id,
                        "doc_id": chunk.doc.doc_id,
                        "quote": chunk.text,
                    }
                )
        timings = {
            "retrieve": round((t1 - t0) * 1000, 2),
            "compose": round((t2 - t1) * 1000, 2),
            "total": round((t2 - t0) * 1000, 2),
        }
        return Reply(
            answer=text,
            behaviour="answered",
            citations=citations,
            timings=timings,
            retrieval=[
                {
                    "chunk_id": cid,
                    "doc_id": self.chunks[cid].metadata["source"],
                    "score": round(score, 4),
                }
                for cid, score in top
            ],
            wall_ms=timings["total"],
        )

    def ranking(self, item: Item, reply: Reply) -> list[Passage]:
        """Its top-4 (the trace), then the next passages of a k=10 similarity search."""
        ids = [r["chunk_id"] for r in reply.retrieval]
        for cid, _ in self.search(item.question, RANKING_DEPTH):
            if len(ids) >= RANKING_DEPTH:
                break
            if cid not in ids:
                ids.append(cid)
        return [
            Passage(cid, self.chunks[cid].metadata["source"], self.chunks[cid].page_content)
            for cid in ids
        ]

    def close(self) -> None:
        # an in-memory collection goes with the process anyway
        with contextlib.suppress(Exception):
            self._client.delete_collection(self.collection.name)
