"""Pruned BM25 top-k (`index.lexical_search`, compiled in `index.lexical_kernels`) against
scoring every chunk: same chunks, same scores, same order, with and without filters, on random
matrices spanning several blocks and on a real bm25s index; and `IndexReader.lexical` with
filters on the default index."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from common.settings import Settings
from index.lexical import lexical_text, tokenize
from index.lexical_search import LexicalMatrix, TopK
from index.reader import IndexReader
from index.schema import Filters


def reference(matrix: LexicalMatrix, weights: dict[int, float], k: int, allowed=None) -> TopK:
    """Every chunk scored (each column added into an array of N), then sorted."""
    scores = np.zeros(matrix.num_docs, dtype=np.float32)
    for term, weight in weights.items():
        start, end = matrix.indptr[term], matrix.indptr[term + 1]
        values = matrix.data[start:end]
        np.add.at(scores, matrix.indices[start:end], values if weight == 1.0 else values * weight)
    scores = scores.astype(np.float64)
    if allowed is not None:
        scores = np.where(allowed, scores, 0.0)
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    order = order[scores[order] > 0]
    return TopK(order, scores[order])


def random_matrix(rng: np.random.Generator, docs: int, terms: int) -> LexicalMatrix:
    """A Zipf-like term distribution: a few terms in most chunks, many in few; scores that
    repeat (ties) as BM25's do for equal term frequency and length."""
    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for t in range(terms):
        share = min(0.9, 1.5 / (t + 1))
        rows = np.flatnonzero(rng.random(docs) < share).astype(np.int32)
        values = rng.choice(np.linspace(0.1, 4.0, 25), len(rows)).astype(np.float32)
        indices.append(rows)
        data.append(values * (1 + np.log1p(t)))  # rarer terms weigh more, like idf
        indptr.append(indptr[-1] + len(rows))
    return LexicalMatrix(np.concatenate(data), np.concatenate(indices), np.array(indptr), docs)


def assert_same(got: TopK, want: TopK) -> None:
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5)
    # Positions agree except where float rounding reorders near-equal scores.
    for g, w, gs, ws in zip(got.positions, want.positions, got.scores, want.scores, strict=True):
        assert g == w or abs(gs - ws) <= 1e-5 * max(gs, ws)


@pytest.fixture(scope="module")
def big() -> LexicalMatrix:
    matrix = random_matrix(np.random.default_rng(7), docs=60_000, terms=60)
    assert matrix.doc_freq[:3].sum() > matrix.num_docs  # candidates come from a pass over N
    return matrix


@pytest.mark.parametrize("seed", range(12))
def test_pruned_top_k_equals_scoring_every_chunk(big: LexicalMatrix, seed: int) -> None:
    rng = np.random.default_rng(seed)
    terms = rng.choice(60, size=int(rng.integers(1, 14)), replace=False)
    weights = {int(t): float(rng.integers(1, 3)) for t in terms}  # repeated words count twice
    k = int(rng.choice([1, 10, 40, 100]))
    assert_same(big.top_k(weights, k), reference(big, weights, k))


@pytest.mark.parametrize("share", [0.5, 0.01, 0.0002])
def test_pruned_top_k_respects_the_allowed_mask(big: LexicalMatrix, share: float) -> None:
    rng = np.random.default_rng(3)
    allowed = rng.random(big.num_docs) < share
    weights = {0: 1.0, 1: 1.0, 5: 1.0, 20: 1.0, 41: 1.0}
    got = big.top_k(weights, 40, allowed)
    assert allowed[got.positions].all()
    assert_same(got, reference(big, weights, 40, allowed))


@pytest.mark.parametrize("lazy_share", [0.0, 0.25, 1.0])
@pytest.mark.parametrize("block", [64, 1000, 100_000])
def test_maxscore_is_exact_for_any_block_size_and_lazy_share(
    big: LexicalMatrix, block: int, lazy_share: float
) -> None:
    """The compiled loop itself: blocks smaller than, not dividing, and larger than N; no lazy
    terms, the default share, and classic MaxScore (lazy up to theta)."""
    from index.lexical_kernels import top_k_maxscore

    rng = np.random.default_rng(block + int(lazy_share * 100))
    for _ in range(6):
        terms = rng.choice(60, size=int(rng.integers(2, 14)), replace=False).astype(np.int64)
        weights = rng.integers(1, 3, len(terms)).astype(np.float64)
        k = int(rng.choice([1, 10, 40]))
        positions, scores = top_k_maxscore(
            terms, weights, weights * big.col_max[terms], k, big.num_docs,
            big.indptr, big.indices, big.data, np.zeros(1, bool), False,
            block, lazy_share, 1e-4,
        )  # fmt: skip
        want = reference(big, dict(zip(terms.tolist(), weights.tolist(), strict=True)), k)
        assert_same(TopK(positions, scores), want)


