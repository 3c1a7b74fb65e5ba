"""Read side of the index: Chroma for dense search, the chunk store for texts and sentence
vectors, BM25 for keywords. Loaded once per process and reloaded only when a new ingestion
has written a new manifest (so no request re-reads the index)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.chroma_client import ChromaUnavailableError, chroma_client, get_collection
from common.chunk_store import ChunkStore
from common.lexical import tokenize
from common.schema import Chunk, IndexPaths, Manifest
from common.settings import Settings
from rag.answer import Filters
from rag.guards import passage_is_suspicious


class IndexNotReadyError(RuntimeError):
    """No index has been built yet (run `python -m ingest`)."""


@dataclass
class SentenceIndex:
    """Sentence spans and unit vectors of one chunk."""

    spans: list[tuple[int, int]]
    vectors: np.ndarray


class IndexReader:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = IndexPaths(settings.index_dir)
        self._lock = threading.Lock()
        self._loaded_mtime: float | None = None
        self._collection: Any = None
        self.manifest: Manifest | None = None
        self.chunks: dict[str, Chunk] = {}
        self.sentences: dict[str, SentenceIndex] = {}
        self.by_doc: dict[str, list[str]] = {}
        self._bm25: Any = None
        self._bm25_ids: list[str] = []
        self.quarantined: set[str] = set()
        self._doc_freq: np.ndarray = np.zeros(0)

    # --- loading ----------------------------------------------------------------------
    def ensure_loaded(self) -> None:
        """Load on first use, and again whenever ingestion has replaced the manifest."""
        try:
            mtime = self.paths.manifest.stat().st_mtime
        except FileNotFoundError as exc:
            raise IndexNotReadyError(
                f"no index at {self.paths.root}: run `python -m ingest` (or `make run`) first"
            ) from exc
        if mtime == self._loaded_mtime:
            return
        with self._lock:
            if mtime != self._loaded_mtime:
                self._load()
                self._loaded_mtime = mtime

    def _load(self) -> None:
        import bm25s

        manifest = self.paths.read_manifest()
        if manifest is None:
            raise IndexNotReadyError(f"no manifest in {self.paths.root}")
        store = ChunkStore(self.paths.chunk_store)
        try:
            chunks = {c.id: c for c in store.iter_chunks()}
            sentences = {
                cid: SentenceIndex(spans, vectors)
                for cid, (spans, vectors) in store.load_sentences(
                    manifest.embedding_dimension
                ).items()
            }
        finally:
            store.close()
        by_doc: dict[str, list[str]] = {}
        for chunk in sorted(chunks.values(), key=lambda c: (c.doc.doc_id, c.ordinal)):
            by_doc.setdefault(chunk.doc.doc_id, []).append(chunk.id)
        ids = json.loads((self.paths.bm25 / "ids.json").read_text(encoding="utf-8"))
        bm25 = bm25s.BM25.load(str(self.paths.bm25 / "bm25s"), show_progress=False) if ids else None
        self.manifest, self.chunks, self.sentences, self.by_doc = (
            manifest,
            chunks,
            sentences,
            by_doc,
        )
        # Passages that address the assistant are data, never instructions: screened once
        # here, then kept out of every answer and search result.
        self.quarantined = {cid for cid, c in chunks.items() if passage_is_suspicious(c.text)}
        self._bm25, self._bm25_ids = bm25, ids
        # Documents per term (CSC columns are terms), for weighting query words.
        self._doc_freq = np.diff(bm25.scores["indptr"]) if bm25 is not None else np.zeros(0)
        self._collection = None  # reopened lazily (and after a Chroma outage)

    def collection(self) -> Any:
        if self._collection is None:
            try:
                client = chroma_client(self.settings)
                self._collection = get_collection(client, self.settings.collection)
            except ChromaUnavailableError:
                raise
            except Exception as exc:
                raise ChromaUnavailableError(f"Chroma collection unavailable: {exc}") from exc
        return self._collection

    def check_chroma(self) -> int:
        """Number of vectors in Chroma; raises ChromaUnavailableError when unreachable."""
        try:
            return int(self.collection().count())
        except ChromaUnavailableError:
            self._collection = None
            raise
        except Exception as exc:
            self._collection = None
            raise ChromaUnavailableError(f"Chroma unreachable: {exc}") from exc

    # --- filters ----------------------------------------------------------------------
    def allowed(self, chunk: Chunk, filters: Filters | None) -> bool:
        if filters is None or filters.is_empty():
            return True
        doc = chunk.doc
        if filters.doc_ids and doc.doc_id not in filters.doc_ids:
            return False
        if filters.kinds and doc.kind not in filters.kinds:
            return False
        if filters.date_from and (not doc.date or doc.date < filters.date_from):
            return False
        return not (filters.date_to and (not doc.date or doc.date > filters.date_to))

    @staticmethod
    def chroma_where(filters: Filters | None) -> dict[str, Any] | None:
        if filters is None or filters.is_empty():
            return None
        clauses: list[dict[str, Any]] = []
        if filters.doc_ids:
            clauses.append({"doc_id": {"$in": list(filters.doc_ids)}})
        if filters.kinds:
            clauses.append({"kind": {"$in": list(filters.kinds)}})
        if filters.date_from:
            clauses.append({"date_num": {"$gte": int(filters.date_from.replace("-", ""))}})
        if filters.date_to:
            clauses.append({"date_num": {"$lte": int(filters.date_to.replace("-", ""))}})
            clauses.append({"date_num": {"$gt": 0}})
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    # --- search -----------------------------------------------------------------------
    def dense(
        self, query_vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        try:
            result = self.collection().query(
                query_embeddings=[query_vector.tolist()],
                n_results=max(1, min(k, len(self.chunks) or 1)),
                where=self.chroma_where(filters),
                include=["distances"],
            )
        except Exception as exc:
            self._collection = None
            raise ChromaUnavailableError(f"Chroma query failed: {exc}") from exc
        ids = result["ids"][0]
        distances = result["distances"][0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]

    def lexical(
        self, query: str, k: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; only chunks passing the filters."""
        if self._bm25 is None:
            return []
        tokens = [t for t in tokenize(query) if t in self._bm25.vocab_dict]
        if not tokens:
            return []
        scores = self._bm25.get_scores(tokens)
        if filters is not None and not filters.is_empty():
            mask = np.array(
                [self.allowed(self.chunks[cid], filters) for cid in self._bm25_ids], dtype=bool
            )
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self._bm25_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def idf(self, token: str) -> float:
        """Inverse document frequency of a (tokenised) term; 0 for unknown terms."""
        if self._bm25 is None or token not in self._bm25.vocab_dict:
            return 0.0
        n = len(self._bm25_ids)
        df = int(self._doc_freq[self._bm25.vocab_dict[token]])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
