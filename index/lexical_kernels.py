"""Compiled loops of exact BM25 top-k (see `index.lexical_search` for the algorithm).

Numba compiles them on first use and caches the machine code beside this file (or in the
user's cache folder when this folder is read-only), so a new process loads them in well under
a second. They release the GIL: a keyword search runs beside the dense search and beside other
requests' threads.

Top-k order everywhere: higher score first, then lower position (ties go to the lower
position, as a stable sort of all N would give).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = {"nogil": True, "cache": True, "error_model": "numpy"}


# --- a bounded min-heap of (score, position): its root is the worst kept -----------------
@njit(**_OPTIONS)
def _worse(score_a: float, pos_a: int, score_b: float, pos_b: int) -> bool:
    return score_a < score_b or (score_a == score_b and pos_a > pos_b)


@njit(**_OPTIONS)
def _sift_down(scores: np.ndarray, positions: np.ndarray, size: int, i: int) -> None:
    while True:
        worst = i
        left = 2 * i + 1
        right = left + 1
        if left < size and _worse(scores[left], positions[left], scores[worst], positions[worst]):
            worst = left
        if right < size and _worse(
            scores[right], positions[right], scores[worst], positions[worst]
        ):
            worst = right
        if worst == i:
            return
        scores[i], scores[worst] = scores[worst], scores[i]
        positions[i], positions[worst] = positions[worst], positions[i]
        i = worst


@njit(**_OPTIONS)
def _push(scores: np.ndarray, positions: np.ndarray, size: int, score: float, pos: int) -> int:
    """Offer (score, pos) to a heap of capacity len(scores); returns the new size."""
    capacity = len(scores)
    if size < capacity:
        i = size
        scores[i], positions[i] = score, pos
        while i > 0:
            parent = (i - 1) // 2
            if not _worse(scores[i], positions[i], scores[parent], positions[parent]):
                break
            scores[i], scores[parent] = scores[parent], scores[i]
            positions[i], positions[parent] = positions[parent], positions[i]
            i = parent
        return size + 1
    if _worse(scores[0], positions[0], score, pos):
        scores[0], positions[0] = score, pos
        _sift_down(scores, positions, size, 0)
    return size


@njit(**_OPTIONS)
def _ranked(scores: np.ndarray, positions: np.ndarray, size: int) -> tuple:
    order = np.argsort(positions[:size], kind="mergesort")  # positions first...
    by_score = np.argsort(-scores[:size][order], kind="mergesort")  # ...then a stable sort
    ranked = order[by_score]
    return positions[:size][ranked].copy(), scores[:size][ranked].copy()


# --- column access --------------------------------------------------------------------------
@njit(**_OPTIONS)
def _seek(indices: np.ndarray, start: int, end: int, pos: int) -> int:
    """First index in [start, end) whose chunk is >= pos: galloping, then binary search
    (cursors move forward through a column, mostly by a few postings)."""
    if start >= end or indices[start] >= pos:
        return start
    step = 1
    lo = start
    hi = start + 1
    while hi < end and indices[hi] < pos:
        lo = hi
        step <<= 1
        hi = lo + step
    if hi > end:
        hi = end
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[mid] < pos:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(**_OPTIONS)
def score_positions(
    terms: np.ndarray,
    weights: np.ndarray,
    k: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    positions: np.ndarray,
) -> tuple:
    """Top k of a few given chunks (sorted positions), each scored by looking its terms up
    (a narrow filter)."""
    heap_s = np.empty(k, np.float64)
    heap_p = np.empty(k, np.int64)
    size = 0
    cursor = indptr[terms].copy()
    stop = indptr[terms + 1]
    for pos in positions:
        score = 0.0
        for i in range(len(terms)):
            c = _seek(indices, cursor[i], stop[i], pos)
            cursor[i] = c
            if c < stop[i] and indices[c] == pos:
                score += weights[i] * data[c]
        if score > 0:
            size = _push(heap_s, heap_p, size, score, pos)
    return _ranked(heap_s, heap_p, size)


@njit(**_OPTIONS)
def top_k_maxscore(
    terms: np.ndarray,
    weights: np.ndarray,
    bounds: np.ndarray,
    k: int,
    num_docs: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    allowed: np.ndarray,
    use_allowed: bool,
    block: int,
    lazy_share: float,
    margin: float,
) -> tuple:
    """Exact top k by MaxScore over blocks of chunk positions (see `index.lexical_search`)."""
    n = len(terms)
    heap_s = np.empty(k, np.float64)
    heap_p = np.empty(k, np.int64)
    size = 0
    order = np.argsort(bounds, kind="mergesort")  # ascending: the lazy terms come first
    bound = np.empty(n, np.float64)
    prefix = np.empty(n, np.float64)
    weight = np.empty(n, np.float64)
    cursor = np.empty(n, np.int64)
    stop = np.empty(n, np.int64)
    total = 0.0
    for e in range(n):
        i = order[e]
        bound[e] = bounds[i]
        total += bounds[i]
        prefix[e] = total
        weight[e] = weights[i]
        cursor[e] = indptr[terms[i]]
        stop[e] = indptr[terms[i] + 1]
    acc = np.zeros(block, np.float32)
    theta = 0.0
    floor = 0.0  # theta less the rounding margin: what a chunk must reach to stay
    lazy = 0  # the first `lazy` terms (by bound) are looked up, not added
    for lo in range(0, num_docs, block):
        hi = min(lo + block, num_docs)
        while lazy < n and prefix[lazy] < lazy_share * floor:
            lazy += 1
        if lazy == n:
            break  # no chunk left can reach the top k
        # Essential columns: their postings in this block, added in full.
        for e in range(lazy, n):
            w = np.float32(weight[e])
            start = cursor[e]
            end = _seek(indices, start, stop[e], hi)
            for j in range(start, end):
                acc[indices[j] - lo] += w * data[j]
            cursor[e] = end
        lazy_sum = prefix[lazy - 1] if lazy > 0 else 0.0
        need = floor - lazy_sum  # a candidate's partial score must reach this
        # Candidates, a group of 64 at a time: a group whose best partial score cannot reach
        # theta is skipped whole (a branch per chunk would be mispredicted at every other).
        for base in range(0, hi - lo, 64):
            top = min(base + 64, hi - lo)
            peak = np.float32(0.0)
            for offset in range(base, top):
                peak = max(peak, acc[offset])
            if peak == 0.0 or peak < need:
                acc[base:top] = 0.0
                continue
            for offset in range(base, top):
                partial = acc[offset]
                acc[offset] = 0.0
                if partial == 0.0 or partial < need:
                    continue
                d = lo + offset
                if use_allowed and not allowed[d]:
                    continue
                # Lazy terms, largest bound first, while the chunk can still reach theta.
                score = float(partial)
                left = lazy_sum
                for e in range(lazy - 1, -1, -1):
                    if score + left < floor:
                        break
                    c = _seek(indices, cursor[e], stop[e], d)
                    cursor[e] = c
                    if c < stop[e] and indices[c] == d:
                        score += weight[e] * data[c]
                    left -= bound[e]
                if score > 0.0 and score >= floor:
                    size = _push(heap_s, heap_p, size, score, d)
                    if size == k and heap_s[0] > theta:  # theta rises as the top k fills
                        theta = heap_s[0]
                        floor = theta - margin * theta
                        need = floor - lazy_sum
    return _ranked(heap_s, heap_p, size)
