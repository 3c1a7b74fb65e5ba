"""The LangChain retriever over the hybrid search, and metadata filters (documents, kinds,
dates) in `Assistant.search`, `Assistant.ask` and the retriever, on the default corpus."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from rag_helpers import assert_answered, describe

from index.schema import Filters
from rag.langchain_retriever import EMNRetriever
from rag.pipeline import Assistant

WP = "emn-work-programme-2026-2027"  # dated 2026-01-28, kind "work programme"
STRATEGY = "com-2026-45-migration-strategy"  # dated 2026-01-29, kind "strategy"
WEB = {"emn-about-dg-home", "emn-ncp-general-info"}  # undated, kind "web page"


def test_langchain_retriever_returns_documents_with_citation_metadata(
    assistant: Assistant,
) -> None:
    docs = EMNRetriever(assistant=assistant, k=3).invoke("readmission")
    assert len(docs) == 3
    assert all(isinstance(d, Document) for d in docs)
    chunks = assistant.index.chunks
    for doc in docs:
        meta = doc.metadata
        assert {"chunk_id", "doc_id", "title", "reference", "section_path", "page", "date",
                "kind", "score"} <= set(meta)  # fmt: skip
        chunk = chunks[meta["chunk_id"]]
        assert doc.id == chunk.id and doc.page_content == chunk.text
        assert meta["doc_id"] == chunk.doc.doc_id and meta["section_path"] == chunk.section_path
    assert any("readmission" in d.page_content.lower() for d in docs)
    assert any("readmission" in d.metadata["section_path"].lower() for d in docs)
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_langchain_retriever_applies_its_filters(assistant: Assistant) -> None:
    retriever = EMNRetriever(assistant=assistant, k=4, filters=Filters(kinds=["web page"]))
    docs = retriever.invoke("return expert group")
    assert docs and {d.metadata["doc_id"] for d in docs} <= WEB
    assert {d.metadata["kind"] for d in docs} == {"web page"}


@pytest.mark.parametrize(
    ("filters", "allowed"),
    [
        (Filters(doc_ids=[STRATEGY]), {STRATEGY}),
        (Filters(doc_ids=["emn-about-dg-home", WP]), {"emn-about-dg-home", WP}),
        (Filters(kinds=["web page"]), WEB),
        (Filters(date_from="2026-01-29"), {STRATEGY}),
        (Filters(date_to="2026-01-28"), {WP}),
        (Filters(date_from="2026-01-01", date_to="2026-12-31"), {WP, STRATEGY}),
    ],
)
def test_search_respects_filters(assistant: Assistant, filters: Filters, allowed: set[str]) -> None:
    unfiltered = {c.chunk.doc.doc_id for c in assistant.search("EMN budget and return", k=40)}
    assert unfiltered - allowed, "the query should reach documents the filter excludes"
    results = assistant.search("EMN budget and return", filters=filters, k=10)
    assert results
    assert {c.chunk.doc.doc_id for c in results} <= allowed


def test_filter_that_matches_nothing_returns_nothing(assistant: Assistant) -> None:
    assert assistant.search("readmission", filters=Filters(date_from="2030-01-01")) == []
    answer = assistant.ask("What does the strategy say about readmission?",
                           filters=Filters(date_from="2030-01-01"))  # fmt: skip
    assert answer.behaviour == "abstained", describe(answer)
    assert not answer.citations and not answer.retrieval


def test_ask_cites_only_the_filtered_documents(assistant: Assistant) -> None:
    question = "How is the EMN funded?"
    answer = assistant.ask(question, filters=Filters(doc_ids=["emn-about-dg-home"]))
    assert_answered(answer)
    assert {c.doc_id for c in answer.citations} == {"emn-about-dg-home"}
    assert {p.doc_id for p in answer.retrieval} == {"emn-about-dg-home"}
    answer = assistant.ask(question, filters=Filters(date_to="2026-01-28"))
    assert_answered(answer)
    assert {c.doc_id for c in answer.citations} == {WP}, describe(answer)


def test_filtered_out_answer_document_leads_to_abstention(assistant: Assistant) -> None:
    """The budget figure is only in the work programme: filtered to the web pages, the
    assistant must not state another amount."""
    answer = assistant.ask(
        "What is the maximum Union contribution for the EMN work programme 2026-2027?",
        filters=Filters(kinds=["web page"]),
    )
    assert "28 200 000" not in answer.answer
    assert {c.doc_id for c in answer.citations} <= WEB
    if answer.behaviour == "answered":
        assert_answered(answer)  # whatever it says is grounded in the web pages


@pytest.mark.parametrize("filters", [None, Filters(kinds=["web page"])])
def test_dense_and_keyword_search_at_once_give_what_one_after_the_other_gives(
    assistant: Assistant, filters: Filters | None
) -> None:
    """A large index runs the dense search in a second thread beside the keyword one; here
    forced on the default index (parallel_from=0) and compared with the sequential path."""
    from rag.retrieval import HybridRetriever, QueryTerms

    index = assistant.index
    question = "How much did the EU allocate to the EMN for 2026?"
    vector = assistant.embedder.embed_query(question)
    terms = QueryTerms.of(question, index)
    sequential = HybridRetriever(index).ranked(question, vector, terms, filters)
    at_once = HybridRetriever(index, parallel_from=0)
    for _ in range(3):
        assert at_once.ranked(question, vector, terms, filters) == sequential
    dense, lexical = sequential
    assert dense and lexical
    assert at_once._dense_threads is not None  # the second thread did run
