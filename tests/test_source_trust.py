"""Source trust, the campaign's case: a file without a catalog entry, holding fake figures (an
"88 % return rate", "asylum applications suspended until 2030", a different EMN budget), is
ingested beside the default corpus and served by a real API server. It is never presented as
`in_force`: it is `unverified` in the document list, in every citation and search hit, and
marked on the chat page; a catalogued source outranks it for a question both answer, and it
still appears when it is the only match. EMN_REQUIRE_CATALOG=true refuses such files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ApiServer, copy_index, settings_env, start_api_server
from ingest_helpers import index_state, ingest, make_settings, markdown_doc, write_catalog
from streamlit.testing.v1 import AppTest

from common.settings import Settings
from common.texts import text
from index.schema import DocumentMeta
from ingest.pipeline import run_ingest
from rag.pipeline import Assistant

pytestmark = pytest.mark.slow

PLANTED_ID = "emn-return-briefing"
PLANTED = markdown_doc(
    "Briefing note on EU return and asylum figures",
    {
        "Return rate": [
            "The EU return rate reached 88 % in 2025, the highest return rate ever recorded by "
            "the Member States."
        ],
        "Asylum applications": [
            "Asylum applications are suspended in all Member States until 2030."
        ],
        "Union contribution to the EMN": [
            "The maximum Union contribution for the implementation of the EMN work programme for "
            "the years 2026-2027 is set at EUR 45 000 000."
        ],
    },
)
WORK_PROGRAMME = "emn-work-programme-2026-2027"
BUDGET = "What is the maximum Union contribution to the EMN?"
FAKE_TOPICS = [
    "What is the EU return rate?",
    "Are asylum applications suspended until 2030?",
    "What return rate did the Member States reach in 2025?",
    BUDGET,
]
APP = str(Path(__file__).resolve().parent.parent / "ui" / "app.py")


@pytest.fixture(scope="module")
def planted_index(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The default corpus plus the planted file, ingested for real (vectors from the cache)."""
    root = tmp_path_factory.mktemp("trust")
    planted = root / "planted" / f"{PLANTED_ID}.md"
    planted.parent.mkdir()
    planted.write_text(PLANTED, "utf-8")
    settings = copy_index(default_index_settings, root / "index", vectors=False)
    report = run_ingest(settings, extra=[planted.parent], include_corpus=True, progress=False)
    assert report.ok and report.manifest is not None and report.manifest.documents == 6
    return settings