def test_nothing_to_find_gives_an_empty_result(big: LexicalMatrix) -> None:
    assert len(big.top_k({}, 10).positions) == 0
    assert len(big.top_k({0: 1.0}, 0).positions) == 0
    nobody = np.zeros(big.num_docs, dtype=bool)
    assert len(big.top_k({0: 1.0, 1: 1.0}, 10, nobody).positions) == 0


def test_ties_go_to_the_lower_position() -> None:
    # Three chunks with the same score: the top 2 are the first two.
    matrix = LexicalMatrix(
        np.array([1.0, 1.0, 1.0], np.float32), np.array([4, 2, 9], np.int32), [0, 3], 10
    )
    assert matrix.top_k({0: 1.0}, 2).positions.tolist() == [2, 4]


def test_agrees_with_bm25s_on_a_real_index() -> None:
    rng = np.random.default_rng(11)
    words = [f"w{i}" for i in range(300)]
    probabilities = 1 / np.arange(1, 301)
    probabilities /= probabilities.sum()
    corpus = [
        list(rng.choice(words, int(rng.integers(5, 60)), p=probabilities)) for _ in range(3000)
    ]
    bm25 = bm25s.BM25()
    bm25.index(corpus, show_progress=False)
    matrix = LexicalMatrix.from_bm25(bm25)
    for query in (["w0", "w1", "w2", "w150"], ["w3"], ["w0", "w0", "w299"]):
        ids = [bm25.vocab_dict[w] for w in query if w in bm25.vocab_dict]
        weights: dict[int, float] = {}
        for i in ids:
            weights[i] = weights.get(i, 0.0) + 1.0
        expected = np.asarray(bm25.get_scores(ids), dtype=np.float64)
        got = matrix.top_k(weights, 25)
        np.testing.assert_allclose(got.scores, np.sort(expected)[::-1][:25], rtol=1e-5)
        np.testing.assert_allclose(expected[got.positions], got.scores, rtol=1e-5)


@pytest.mark.parametrize(
    "filters",
    [
        Filters(doc_ids=["emn-work-programme-2026-2027"]),
        Filters(kinds=["web page"]),
        Filters(date_from="2026-01-29"),
        Filters(date_to="2026-01-28"),
    ],
)
def test_index_lexical_filters_match_the_per_chunk_rule(
    default_index_settings: Settings, filters: Filters
) -> None:
    index = IndexReader(default_index_settings)
    index.ensure_loaded()
    query = "EMN budget return migration"
    got = index.lexical(query, 200, filters)
    assert got
    assert all(index.allowed(index.chunks[cid], filters) for cid, _ in got)
    everything = dict(index.lexical(query, len(index.chunks)))
    expected = sorted(
        (s, cid) for cid, s in everything.items() if index.allowed(index.chunks[cid], filters)
    )
    assert {cid for cid, _ in got} == {cid for _, cid in expected}


def test_chunk_terms_are_the_tokens_of_the_chunk(default_index_settings: Settings) -> None:
    index = IndexReader(default_index_settings)
    index.ensure_loaded()
    chunk = next(iter(index.chunks.values()))
    terms = index.terms(chunk)
    assert terms is index.terms(chunk)  # cached
    assert terms.text == frozenset(tokenize(chunk.text))
    spans = index.sentences[chunk.id].spans
    assert terms.sentences == tuple(tuple(tokenize(chunk.text[a:b])) for a, b in spans)
    # The passage is tokenised once: header and passage tokens are those of the keyword text.
    for other in index.chunks.values():
        assert index.terms(other).all == frozenset(tokenize(lexical_text(other))), other.id


def test_tokenize_is_safe_in_threads_running_at_once() -> None:
    """The API tokenises questions in a thread pool; new words reach the shared stemmer
    (repeated ones come from a cache), here from four threads switching as often as possible."""
    import sys
    import threading

    import snowballstemmer

    stems = ("migrat", "asylum", "readmiss", "return", "contribut", "cooperat", "procedur")
    endings = ("ion", "ions", "ing", "ed", "ations", "ness", "ly", "ment", "ive", "ers")
    words = [f"{s}{e}x{i}{e}" for i in range(60) for s in stems for e in endings]
    reference = snowballstemmer.stemmer("english")
    expected = {w: [reference.stemWord(w)] for w in words}
    failures: list[str] = []

    def work(part: list[str]) -> None:
        for word in part:
            try:
                if tokenize(word) != expected[word]:
                    failures.append(word)
            except Exception as exc:  # the unguarded stemmer raised IndexError here
                failures.append(f"{word}: {exc!r}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(words[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_queries_running_at_once_in_threads_each_get_their_own_result(big: LexicalMatrix) -> None:
    """The compiled loops release the GIL, so these really run at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    queries = [{int(t): 1.0 for t in np.random.default_rng(s).choice(60, 8, replace=False)}
               for s in range(16)]  # fmt: skip
    expected = [reference(big, q, 40) for q in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            for got, want in zip(pool.map(lambda q: big.top_k(q, 40), queries), expected,
                                 strict=True):  # fmt: skip
                assert_same(got, want)
