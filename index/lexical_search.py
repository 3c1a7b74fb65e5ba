"""Exact BM25 top-k over bm25s's precomputed score matrix, without scoring every chunk.

bm25s stores one BM25 score per (term, chunk) in a CSC matrix (a column per term, chunk
positions sorted). Adding a query's columns into an array of N scores and partitioning all N
made keyword search grow with the index (15 ms at a million chunks). Instead, MaxScore, in
compiled loops (`index.lexical_kernels`) over blocks of chunk positions:

- theta, a lower bound on the k-th best score, is the k-th best found so far (a heap), so it
  rises as the search goes;
- "lazy" terms, those with the smallest best contributions, summing to under a share of
  theta (`LAZY_SHARE`), cannot lift a chunk into the top k on their own: their columns are
  not added. The other ("essential") columns' postings in the block are added in full;
- a chunk is a candidate when its partial score plus what the lazy terms could add reaches
  theta; each candidate looks the lazy terms up (a cursor moving forward in each column)
  until it can no longer reach theta. Groups of 64 chunks whose best partial score cannot
  reach theta are skipped whole.

A filter that leaves few chunks scores just those, by lookups. Either way the result is the
exact top k (ties go to the lower position), as scoring every chunk would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from index import lexical_kernels

# Chunk positions per block (their partial scores, 128 KB, stay in the CPU's cache).
BLOCK = 32_768
# Lazy terms' best contributions sum to at most this share of theta. 1 would be classic
# MaxScore (fewest columns added); but each lookup is a few cache misses while adding a
# column streams through memory, so fewer lazy terms, hence fewer candidates, are faster.
# Measured on the 1M-chunk benchmark index, dev questions, p95: 11.5 ms at 1, 5.0 at 0.55,
# 3.2 at 0.25, 5.6 at 0 (every column added).
LAZY_SHARE = 0.25
# Looking one chunk up in a term's column (a galloping seek, cache misses) costs about as much
# as adding this many postings of a column in full.
LOOKUP_COST = 64
# Prune with a small margin: partial sums are float32, the bound is float64.
_MARGIN = 1e-4
_NO_FILTER = np.zeros(1, dtype=bool)


@dataclass(frozen=True)
class TopK:
    """Positions (into the index's chunk order) and BM25 scores, best first."""

    positions: np.ndarray
    scores: np.ndarray


class LexicalMatrix:
    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        num_docs: int,
    ) -> None:
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        self.indices = np.ascontiguousarray(indices)
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.num_docs = int(num_docs)
        self.doc_freq = np.diff(self.indptr)
        nonempty = self.doc_freq > 0
        self.col_max = np.zeros(len(self.doc_freq), dtype=np.float64)
        if nonempty.any():
            self.col_max[nonempty] = np.maximum.reduceat(self.data, self.indptr[:-1][nonempty])

    @classmethod
    def from_bm25(cls, bm25: Any) -> LexicalMatrix:
        """From a loaded `bm25s.BM25` (its default 'lucene' variant: a term absent from a
        chunk adds nothing)."""
        if getattr(bm25, "nonoccurrence_array", None) is not None:
            raise ValueError(f"BM25 variant {bm25.method!r} scores absent terms; not supported")
        scores = bm25.scores
        return cls(scores["data"], scores["indices"], scores["indptr"], scores["num_docs"])

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the search loops now, not in a request."""
        terms = {int(t): 1.0 for t in np.argsort(-self.doc_freq)[:3]}
        if terms and self.num_docs:
            self.top_k(terms, 1)
            self.top_k(terms, 1, np.ones(self.num_docs, dtype=bool))
            self.top_k(terms, 1, np.arange(self.num_docs) == 0)

    def top_k(self, weights: dict[int, float], k: int, allowed: np.ndarray | None = None) -> TopK:
        """The k best-scoring chunks with a score above 0 among `allowed` (a boolean mask
        over positions; None: all)."""
        empty = TopK(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
        weights = {t: w for t, w in weights.items() if w > 0 and self.doc_freq[t] > 0}
        if not weights or k <= 0 or self.num_docs == 0:
            return empty
        terms = np.fromiter(weights, dtype=np.int64, count=len(weights))
        term_weights = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        if allowed is not None:
            allowed = np.ascontiguousarray(allowed, dtype=bool)
            few = int(np.count_nonzero(allowed))
            if few == 0:
                return empty
            if few * len(terms) * LOOKUP_COST < int(self.doc_freq[terms].sum()):
                positions, scores = lexical_kernels.score_positions(
                    terms, term_weights, k, self.indptr, self.indices, self.data,
                    np.flatnonzero(allowed),
                )  # fmt: skip
                return TopK(positions, scores)
        positions, scores = lexical_kernels.top_k_maxscore(
            terms, term_weights, term_weights * self.col_max[terms], k, self.num_docs,
            self.indptr, self.indices, self.data,
            _NO_FILTER if allowed is None else allowed, allowed is not None,
            BLOCK, LAZY_SHARE, _MARGIN,
        )  # fmt: skip
        return TopK(positions, scores)
