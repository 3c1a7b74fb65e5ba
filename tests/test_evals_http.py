"""The HTTP target against a fake service that follows the documented contract (no network):
answers from POST /v1/ask, trace texts from GET /v1/documents/{doc}/chunks (once per
document), the wider search from POST /v1/search, the key on every request."""

from __future__ import annotations

import json

import httpx
import pytest

from evals.dataset import Item
from evals.http import HttpTarget
from evals.runner import run_target
from evals.targets import EvalError

GOLD = "In 2014, EMN has established the Return Expert Group (REG)."
TEXTS = {
    "c1": "The EMN was established in 2008 (Council Decision 2008/381/EC).",
    "c2": "REG aims to increase practical cooperation. " + GOLD,
    "c3": "The EMN publishes EMNews, a quarterly newsletter.",
}
ITEM = Item(
    id="reg",
    question="In which year did the EMN create its Return Expert Group?",
    type="factoid",
    key_facts=["2014"],
    sources=[{"doc": "somebody-elses-file.docx", "quote": GOLD}],
    expected_behaviour="answer",
)


class FakeApi:
    def __init__(self, ask_status: int = 200) -> None:
        self.calls: list[str] = []
        self.ask_status = ask_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(f"{request.method} {path}")
        if request.headers.get("Authorization") != "Bearer sesame":
            return httpx.Response(401, json={"error": {"code": "unauthorized"}})
        if path == "/v1/health":
            return httpx.Response(200, json={"status": "ok"})
        if path == "/v1/ask":
            body = json.loads(request.content)
            assert body == {"question": ITEM.question, "history": [], "filters": {}}
            if self.ask_status != 200:
                return httpx.Response(self.ask_status, json={"error": {"code": "boom"}})
            return httpx.Response(200, json=self.answer())
        if path == "/v1/documents/doc-b/chunks":
            return httpx.Response(200, json={"chunks": [{"id": "c2", "text": TEXTS["c2"]}]})
        if path == "/v1/search":
            assert json.loads(request.content)["k"] == 10
            results = [
                {"chunk": {"chunk_id": c, "doc_id": "doc-a", "text": TEXTS[c]}, "score": 1}
                for c in ("c1", "c3")
            ]
            return httpx.Response(200, json={"results": results})
        return httpx.Response(404)

    @staticmethod
    def answer() -> dict:
        return {
            "answer": "The EMN was established in 2008 [1]. It set up the REG in 2014 [2].",
            "behaviour": "answered",
            "reason": "",
            "citations": [
                {
                    "marker": 1,
                    "chunk_id": "c1",
                    "doc_id": "doc-a",
                    "title": "A",
                    "quote": TEXTS["c1"],
                },
                {
                    "marker": 2,
                    "chunk_id": "c2",
                    "doc_id": "doc-b",
                    "title": "B",
                    "quote": TEXTS["c2"],
                },
            ],
            "confidence": 0.8,
            "timings": {"retrieve": 12.5, "compose": 2.0, "total": 15.0},
            # c4's document lists no such chunk: its text stays unknown
            "retrieval": [
                {"chunk_id": "c1", "doc_id": "doc-a", "score": 0.9},
                {"chunk_id": "c4", "doc_id": "doc-b", "score": 0.8},
                {"chunk_id": "c2", "doc_id": "doc-b", "score": 0.7},
            ],
            "versions": {"app": "test"},
        }


def _target(api: FakeApi, key: str = "sesame") -> HttpTarget:
    return HttpTarget("http://emn.test/", key, transport=httpx.MockTransport(api))


def test_http_run_scores_trace_then_wider_search() -> None:
    api = FakeApi()
    target = _target(api)
    metrics, records = run_target(
        target, [ITEM, ITEM.model_copy(update={"id": "again"})], progress=False
    )
    row = records[0]["metrics"]
    # ranking: c1, c4 (unknown text), c2 (gold, rank 3), then c3 from the search
    assert [p["chunk_id"] for p in records[0]["retrieval"]] == ["c1", "c4", "c2", "c3"]
    assert (row["hit@1"], row["hit@3"], row["mrr"]) == (0.0, 1.0, pytest.approx(1 / 3))
    assert row["key_fact_recall"] == 1.0 and row["citation_precision"] == 1.0
    assert row["latency_ms"] == 15.0  # the service's own total, not the wall clock
    assert metrics["latency_steps_ms"]["retrieve"]["p50"] == 12.5
    # each document's chunks fetched once for the whole run
    assert api.calls.count("GET /v1/documents/doc-b/chunks") == 1
    assert target.missing_texts == 2  # c4, once per question
    assert target.describe()["api"] == "http://emn.test"


def test_wrong_key_stops_the_run() -> None:
    with pytest.raises(EvalError, match="refused the key"):
        _target(FakeApi(), key="wrong").ask(ITEM)


def test_server_error_is_recorded_as_a_failed_question() -> None:
    reply = _target(FakeApi(ask_status=500)).ask(ITEM)
    assert reply.behaviour == "error" and "HTTP 500" in reply.reason