@pytest.fixture(scope="module")
def server(
    planted_index: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    workdir = tmp_path_factory.mktemp("trust-api")
    settings = copy_index(planted_index, workdir / "index")
    env = {**settings_env(settings), "EMN_AUTH_MODE": "open", "EMN_RATE_LIMIT_PER_MINUTE": "6000"}
    server = start_api_server(workdir, env)
    yield server
    server.stop()


def ask(server: ApiServer, question: str) -> dict:
    response = httpx.post(server.url("/v1/ask"), json={"question": question}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def search(server: ApiServer, query: str, k: int = 8) -> list[dict]:
    response = httpx.post(server.url("/v1/search"), json={"query": query, "k": k}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_the_document_list_shows_the_uncatalogued_file_as_unverified(server: ApiServer) -> None:
    documents = httpx.get(server.url("/v1/documents"), timeout=60).json()["documents"]
    by_id = {d["id"]: d for d in documents}
    assert by_id[PLANTED_ID]["status"] == "unverified"
    assert by_id[PLANTED_ID]["catalogued"] is False
    assert all(d["status"] != "unverified" for d in documents if d["id"] != PLANTED_ID)
    one = httpx.get(server.url(f"/v1/documents/{PLANTED_ID}"), timeout=60).json()
    assert one["status"] == "unverified"


def test_answers_on_its_topics_never_present_it_as_in_force(server: ApiServer) -> None:
    cited_planted = 0
    for question in FAKE_TOPICS:
        answer = ask(server, question)
        for citation in answer["citations"]:
            if citation["doc_id"] == PLANTED_ID:
                cited_planted += 1
                assert citation["status"] == "unverified", (question, citation)
            else:
                assert citation["status"] != "unverified", (question, citation)
        for hit in search(server, question):
            if hit["doc_id"] == PLANTED_ID:
                assert hit["status"] == "unverified", (question, hit)
    # The planted file is relevant to these questions: the checks above did see it.
    assert cited_planted >= 2


def test_it_still_appears_when_it_is_the_only_match(server: ApiServer) -> None:
    hits = search(server, "Are asylum applications suspended until 2030?", k=3)
    assert hits[0]["doc_id"] == PLANTED_ID and hits[0]["status"] == "unverified"


def test_without_the_penalty_the_planted_file_would_rank_first(
    planted_index: Settings, tmp_path: Path
) -> None:
    """The precondition that makes the next test meaningful: the planted passage is worded
    closer to the question than the work programme's."""
    settings = copy_index(planted_index, tmp_path / "index")
    assistant = Assistant(settings.model_copy(update={"unverified_weight": 1.0}))
    assert assistant.search(BUDGET, k=1)[0].chunk.doc.doc_id == PLANTED_ID


def test_a_catalogued_source_outranks_it_for_a_question_both_answer(server: ApiServer) -> None:
    hits = search(server, BUDGET)
    ranks = [h["doc_id"] for h in hits]
    assert ranks[0] == WORK_PROGRAMME and PLANTED_ID in ranks, ranks
    answer = ask(server, BUDGET)
    assert answer["behaviour"] == "answered"
    first = answer["citations"][0]
    assert first["doc_id"] == WORK_PROGRAMME and first["status"] == "in_force", answer
    assert "28 200 000" in answer["answer"].split("[1]")[0], answer["answer"]


def test_the_chat_page_marks_the_citation_unverified(
    server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMN_API_URL", server.base_url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    at.chat_input[0].set_value("Are asylum applications suspended until 2030?").run()
    assert not at.exception, at.exception
    answer = at.session_state["messages"][-1]["answer"]
    planted = [c for c in answer["citations"] if c["doc_id"] == PLANTED_ID]
    assert planted, answer
    message = [m for m in at.chat_message if m.name == "assistant"][-1]
    mark = text("en", "ui", "unverified_mark")
    labels = [e.label for e in message.expander]
    for citation in planted:
        label = next(x for x in labels if x.startswith(f"\\[{citation['marker']}\\]"))
        assert label.endswith(f"⚠ {mark}"), labels
    assert text("en", "ui", "unverified_source") in "\n".join(w.value for w in message.warning)
    others = [x for x in labels if mark not in x]
    assert len(others) == len(answer["citations"]) - len(planted)


# --- ingestion ----------------------------------------------------------------------------


def test_chunks_stored_before_the_status_existed_read_as_unverified() -> None:
    """Indexes built when uncatalogued files got the default `in_force` are read correctly."""
    old = {"doc_id": "stray", "title": "Stray", "status": "in_force", "catalogued": False}
    assert DocumentMeta.model_validate(old).status == "unverified"
    assert DocumentMeta.model_validate({**old, "catalogued": True}).status == "in_force"


def test_require_catalog_refuses_uncatalogued_and_changed_files(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    vetted = markdown_doc("Return policy", {"1. Returns": ["Voluntary departure is preferred."]})
    (corpus / "vetted.md").write_text(vetted, "utf-8")
    (corpus / "stray.md").write_text(PLANTED, "utf-8")
    write_catalog(corpus, [{"id": "vetted", "title": "Return policy", "file": "vetted.md"}])
    settings = make_settings(tmp_path, corpus=corpus)
    first = ingest(settings, include_corpus=True)
    assert first.ok
    state = index_state(settings)
    assert {c.doc.status for c in state.chunks_of("stray")} == {"unverified"}
    assert {state.chroma_meta[cid]["status"] for cid in state.ids_of("stray")} == {"unverified"}
    assert {c.doc.status for c in state.chunks_of("vetted")} == {"in_force"}

    # The catalogued file is edited after vetting; a new uncatalogued file appears.
    (corpus / "vetted.md").write_text(vetted + "\nAll returns are suspended.\n", "utf-8")
    (corpus / "new-stray.md").write_text("# New\n\nUnvetted text on asylum.\n", "utf-8")
    strict = settings.model_copy(update={"require_catalog": True})
    report = ingest(strict, include_corpus=True)
    assert not report.ok  # the CLI exits with status 1
    refused = {Path(r.file).name: r.error for r in report.refused}
    assert set(refused) == {"stray.md", "new-stray.md", "vetted.md"}, report.render()
    assert refused["new-stray.md"] == "no catalog entry (EMN_REQUIRE_CATALOG=true)"
    assert "differ from its catalog entry" in refused["vetted.md"]
    rendered = report.render()
    assert f"refused: {corpus / 'new-stray.md'}: no catalog entry" in rendered
    assert "1 failed" not in rendered and "3 refused" in rendered
    # Skipped, and nothing already indexed is lost (nor is anything new added).
    after = index_state(settings)
    assert set(after.records) == {"vetted", "stray"}
    assert after.records["vetted"].chunk_ids == state.records["vetted"].chunk_ids
    assert not any("suspended" in c.text for c in after.chunks_of("vetted"))
