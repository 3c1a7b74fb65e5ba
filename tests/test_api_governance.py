"""Data governance: a superseded document ranks below the document that replaces it and is
labelled wherever it surfaces (search hits, citations, the document list).

A small catalogued corpus holds two financing decisions: the 2024 one (status `superseded`,
`superseded_by` the 2026 one) is worded closer to the question, so without down-weighting
it would rank first; the test checks that precondition too, so it proves the weighting."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

import rag.retrieval
from api.main import create_app
from common.settings import Settings
from ingest.catalog import file_sha256
from ingest.pipeline import run_ingest
from rag.pipeline import Assistant

pytestmark = pytest.mark.slow

QUESTION = (
    "What is the maximum Union contribution to the national contact points of the European "
    "Migration Network?"
)
NEW = (
    "# EMN financing decision 2026\n\n## Union contribution\n\nFor the work programme "
    "2026-2027, the Union contributes at most EUR 28 200 000 to the national contact points "
    "of the European Migration Network.\n"
)
OLD = (
    "# EMN financing decision 2024\n\n## Union contribution\n\nThe maximum Union contribution "
    "to the national contact points of the European Migration Network is EUR 19 750 000 for "
    "the work programme 2024-2025.\n"
)


@pytest.fixture(scope="module")
def versioned_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("versioned")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "new.md").write_text(NEW, encoding="utf-8")
    (corpus / "old.md").write_text(OLD, encoding="utf-8")
    common = {"kind": "decision", "source": "European Commission", "licence": "CC BY 4.0"}
    entries = [
        {"id": "financing-2026", "title": "EMN financing decision 2026",
         "reference": "C(2026) 1", "date": "2026-01-28", "file": "new.md",
         "sha256": file_sha256(corpus / "new.md"), "status": "in_force", **common},
        {"id": "financing-2024", "title": "EMN financing decision 2024",
         "reference": "C(2024) 1", "date": "2024-01-20", "file": "old.md",
         "sha256": file_sha256(corpus / "old.md"), "status": "superseded",
         "superseded_by": "financing-2026", **common},
    ]  # fmt: skip
    (corpus / "catalog.json").write_text(json.dumps({"documents": entries}), encoding="utf-8")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        index_dir=root / "index",
        corpus_dir=corpus,
        chroma_mode="embedded",
    )
    run_ingest(settings, progress=False)
    return settings


@pytest.fixture(scope="module")
def client(versioned_index: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(versioned_index)) as http:
        yield http


def test_without_down_weighting_the_superseded_text_would_win(
    versioned_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The precondition that makes the next test meaningful."""
    assistant = Assistant(versioned_index)
    monkeypatch.setattr(rag.retrieval, "SUPERSEDED_WEIGHT", 1.0)
    assert [c.chunk.doc.doc_id for c in assistant.search(QUESTION, k=2)] == [
        "financing-2024",
        "financing-2026",
    ]


def test_superseded_document_ranks_below_its_replacement_and_is_labelled(
    client: TestClient,
) -> None:
    hits = client.post("/v1/search", json={"query": QUESTION, "k": 5}).json()["results"]
    assert [h["doc_id"] for h in hits] == ["financing-2026", "financing-2024"]
    assert hits[0]["status"] == "in_force" and hits[0]["superseded_by"] == ""
    assert hits[1]["status"] == "superseded by financing-2026"
    assert hits[1]["superseded_by"] == "financing-2026"

    answer = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert answer["behaviour"] == "answered"
    citations = answer["citations"]
    assert citations[0]["doc_id"] == "financing-2026" and citations[0]["status"] == "in_force"
    assert "28 200 000" in answer["answer"].split("[1]")[0]
    for citation in citations:
        if citation["doc_id"] == "financing-2024":
            assert citation["status"] == "superseded by financing-2026"

    documents = {d["id"]: d for d in client.get("/v1/documents").json()["documents"]}
    assert documents["financing-2024"]["status"] == "superseded"
    assert documents["financing-2024"]["superseded_by"] == "financing-2026"


def test_under_a_public_url_every_passage_url_is_absolute_and_the_answer_verifies(
    versioned_index: Settings,
) -> None:
    """EMN_API_PUBLIC_URL: rag builds the absolute URLs before signing; the API returns them."""
    base = "https://emn.example.eu"
    settings = versioned_index.model_copy(update={"api_public_url": base + "/"})
    with TestClient(create_app(settings)) as http:
        answer = http.post("/v1/ask", json={"question": QUESTION}).json()
        assert answer["citations"]
        for citation in answer["citations"]:
            chunk = f"/v1/documents/{citation['doc_id']}/chunks#{citation['chunk_id']}"
            assert citation["url"] == base + chunk
        assert http.post("/v1/provenance/verify", json=answer).json()["valid"] is True

        hit = http.post("/v1/search", json={"query": QUESTION, "k": 1}).json()["results"][0]
        assert hit["url"] == f"{base}/v1/documents/{hit['doc_id']}/chunks#{hit['chunk_id']}"
        document = http.get("/v1/documents/financing-2026").json()
        assert document["chunks_url"] == f"{base}/v1/documents/financing-2026/chunks"
        passage = http.get("/v1/documents/financing-2026/chunks").json()["chunks"][0]
        assert passage["url"] == f"{document['chunks_url']}#{passage['chunk_id']}"
        chunk = http.get(f"/v1/chunks/{passage['chunk_id']}").json()
        assert chunk["url"] == passage["url"]
