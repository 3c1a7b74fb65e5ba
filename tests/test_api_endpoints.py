"""The native /v1 API against a real server over the default corpus: ask (JSON and SSE),
search, documents, feedback, health, readiness, metrics, and the JSON errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from api_helpers import BUDGET_FIGURE, BUDGET_QUESTION, assert_error, parse_sse
from conftest import ApiServer
from sqlalchemy import select

from api.audit_chain import AuditLog
from api.db import make_engine
from api.feedback_store import feedback_table
from rag.answer import Answer
from rag.guards import MAX_QUESTION_CHARS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(api_server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.base_url, timeout=60) as http:
        yield http


def ask(client: httpx.Client, question: str, **body: object) -> dict:
    response = client.post("/v1/ask", json={"question": question, **body})
    assert response.status_code == 200, response.text
    return response.json()


# --- ask ------------------------------------------------------------------------------


def test_ask_returns_the_answer_contract_with_openable_citations(client: httpx.Client) -> None:
    data = ask(client, BUDGET_QUESTION)
    answer = Answer.model_validate(data)  # exactly the rag contract
    assert answer.behaviour == "answered"
    assert BUDGET_FIGURE in answer.answer and "[1]" in answer.answer
    assert answer.ai_generated and answer.disclosure
    assert answer.versions.index_manifest and answer.timings["total"] > 0 and answer.retrieval
    for key in ("answer", "behaviour", "reason", "citations", "confidence", "trace_id",
                "ai_generated", "disclosure", "versions", "timings", "retrieval"):  # fmt: skip
        assert key in data
    citation = answer.citations[0]
    path, _, chunk_id = citation.url.partition("#")
    assert path.startswith("/v1/documents/") and chunk_id == citation.chunk_id
    opened = client.get(path)
    assert opened.status_code == 200
    passage = next(c for c in opened.json()["chunks"] if c["chunk_id"] == chunk_id)
    assert passage["text"] == citation.quote
    assert client.get(f"/v1/chunks/{chunk_id}").json()["text"] == citation.quote


def test_ask_with_filters_history_and_composer(client: httpx.Client) -> None:
    data = ask(
        client,
        "And how is it split between 2026 and 2027?",
        history=[
            {"role": "user", "content": "What is the EMN budget for 2026-2027?"},
            {"role": "assistant", "content": "EUR 28 200 000 [1]."},
        ],
        filters={"doc_ids": ["emn-work-programme-2026-2027"]},
        composer="extractive",
    )
    assert data["behaviour"] == "answered"
    assert {c["doc_id"] for c in data["citations"]} == {"emn-work-programme-2026-2027"}
    assert {r["doc_id"] for r in data["retrieval"]} == {"emn-work-programme-2026-2027"}


def test_ask_declines_individual_cases_and_abstains_outside_the_corpus(
    client: httpx.Client,
) -> None:
    declined = ask(client, "Will I be deported if my asylum application is rejected?")
    assert declined["behaviour"] == "declined"
    abstained = ask(client, "What is the EMN budget for 2031?")
    assert abstained["behaviour"] in ("abstained", "declined")
    assert abstained["citations"] == [] or abstained["behaviour"] == "declined"


def test_ask_stream_sends_deltas_then_citations_then_the_record(client: httpx.Client) -> None:
    response = client.post("/v1/ask?stream=true", json={"question": BUDGET_QUESTION})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    kinds = [e.event for e in events]
    assert kinds[-2:] == ["citations", "answer"] and set(kinds[:-2]) == {"delta"}, kinds
    text = "".join(e.json()["text"] for e in events[:-2])
    final = Answer.model_validate(events[-1].json())
    assert text.strip() == final.answer.strip()
    assert BUDGET_FIGURE in text
    assert events[-2].json()["citations"] == [c.model_dump(mode="json") for c in final.citations]


# --- search and documents -------------------------------------------------------------


def test_search_returns_scored_passages_and_honours_filters(client: httpx.Client) -> None:
    response = client.post("/v1/search", json={"query": "return and readmission", "k": 5})
    assert response.status_code == 200
    hits = response.json()["results"]
    assert 1 <= len(hits) <= 5
    for key in ("chunk_id", "doc_id", "title", "reference", "section_path", "page", "text",
                "score", "url"):  # fmt: skip
        assert key in hits[0]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    filtered = client.post(
        "/v1/search",
        json={"query": "budget", "filters": {"kinds": ["work programme"]}, "k": 3},
    ).json()["results"]
    assert filtered and {h["doc_id"] for h in filtered} == {"emn-work-programme-2026-2027"}
    # A filter that can match nothing is an error naming the valid ids, not an empty list.
    none = client.post(
        "/v1/search", json={"query": "budget", "filters": {"doc_ids": ["no-such-doc"]}}
    )
    assert_error(none, 422, "unknown_filter_value")
    nothing_dated = client.post(
        "/v1/search", json={"query": "budget", "filters": {"date_to": "1999-12-31"}}
    )
    assert nothing_dated.status_code == 200 and nothing_dated.json()["results"] == []


def test_documents_catalog_one_document_and_its_passages_in_order(client: httpx.Client) -> None:
    listing = client.get("/v1/documents").json()
    docs = {d["id"]: d for d in listing["documents"]}
    assert "emn-work-programme-2026-2027" in docs and len(docs) >= 5
    wp = docs["emn-work-programme-2026-2027"]
    assert wp["reference"] == "C(2026) 36 final" and wp["date"] and wp["kind"] and wp["chunks"]
    assert client.get("/v1/documents/emn-work-programme-2026-2027").json() == wp
    chunks = client.get(wp["chunks_url"]).json()
    assert chunks["total"] == wp["chunks"] == len(chunks["chunks"])
    assert [c["ordinal"] for c in chunks["chunks"]] == sorted(
        c["ordinal"] for c in chunks["chunks"]
    )
    page = client.get(wp["chunks_url"], params={"offset": 2, "limit": 3}).json()
    assert [c["chunk_id"] for c in page["chunks"]] == [c["chunk_id"] for c in chunks["chunks"][2:5]]


@pytest.mark.parametrize(
    "path",
    ["/v1/documents/no-such-doc", "/v1/documents/no-such-doc/chunks", "/v1/chunks/0123abcd"],
)
def test_unknown_ids_are_404_json(client: httpx.Client, path: str) -> None:
    assert_error(client.get(path), 404)


# --- feedback -------------------------------------------------------------------------


def test_feedback_is_stored_redacted_for_a_known_trace_id(
    client: httpx.Client, api_server: ApiServer
) -> None:
    trace_id = ask(client, BUDGET_QUESTION)["trace_id"]
    response = client.post(
        "/v1/feedback",
        json={
            "trace_id": trace_id,
            "rating": "down",
            "comment": "Wrong year. Reach me at jane.doe@example.org or +32 470 12 34 56.",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["trace_id"] == trace_id
    engine = make_engine(api_server.database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(feedback_table).where(feedback_table.c.trace_id == trace_id)
        ).all()
    engine.dispose()
    assert len(rows) == 1 and rows[0].rating == "down"
    assert "jane.doe" not in rows[0].comment and "[EMAIL]" in rows[0].comment
    assert "[PHONE]" in rows[0].comment


def test_feedback_for_an_unknown_trace_id_is_404(client: httpx.Client) -> None:
    response = client.post("/v1/feedback", json={"trace_id": "f" * 32, "rating": "up"})
    assert_error(response, 404, "trace_not_found")


def test_every_answer_writes_an_audit_record(client: httpx.Client, api_server: ApiServer) -> None:
    question = "What is the EMN budget? My email is someone@example.org"
    traces = [ask(client, question)["trace_id"]]
    stream = parse_sse(client.post("/v1/ask?stream=true", json={"question": question}).text)
    traces.append(stream[-1].json()["trace_id"])
    chat = client.post(
        "/v1/chat/completions",
        json={"model": "emn-extractive", "messages": [{"role": "user", "content": question}]},
    ).json()
    traces.append(chat["emn_answer"]["trace_id"])
    log = AuditLog(make_engine(api_server.database_url))
    records = {r["trace_id"]: r for r in log.records() if r["trace_id"] in traces}
    log.engine.dispose()
    assert set(records) == set(traces)
    for trace_id in traces:
        payload = json.loads(records[trace_id]["payload"])
        assert payload["question"] == "What is the EMN budget? My email is [EMAIL]"
        assert "someone@example.org" not in records[trace_id]["payload"]
        for key in ("behaviour", "retrieved", "cited", "composer", "model", "index_manifest",
                    "guards", "timings"):  # fmt: skip
            assert key in payload
        assert payload["retrieved"] and "score" in payload["retrieved"][0]
        assert payload["timings"]["retrieve"] > 0
    assert {json.loads(records[t]["payload"])["endpoint"] for t in traces} == {
        "ask",
        "ask_stream",
        "chat_completions",
    }


# --- health, readiness, metrics -------------------------------------------------------


def test_health_and_readiness_report_the_manifest(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert all(check["ok"] for check in body["checks"].values())
    assert set(body["checks"]) == {"index", "chroma", "embedding_model", "database"}
    manifest = body["manifest"]
    assert manifest["corpus_hash"] and manifest["embedding_model"] and manifest["chunks"] > 0


def test_metrics_expose_requests_steps_and_behaviours(client: httpx.Client) -> None:
    ask(client, BUDGET_QUESTION)
    client.get("/v1/documents/no-such-doc")
    text = client.get("/metrics").text
    assert 'emn_http_requests_total{method="POST",route="/v1/ask",status="200"}' in text
    assert 'route="/v1/documents/{doc_id}",status="404"' in text
    assert 'emn_pipeline_step_duration_seconds_count{step="retrieve"}' in text
    assert 'emn_answers_total{behaviour="answered"' in text


# --- errors and limits ----------------------------------------------------------------


def test_unknown_route_and_wrong_method_are_json(client: httpx.Client) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    response = client.delete("/v1/ask")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


def test_validation_errors_are_422_json(client: httpx.Client) -> None:
    error = assert_error(client.post("/v1/ask", json={"question": ""}), 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "question"]
    assert_error(client.post("/v1/ask", json={"question": "  \n "}), 422, "validation_error")
    assert_error(client.post("/v1/ask", json={}), 422)
    assert_error(client.post("/v1/search", json={"query": "x", "k": 0}), 422)
    bad_date = {"question": "budget?", "filters": {"date_from": "yesterday"}}
    assert_error(client.post("/v1/ask", json=bad_date), 422)
    assert_error(client.post("/v1/feedback", json={"trace_id": "x", "rating": "meh"}), 422)


def test_malformed_json_is_400_and_wrong_content_type_is_rejected(client: httpx.Client) -> None:
    response = client.post(
        "/v1/ask", content=b'{"question": ', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")
    response = client.post(
        "/v1/ask", content=b"question=hi", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code in (415, 422)
    assert_error(response, response.status_code)


def test_too_long_question_is_rejected_before_the_pipeline(client: httpx.Client) -> None:
    error = assert_error(
        client.post("/v1/ask", json={"question": "a" * (MAX_QUESTION_CHARS + 1)}), 422
    )
    assert "question" in error["details"][0]["loc"]


def test_oversized_bodies_are_413_json(client: httpx.Client, api_server: ApiServer) -> None:
    big = {"question": "budget?", "history": [{"role": "user", "content": "x" * 200_000}]}
    assert_error(client.post("/v1/ask", json=big), 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield b'{"question": "budget?", "history": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"y" * 10_000
        yield b'"}]}'

    response = client.post(
        "/v1/ask", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


def test_a_lying_content_length_does_not_hang_or_crash(api_server: ApiServer) -> None:
    with socket.create_connection(("127.0.0.1", api_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n{}"
        )
        head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413")


def test_every_response_has_a_request_id(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert len(response.headers["x-request-id"]) == 32
    error = assert_error(client.get("/v1/nope"), 404)
    assert client.get("/v1/nope").headers["x-request-id"] != error["trace_id"]


def test_cors_is_closed_by_default(client: httpx.Client) -> None:
    response = client.options(
        "/v1/ask",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
    response = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
