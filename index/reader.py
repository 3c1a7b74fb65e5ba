"""Read side of the index: Chroma for dense search, the chunk store for texts and sentence
vectors, BM25 for keywords. Loaded once per process and reloaded only when a new ingestion
has written a new manifest (so no request re-reads the index)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.settings import Settings
from index.bm25 import read_bm25
from index.chroma import (
    ChromaUnavailableError,
    chroma_client,
    collection_vectors,
    get_collection,
    multilingual_collection,
)
from index.chunk_store import ChunkStore
from index.lexical import ChunkTerms, tokenize
from index.lexical_search import LexicalMatrix
from index.quarantine import passage_is_suspicious
from index.schema import Chunk, Filters, IndexPaths, Manifest


class IndexNotReadyError(RuntimeError):
    """No index has been built yet (run `python -m ingest`)."""


@dataclass
class SentenceIndex:
    """Sentence spans and unit vectors of one chunk."""

    spans: list[tuple[int, int]]
    vectors: np.ndarray


TERMS_CACHE_SIZE = 50_000


def documents_of(ids: list[str], chunks: dict[str, Chunk]) -> tuple[list[Chunk], np.ndarray]:
    """One chunk of each document the ids belong to, and per id the index of its document
    in that list (-1 where the store lacks the chunk): filters look at documents only, so
    each is checked once and the answer spread to its chunks."""
    docs: list[Chunk] = []
    doc_index: dict[str, int] = {}
    positions = np.full(len(ids), -1, dtype=np.int32)
    for position, cid in enumerate(ids):
        chunk = chunks.get(cid)
        if chunk is None:
            continue
        index = doc_index.get(chunk.doc.doc_id)
        if index is None:
            index = doc_index[chunk.doc.doc_id] = len(docs)
            docs.append(chunk)
        positions[position] = index
    return docs, positions


@dataclass
class _ExactVectors:
    """A collection's vectors for exact cosine search: ids in id order, unit rows, and each
    row's document (an index into `docs`; -1, never allowed by a filter, for a vector
    whose chunk the store lacks)."""

    ids: list[str]
    vectors: np.ndarray
    row_doc: np.ndarray
    docs: list[Chunk]

    @classmethod
    def of(cls, ids: list[str], vectors: np.ndarray, chunks: dict[str, Chunk]) -> _ExactVectors:
        docs, row_doc = documents_of(ids, chunks)
        return cls(ids, vectors, row_doc, docs)

    def search(
        self, query_vector: np.ndarray, k: int, allowed_docs: np.ndarray | None
    ) -> list[tuple[str, float]]:
        """(id, cosine), best first; ties in id order. `allowed_docs`: per document, and one
        more entry (False) for rows without a document; None: every row."""
        if not len(self.ids):
            return []
        query = np.asarray(query_vector, dtype=np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        # einsum, not BLAS: right after the query embedding, BLAS's threads waited for
        # torch's (the retrieve step took 40 ms longer); one core does this in 0.3 ms.
        sims = np.einsum("ij,j->i", self.vectors, query)
        rows = np.arange(len(self.ids))
        if allowed_docs is not None:
            rows = rows[allowed_docs[self.row_doc]]
            sims = sims[rows]
        k = min(k, len(rows))
        if k <= 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
        top = top[np.lexsort((rows[top], -sims[top]))]
        return [(self.ids[rows[i]], float(sims[i])) for i in top]


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
        # Per chunk, its sentences' vectors from the multilingual model (same spans as
        # `sentences`); empty when the index has none.
        self.multilingual: dict[str, np.ndarray] = {}
        self._ml_collection: Any = None
        # Exact dense search (settings.exact_search_max_chunks): per collection (False: the
        # English model's, True: the multilingual one), its ids, unit vectors and the
        # document of each row; read from Chroma on the first question after a load.
        self._exact: dict[bool, _ExactVectors] = {}
        self.by_doc: dict[str, list[str]] = {}
        self._bm25: Any = None
        self._bm25_ids: list[str] = []
        self._lexical: LexicalMatrix | None = None
        # Document of each BM25 position (an index into _docs): filters become one gather.
        self._bm25_doc: np.ndarray = np.zeros(0, dtype=np.int32)
        self._docs: list[Chunk] = []
        self.quarantined: set[str] = set()
        self._doc_freq: np.ndarray = np.zeros(0)
        # Tokens of the chunks that have been candidates (tokenising was an eighth of a
        # question's time); bounded, so a huge index does not keep every chunk's tokens.
        self._terms: dict[str, ChunkTerms] = {}

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
            multilingual = store.load_multilingual() if manifest.multilingual_model else {}
        finally:
            store.close()
        by_doc: dict[str, list[str]] = {}
        for chunk in sorted(chunks.values(), key=lambda c: (c.doc.doc_id, c.ordinal)):
            by_doc.setdefault(chunk.doc.doc_id, []).append(chunk.id)
        bm25, ids = read_bm25(self.paths.bm25)
        self.manifest, self.chunks, self.sentences, self.by_doc = (
            manifest,
            chunks,
            sentences,
            by_doc,
        )
        self.multilingual = multilingual
        # Passages that address the assistant are data, never instructions: screened once
        # here, then kept out of every answer and search result.
        self.quarantined = {cid for cid, c in chunks.items() if passage_is_suspicious(c.text)}
        self._terms = {}
        self.attach_lexical(bm25, ids)
        self._collection = None  # reopened lazily (and after a Chroma outage)
        self._ml_collection = None
        self._exact = {}

    def attach_lexical(self, bm25: Any, ids: list[str]) -> None:
        """Use this BM25 index (positions are `ids`) for keyword search."""
        self._bm25, self._bm25_ids = bm25, ids
        self._lexical = LexicalMatrix.from_bm25(bm25) if bm25 is not None else None
        if self._lexical is not None:
            self._lexical.warm_up()
        # Documents per term (CSC columns are terms), for weighting query words.
        self._doc_freq = self._lexical.doc_freq if self._lexical else np.zeros(0)
        self._docs, self._bm25_doc = documents_of(ids, self.chunks)

    def collection(self) -> Any:
        if self._collection is None:
            self._collection = self._open(self.settings.collection)
        return self._collection

    @property
    def has_multilingual(self) -> bool:
        return bool(self.manifest and self.manifest.multilingual_model)

    def ml_collection(self) -> Any:
        if self._ml_collection is None:
            self._ml_collection = self._open(multilingual_collection(self.settings.collection))
        return self._ml_collection

    def _open(self, name: str) -> Any:
        try:
            return get_collection(chroma_client(self.settings), name)
        except ChromaUnavailableError:
            raise
        except Exception as exc:
            raise ChromaUnavailableError(f"Chroma collection unavailable: {exc}") from exc

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

    def warm_dense(self) -> None:
        """Open Chroma and read the vectors exact search keeps, now rather than on the first
        question (importing chromadb alone took 1.9 s of a first question); raises
        ChromaUnavailableError when unreachable."""
        self.check_chroma()
        for multilingual in (False, True) if self.has_multilingual else (False,):
            self._exact_vectors(multilingual)

    def terms(self, chunk: Chunk) -> ChunkTerms:
        terms = self._terms.get(chunk.id)
        if terms is None:
            sentences = self.sentences.get(chunk.id)
            terms = ChunkTerms.of(chunk, sentences.spans if sentences is not None else [])
            if len(self._terms) >= TERMS_CACHE_SIZE:
                self._terms.clear()
            self._terms[chunk.id] = terms
        return terms

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
        self,
        query_vector: np.ndarray,
        k: int,
        filters: Filters | None = None,
        multilingual: bool = False,
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first; `multilingual`: in the multilingual
        model's collection (the vector must come from that model)."""
        exact = self._exact_vectors(multilingual)
        if exact is not None:
            return exact.search(query_vector, k, self._allowed_docs(exact.docs, filters))
        try:
            collection = self.ml_collection() if multilingual else self.collection()
            result = collection.query(
                query_embeddings=[query_vector.tolist()],
                n_results=max(1, min(k, len(self.chunks) or 1)),
                where=self.chroma_where(filters),
                include=["distances"],
            )
        except Exception as exc:
            self._collection = self._ml_collection = None
            raise ChromaUnavailableError(f"Chroma query failed: {exc}") from exc
        ids = result["ids"][0]
        distances = result["distances"][0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=True)]

    def _exact_vectors(self, multilingual: bool) -> _ExactVectors | None:
        """The collection's vectors for exact search, or None where Chroma's graph answers
        (server mode, or more chunks than settings.exact_search_max_chunks)."""
        limit = self.settings.exact_search_max_chunks
        if self.settings.chroma_mode != "embedded" or not 0 < len(self.chunks) <= limit:
            return None
        exact = self._exact.get(multilingual)
        if exact is None:
            with self._lock:
                exact = self._exact.get(multilingual)
                if exact is None:
                    try:
                        collection = self.ml_collection() if multilingual else self.collection()
                        ids, vectors = collection_vectors(collection)
                    except Exception as exc:
                        self._collection = self._ml_collection = None
                        raise ChromaUnavailableError(f"Chroma read failed: {exc}") from exc
                    exact = self._exact[multilingual] = _ExactVectors.of(ids, vectors, self.chunks)
        return exact

    def _allowed_docs(self, docs: list[Chunk], filters: Filters | None) -> np.ndarray | None:
        """Per document of `documents_of`, whether it passes the filters, and a trailing
        False that position -1 (no chunk) picks; None: no filter."""
        if filters is None or filters.is_empty():
            return None
        return np.array([self.allowed(chunk, filters) for chunk in docs] + [False])

    def lexical(
        self, query: str, k: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; only chunks passing the filters."""
        if self._lexical is None:
            return []
        vocab = self._bm25.vocab_dict
        weights: dict[int, float] = {}
        for token in tokenize(query):  # a repeated word counts again, as in bm25s
            if token in vocab:
                weights[vocab[token]] = weights.get(vocab[token], 0.0) + 1.0
        top = self._lexical.top_k(weights, k, self.allowed_positions(filters))
        return [
            (self._bm25_ids[p], float(s)) for p, s in zip(top.positions, top.scores, strict=True)
        ]

    def allowed_positions(self, filters: Filters | None) -> np.ndarray | None:
        """Which BM25 positions pass the filters (None: all). Filters look at documents
        only, so each document is checked once and the answer spread to its chunks."""
        documents = self._allowed_docs(self._docs, filters)
        return None if documents is None else documents[self._bm25_doc]

    def idf(self, token: str) -> float:
        """Inverse document frequency of a (tokenised) term; 0 for unknown terms."""
        if self._bm25 is None or token not in self._bm25.vocab_dict:
            return 0.0
        n = len(self._bm25_ids)
        df = int(self._doc_freq[self._bm25.vocab_dict[token]])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
