"""Exact dense search (index/reader.py, EMN_EXACT_SEARCH_MAX_CHUNKS): up to the limit, the
question is compared with every passage vector, so its nearest passage is never left out as
Chroma's approximate graph sometimes left it out (one process in four on the extended index).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import copy_index

from common.embedding import Embedder
from common.settings import Settings
from index.chroma import chroma_client, collection_vectors, get_collection
from index.reader import IndexReader, _ExactVectors
from index.schema import Filters

WP = "emn-work-programme-2026-2027"
QUESTION = "What is the maximum Union contribution for the EMN work programme?"


def test_exact_search_ranks_by_cosine_breaks_ties_by_id_and_applies_filters() -> None:
    vectors = np.array([[1, 0], [0.6, 0.8], [0.6, 0.8], [0, 1], [0.8, 0.6]], np.float32)
    docs = {"a": 0, "b": 1, "c": 1, "d": 0, "e": 1}
    exact = _ExactVectors(
        ids=list(docs), vectors=vectors, row_doc=np.array(list(docs.values())), docs=[]
    )
    query = np.array([0.0, 2.0], np.float32)  # not a unit vector: the cosine is still right
    found = exact.search(query, 3, None)
    assert [cid for cid, _ in found] == ["d", "b", "c"]  # b and c tie: id order
    assert found[0][1] == pytest.approx(1.0) and found[1][1] == pytest.approx(0.8)
    only_second = np.array([False, True, False])  # two documents, then rows without one
    assert [cid for cid, _ in exact.search(query, 10, only_second)] == ["b", "c", "e"]
    assert exact.search(query, 3, np.array([False, False, False])) == []


@pytest.fixture(scope="module")
def readers(default_index_settings: Settings) -> tuple[IndexReader, IndexReader]:
    """The session index read exactly (the default) and through Chroma's graph."""
    exact = IndexReader(default_index_settings)
    graph = IndexReader(default_index_settings.model_copy(update={"exact_search_max_chunks": 0}))
    exact.ensure_loaded()
    graph.ensure_loaded()
    return exact, graph


@pytest.fixture(scope="module")
def query(default_index_settings: Settings) -> np.ndarray:
    return Embedder(default_index_settings.embedding_model).embed_query(QUESTION)


def test_the_default_index_is_searched_exactly_and_agrees_with_every_vector(
    readers: tuple[IndexReader, IndexReader], query: np.ndarray
) -> None:
    exact, graph = readers
    found = exact.dense(query, 10)
    # The brute-force truth, from the vectors Chroma stores.
    collection = get_collection(chroma_client(exact.settings), exact.settings.collection)
    ids, vectors = collection_vectors(collection)
    sims = vectors @ (query / np.linalg.norm(query))
    truth = [ids[i] for i in np.argsort(-sims, kind="stable")[:10]]
    assert [cid for cid, _ in found] == truth
    assert exact._exact.get(False) is not None and graph._exact == {}
    # Chroma's graph ranks the same passages first on this small index.
    assert graph.dense(query, 10)[0][0] == found[0][0]
    assert found[0][1] == pytest.approx(graph.dense(query, 10)[0][1], abs=1e-5)


def test_filters_hold_in_exact_search(
    readers: tuple[IndexReader, IndexReader], query: np.ndarray
) -> None:
    exact, _ = readers
    only_wp = exact.dense(query, 40, Filters(doc_ids=[WP]))
    assert only_wp and {exact.chunks[cid].doc.doc_id for cid, _ in only_wp} == {WP}
    assert len(only_wp) == len(exact.by_doc[WP]) or len(only_wp) == 40
    none = exact.dense(query, 5, Filters(kinds=["no such kind"]))
    assert none == []


def test_a_new_index_version_is_read_again(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory, query: np.ndarray
) -> None:
    """The vectors kept for exact search belong to one manifest: a new ingestion's vectors
    replace them."""
    settings = copy_index(default_index_settings, tmp_path_factory.mktemp("exact") / "index")
    reader = IndexReader(settings)
    reader.ensure_loaded()
    reader.dense(query, 3)
    assert reader._exact
    manifest = reader.paths.manifest
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    reader.ensure_loaded()
    assert reader._exact == {}  # dropped with the old version, read again on the next search
    assert reader.dense(query, 3) and reader._exact


def test_warm_up_opens_dense_search_so_the_first_question_does_not(
    default_index_settings: Settings,
) -> None:
    from rag.pipeline import Assistant

    assistant = Assistant(default_index_settings.model_copy(update={"composer": "extractive"}))
    assert assistant.index._collection is None and assistant.index._exact == {}
    assistant.warm_up()
    assert assistant.index._collection is not None
    assert assistant.index._exact.get(False) is not None
    assert (True in assistant.index._exact) == assistant.index.has_multilingual
