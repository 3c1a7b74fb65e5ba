"""Exact BM25 top-k over bm25s's precomputed score matrix, without sorting every chunk.

bm25s stores one BM25 score per (term, chunk) in a CSC matrix (a column per term, chunk
positions sorted). Adding a query's columns into an array of N scores and partitioning all N
made keyword search grow with the index (15 ms at a million chunks, more than half of it the
partition). For a large index (many postings in the query's columns):

1. `theta`, a lower bound on the k-th best score: the columns of the terms that can contribute
   most (rare terms: short columns, added in any case) go in first, and the chunks leading on
   them are scored exactly; theta is the k-th best of those;
2. MaxScore: the terms whose best contributions sum to less than theta (common terms, long
   columns) cannot lift a chunk into the top k on their own, so they create no candidates;
   the other columns are added in full;
3. the candidates are the chunks whose partial score plus what the lazy terms could still add
   reaches theta; each lazy term is looked up for them (binary search in its column) while
   they are few, and candidates that can no longer reach theta are dropped; when they are
   many, pruning does not pay and the lazy columns are added in full;
4. the top k come from the chunks at or above theta, not from a partition of all N.

A small index is scored exhaustively (cheaper than the bookkeeping). Either way the result is
the exact top k (ties go to the lower position), as `scores_all` would give.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import Any

import numpy as np

# Below this many postings in the query's columns, score every chunk.
EXHAUSTIVE_BELOW = 50_000
REFINE_TERMS = 2
REFINE_POOL = 256
# Looking one chunk up in a term's column (a binary search, cache misses) costs about as much
# as adding this many postings of a column in full.
LOOKUP_COST = 64
# Prune with a small margin: partial sums are float32, the bound is float64.
_MARGIN = 1e-4


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
        self.data = np.asarray(data, dtype=np.float32)
        self.indices = np.asarray(indices)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.num_docs = int(num_docs)
        self.doc_freq = np.diff(self.indptr)
        self._spare: queue.SimpleQueue[tuple[np.ndarray, np.ndarray]] = queue.SimpleQueue()
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

    def _take_buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """A zeroed score array and a mask array of N, reused across queries: fresh ones would
        page-fault on first touch (about a millisecond at a million chunks). As many pairs
        exist as queries have run at once; each goes back with `_give_back`."""
        try:
            scores, mask = self._spare.get_nowait()
        except queue.Empty:
            return np.zeros(self.num_docs, dtype=np.float32), np.zeros(self.num_docs, dtype=bool)
        scores.fill(0.0)
        return scores, mask

    def _give_back(self, buffers: tuple[np.ndarray, np.ndarray]) -> None:
        self._spare.put(buffers)

    # --- scoring ----------------------------------------------------------------------
    def lookup(self, term: int, positions: np.ndarray) -> np.ndarray:
        """The term's score in each chunk of `positions` (sorted or not); 0 where absent."""
        start, end = self.indptr[term], self.indptr[term + 1]
        if end == start or len(positions) == 0:
            return np.zeros(len(positions), dtype=np.float64)
        column = self.indices[start:end]
        # Same dtype as the column, or numpy converts the whole column for every search.
        positions = positions.astype(column.dtype, copy=False)
        j = np.minimum(np.searchsorted(column, positions), end - start - 1)
        return np.where(column[j] == positions, self.data[start + j], 0.0).astype(np.float64)

    def _add_column(self, scores: np.ndarray, term: int, weight: float) -> None:
        start, end = self.indptr[term], self.indptr[term + 1]
        values = self.data[start:end]
        np.add.at(scores, self.indices[start:end], values if weight == 1.0 else values * weight)

    def scores_all(self, weights: dict[int, float]) -> np.ndarray:
        """Every chunk's score (the exhaustive reference)."""
        scores = np.zeros(self.num_docs, dtype=np.float32)
        for term, weight in weights.items():
            self._add_column(scores, term, weight)
        return scores

    @staticmethod
    def _select(scores: np.ndarray, k: int, allowed: np.ndarray | None) -> TopK:
        positions = np.flatnonzero(scores > 0)
        if allowed is not None:
            positions = positions[allowed[positions]]
        return LexicalMatrix._best(positions, scores[positions].astype(np.float64), k)

    @staticmethod
    def _best(positions: np.ndarray, scores: np.ndarray, k: int) -> TopK:
        if len(positions) > k:  # keep the k-th score's ties, so the lower positions win
            keep = scores >= np.partition(scores, len(scores) - k)[len(scores) - k]
            positions, scores = positions[keep], scores[keep]
        ranked = np.lexsort((positions, -scores))[:k]
        return TopK(positions[ranked], scores[ranked])

    def top_k(self, weights: dict[int, float], k: int, allowed: np.ndarray | None = None) -> TopK:
        """The k best-scoring chunks with a score above 0 among `allowed` (a boolean mask
        over positions; None: all)."""
        empty = TopK(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
        weights = {t: w for t, w in weights.items() if w > 0 and self.doc_freq[t] > 0}
        if not weights or k <= 0 or self.num_docs == 0:
            return empty
        terms = np.fromiter(weights, dtype=np.int64, count=len(weights))
        term_weights = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        if int(self.doc_freq[terms].sum()) < EXHAUSTIVE_BELOW:
            return self._select(self.scores_all(weights), k, allowed)

        buffers = self._take_buffers()
        try:
            return self._pruned(terms, term_weights, k, allowed, *buffers)
        finally:
            self._give_back(buffers)

    def _pruned(
        self,
        terms: np.ndarray,
        term_weights: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        scores: np.ndarray,
        mask: np.ndarray,
    ) -> TopK:
        # 1. theta, a lower bound on the k-th best score: add the columns of the terms that can
        # contribute most (rare terms, short columns: they would be added anyway), then score
        # the chunks that lead on them exactly; the k-th best of those.
        theta = 0.0
        bound = term_weights * self.col_max[terms]
        added = np.zeros(len(terms), dtype=bool)

        def at_least(value: float) -> np.ndarray:
            return np.flatnonzero(np.greater_equal(scores, value, out=mask))

        first = np.argsort(-bound, kind="stable")[:REFINE_TERMS]
        for i in first:
            self._add_column(scores, int(terms[i]), float(term_weights[i]))
            added[i] = True
        if not added.all():
            pool = at_least(0.5 * bound[first[0]])
            if allowed is not None:
                pool = pool[allowed[pool]]
            if len(pool) < k:
                pool = np.flatnonzero(np.greater(scores, 0, out=mask))
                if allowed is not None:
                    pool = pool[allowed[pool]]
            if len(pool) > REFINE_POOL:
                pool = pool[np.argpartition(scores[pool], -REFINE_POOL)[-REFINE_POOL:]]
            if len(pool) >= k:
                exact = scores[pool].astype(np.float64)
                for i in np.flatnonzero(~added):
                    exact += term_weights[i] * self.lookup(int(terms[i]), pool)
                theta = float(np.partition(exact, -k)[-k])
        margin = _MARGIN * theta

        # 2. Non-essential terms: of those not added yet, the prefix with the smallest best
        # contributions whose sum stays below theta. The others are added in full.
        order = np.flatnonzero(~added)[np.argsort(bound[~added], kind="stable")]
        cumulative = np.cumsum(bound[order])
        n_lazy = int(np.searchsorted(cumulative, theta - margin, side="left")) if theta else 0
        lazy, eager = order[:n_lazy], order[n_lazy:]
        for i in eager:
            self._add_column(scores, int(terms[i]), float(term_weights[i]))

        # 3. Candidates: chunks whose partial score plus what the lazy terms could still add
        # reaches theta. While they are many, the next lazy term (largest first) is added in
        # full and the bound tightens; once they are few, each lazy term is looked up for them
        # only, and those that can no longer reach theta are dropped.
        remaining = float(cumulative[n_lazy - 1]) if n_lazy else 0.0
        lazy_first = [int(i) for i in lazy[::-1]]
        threshold = theta - remaining - margin if theta > 0 else np.nextafter(0, 1)
        candidates = at_least(threshold)
        while lazy_first and len(candidates) * LOOKUP_COST >= self.doc_freq[terms[lazy_first[0]]]:
            i = lazy_first.pop(0)
            self._add_column(scores, int(terms[i]), float(term_weights[i]))
            remaining -= bound[i]
            candidates = at_least(theta - remaining - margin)
        if allowed is not None:
            candidates = candidates[allowed[candidates]]
        extra = np.zeros(len(candidates), dtype=np.float64)
        for i in lazy_first:
            remaining -= bound[i]
            extra += term_weights[i] * self.lookup(int(terms[i]), candidates)
            keep = scores[candidates] + extra + remaining >= theta - margin
            candidates, extra = candidates[keep], extra[keep]

        total = scores[candidates].astype(np.float64) + extra
        keep = total >= theta - margin if theta > 0 else total > 0
        return self._best(candidates[keep], total[keep], k)
