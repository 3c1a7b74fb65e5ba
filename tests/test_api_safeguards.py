"""AI Act safeguards on a real server (uvicorn on loopback) over the default corpus:

- Art. 50(1) disclosure: `ai_generated`, the disclosure text and `X-AI-Generated: true` on
  every response with generated content (ask, its stream, chat completions, inform);
- Art. 50(2) marking: POST /v1/provenance/verify accepts an unaltered answer or draft and
  rejects an edited text, citation, trace id or signature;
- Art. 13: GET /v1/model-card serves docs/model-card.md;
- Art. 14: flagged answers enter the review queue and take a verdict; the generation kill
  switch answers extractively without a restart and can be turned back on;
- personal data: seeded PII questions, feedback and review notes leave no raw PII string in
  the service's database files or log.

A fake OpenAI-compatible model server (it quotes a sentence of the first source, cited) makes
the `llm` composer observable: with generation on it is asked, with it off it is not.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from api_helpers import BUDGET_QUESTION, assert_error, parse_sse
from conftest import ApiServer, copy_index, settings_env, start_api_server

from api.audit_chain import AuditLog
from api.db import make_engine
from common.sentences import sentences
from common.settings import PROJECT_ROOT, Settings
from rag.answer import DISCLOSURE

pytestmark = pytest.mark.slow

FAKE_MODEL = "fake-quoting-model"
PII_QUESTIONS = Path(__file__).parent / "data" / "pii_questions.jsonl"
_SOURCE = re.compile(r'<source id="(\d+)" title="[^"]*">\n(.*?)\n</source>', re.S)


# --- a fake chat model ----------------------------------------------------------------------


@dataclass
class QuotingModel:
    """An OpenAI-compatible chat server on loopback that answers with one sentence quoted
    verbatim from the first source of the prompt, cited [n] (so verification keeps it)."""

    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                content = owner.reply(body["messages"][-1]["content"])
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                             "model": FAKE_MODEL, "choices": [{"index": 0, "delta":
                             {"content": content}, "finish_reason": None}]}  # fmt: skip
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
                    return
                data = json.dumps({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": FAKE_MODEL,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def reply(prompt: str) -> str:
        number, text = _SOURCE.findall(prompt)[0]
        quote = next(s for s in sentences(text) if len(s.split()) >= 6 and s[0].isupper())
        return f"{quote.rstrip('.')} [{number}]."

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Safeguarded:
    server: ApiServer
    model: QuotingModel
    http: httpx.Client


@pytest.fixture(scope="module")
def svc(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Safeguarded]:
    workdir = tmp_path_factory.mktemp("api-safeguards")
    settings = copy_index(default_index_settings, workdir / "index")
    model = QuotingModel()
    server = start_api_server(
        workdir,
        {
            **settings_env(settings),
            "EMN_AUTH_MODE": "open",
            "EMN_LLM_BASE_URL": model.base_url,
            "EMN_LLM_MODEL": FAKE_MODEL,
            "EMN_RATE_LIMIT_PER_MINUTE": "100000",
            "EMN_RATE_LIMIT_BURST": "10000",
        },
    )
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            yield Safeguarded(server, model, http)
    finally:
        server.stop()
        model.stop()


def ask(http: httpx.Client, question: str = BUDGET_QUESTION, **body: object) -> httpx.Response:
    response = http.post("/v1/ask", json={"question": question, **body})
    assert response.status_code == 200, response.text
    return response


def verify(http: httpx.Client, answer: dict) -> dict:
    response = http.post("/v1/provenance/verify", json=answer)
    assert response.status_code == 200, response.text
    return response.json()


# --- Art. 50(1): disclosure ------------------------------------------------------------------


def test_every_generated_answer_is_disclosed_in_body_and_header(svc: Safeguarded) -> None:
    http = svc.http
    answer = ask(http)
    assert answer.headers["x-ai-generated"] == "true"
    data = answer.json()
    assert data["ai_generated"] is True and data["disclosure"] == DISCLOSURE
    assert data["provenance"]["ai_generated"] is True and data["provenance"]["signature"]

    streamed = http.post("/v1/ask?stream=true", json={"question": BUDGET_QUESTION})
    assert streamed.status_code == 200 and streamed.headers["x-ai-generated"] == "true"
    final = [e for e in parse_sse(streamed.text) if e.event == "answer"][-1].json()
    assert final["ai_generated"] is True and final["disclosure"] == DISCLOSURE

    messages = [{"role": "user", "content": BUDGET_QUESTION}]
    chat = http.post("/v1/chat/completions", json={"model": "emn-extractive", "messages": messages})
    assert chat.status_code == 200 and chat.headers["x-ai-generated"] == "true"
    assert chat.json()["emn_answer"]["ai_generated"] is True
    assert chat.json()["emn_answer"]["disclosure"] == DISCLOSURE
    chat_stream = http.post(
        "/v1/chat/completions",
        json={"model": "emn-extractive", "messages": messages, "stream": True},
    )
    assert chat_stream.status_code == 200 and chat_stream.headers["x-ai-generated"] == "true"

    draft = http.post(
        "/v1/inform",
        json={"topic": "EMN budget", "filters": {"doc_ids": ["emn-work-programme-2026-2027"]}},
    )
    assert draft.status_code == 200 and draft.headers["x-ai-generated"] == "true"
    assert draft.json()["ai_generated"] is True and draft.json()["disclosure"] == DISCLOSURE

    # Only generated content is marked: not passages, not errors.
    assert "x-ai-generated" not in http.post("/v1/search", json={"query": "EMN"}).headers
    assert "x-ai-generated" not in http.get("/v1/documents").headers
    refused = http.post("/v1/ask", json={"question": ""})
    assert_error(refused, 422)
    assert "x-ai-generated" not in refused.headers


def test_the_schema_documents_the_disclosure_header(svc: Safeguarded) -> None:
    paths = svc.http.get("/openapi.json").json()["paths"]
    for path, method in (("/v1/ask", "post"), ("/v1/chat/completions", "post"),
                         ("/v1/inform", "post")):  # fmt: skip
        assert "X-AI-Generated" in paths[path][method]["responses"]["200"]["headers"], path


# --- Art. 50(2): provenance marking ------------------------------------------------------------


def test_provenance_verifies_an_unaltered_answer(svc: Safeguarded) -> None:
    answer = ask(svc.http).json()
    assert answer["behaviour"] == "answered" and answer["citations"]
    assert verify(svc.http, answer) == {
        "valid": True,
        "reason": "unaltered: signed by this service",
        "kind": "answer",
    }
    # The JSON as a client received it, re-serialised: still valid.
    assert verify(svc.http, json.loads(json.dumps(answer)))["valid"] is True


def test_provenance_detects_edited_answer(svc: Safeguarded) -> None:
    answer = ask(svc.http).json()
    edited = copy.deepcopy(answer)
    edited["answer"] = edited["answer"].replace("28 200 000", "38 200 000")
    assert edited["answer"] != answer["answer"]
    result = verify(svc.http, edited)
    assert result["valid"] is False and "answer text was altered" in result["reason"]


def test_provenance_detects_edited_citation(svc: Safeguarded) -> None:
    answer = ask(svc.http).json()
    edited = copy.deepcopy(answer)
    edited["citations"][0]["quote"] += " The Commission may double this amount."
    result = verify(svc.http, edited)
    assert result["valid"] is False and "citations were altered" in result["reason"]

    dropped = copy.deepcopy(answer)
    dropped["citations"] = dropped["citations"][1:]
    assert verify(svc.http, dropped)["valid"] is False


def test_provenance_rejects_forged_records_and_odd_json(svc: Safeguarded) -> None:
    answer = ask(svc.http).json()
    behaviour = copy.deepcopy(answer)
    behaviour["behaviour"] = "abstained"
    assert verify(svc.http, behaviour)["valid"] is False
    # Re-pointing the record at the edited text does not help without the key.
    forged = copy.deepcopy(answer)
    forged["answer"] = "Something else [1]."
    forged["provenance"]["answer_sha256"] = "0" * 64
    assert "signature mismatch" in verify(svc.http, forged)["reason"]
    unsigned = {k: v for k, v in answer.items() if k != "provenance"}
    assert verify(svc.http, unsigned) == {
        "valid": False,
        "reason": "the answer has no provenance record",
        "kind": "answer",
    }
    for odd in ({}, {"answer": 1, "citations": 5, "provenance": answer["provenance"]},
                {"provenance": "x"}):  # fmt: skip
        assert verify(svc.http, odd)["valid"] is False
    assert_error(svc.http.post("/v1/provenance/verify", json=[1, 2]), 422)


def test_inform_drafts_carry_a_verifiable_provenance_record(svc: Safeguarded) -> None:
    response = svc.http.post(
        "/v1/inform",
        json={"topic": "EMN budget", "filters": {"doc_ids": ["emn-work-programme-2026-2027"]}},
    )
    draft = response.json()
    assert draft["provenance"]["trace_id"] == draft["trace_id"]
    assert verify(svc.http, draft) == {
        "valid": True,
        "reason": "unaltered: signed by this service",
        "kind": "inform",
    }
    edited = copy.deepcopy(draft)
    section = next(s for s in edited["sections"] if s["text"])
    section["text"] += " An unsupported claim."
    result = verify(svc.http, edited)
    assert result["valid"] is False and "draft text was altered" in result["reason"]


# --- Art. 13: instructions for use -------------------------------------------------------------


def test_model_card_is_served_as_markdown(svc: Safeguarded) -> None:
    response = svc.http.get("/v1/model-card")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    text = (PROJECT_ROOT / "docs" / "model-card.md").read_text(encoding="utf-8")
    assert response.text == text
    assert "## Intended purpose" in response.text and "## Known limits" in response.text


# --- Art. 14: review queue and kill switch ---------------------------------------------------


def test_flagged_answers_enter_the_review_queue_and_take_a_verdict(svc: Safeguarded) -> None:
    http = svc.http
    down = ask(http).json()
    reported = ask(http, "What is the European Migration Network?").json()
    liked = ask(http, "What are EMN informs?").json()
    for body in (
        {"trace_id": down["trace_id"], "rating": "down",
         "comment": "Wrong year. Mail me: reviewer.test@example.org"},
        {"trace_id": reported["trace_id"], "rating": "up", "report": True,
         "comment": "Reads like legal advice"},
        {"trace_id": liked["trace_id"], "rating": "up"},
    ):  # fmt: skip
        receipt = http.post("/v1/feedback", json=body)
        assert receipt.status_code == 201, receipt.text
        assert receipt.json()["report"] is body.get("report", False)

    queue = http.get("/v1/review", params={"status": "all", "limit": 200})
    assert queue.status_code == 200 and queue.headers["x-ai-generated"] == "true"
    items = {item["trace_id"]: item for item in queue.json()["items"]}
    assert down["trace_id"] in items and reported["trace_id"] in items
    assert liked["trace_id"] not in items
    item = items[down["trace_id"]]
    assert item["status"] == "open" and item["flagged"] and item["verdict"] is None
    assert item["question"] == BUDGET_QUESTION and item["answer"] == down["answer"]
    assert item["behaviour"] == "answered" and item["endpoint"] == "ask"
    assert [c["chunk_id"] for c in item["citations"]] == [c["chunk_id"] for c in down["citations"]]
    assert [c["quote"] for c in item["citations"]] == [c["quote"] for c in down["citations"]]
    assert item["feedback"][0]["comment"] == "Wrong year. Mail me: [EMAIL]"
    assert items[reported["trace_id"]]["feedback"][0]["report"] is True

    verdict = http.post(
        f"/v1/review/{down['trace_id']}",
        json={"verdict": "wrong", "note": "Cites the old programme; call +32 2 299 11 11"},
    )
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["status"] == "reviewed" and verdict.json()["verdict"] == "wrong"
    assert verdict.json()["review_note"] == "Cites the old programme; call [PHONE]"
    open_ids = [i["trace_id"] for i in http.get("/v1/review").json()["items"]]
    assert down["trace_id"] not in open_ids and reported["trace_id"] in open_ids
    reviewed = http.get("/v1/review", params={"status": "reviewed"}).json()["items"]
    assert down["trace_id"] in [i["trace_id"] for i in reviewed]
    one = http.get(f"/v1/review/{liked['trace_id']}").json()
    assert one["flagged"] is False and one["status"] == "not_flagged"

    # A new flag after the verdict reopens it.
    http.post("/v1/feedback", json={"trace_id": down["trace_id"], "rating": "down"})
    assert http.get(f"/v1/review/{down['trace_id']}").json()["status"] == "open"

    assert_error(http.post("/v1/review/" + "f" * 32, json={"verdict": "right"}), 404)
    assert_error(http.get("/v1/review/" + "f" * 32), 404, "trace_not_found")
    assert_error(http.post(f"/v1/review/{down['trace_id']}", json={"verdict": "maybe"}), 422)

    # The verdict is on the audit chain too, and the chain still verifies.
    log = AuditLog(make_engine(svc.server.database_url))
    try:
        kinds = [r["kind"] for r in log.records() if r["trace_id"] == down["trace_id"]]
        assert kinds == ["answer", "review"]
        assert log.verify().ok
    finally:
        log.engine.dispose()


def test_kill_switch_answers_extractively_and_turns_back_on_without_restart(
    svc: Safeguarded,
) -> None:
    http = svc.http
    chat = {"model": "emn-llm", "messages": [{"role": "user", "content": BUDGET_QUESTION}]}
    assert http.get("/v1/admin/generation").json() == {"enabled": True}
    before = len(svc.model.requests)
    on = ask(http, composer="llm").json()
    assert len(svc.model.requests) == before + 1, "the model was asked"
    assert on["versions"]["composer"] == "llm" and on["versions"]["model"] == FAKE_MODEL
    assert on["fallback"] is False and on["provenance"]["verbatim"] is False
    try:
        switched = http.put("/v1/admin/generation", json={"enabled": False})
        assert switched.status_code == 200 and switched.json() == {"enabled": False}
        assert http.get("/readyz").json()["generation"] == "off"
        before = len(svc.model.requests)
        off = ask(http, composer="llm").json()
        assert off["versions"]["composer"] == "extractive" and off["versions"]["model"] == "none"
        assert off["fallback"] is False and off["behaviour"] == "answered"
        assert off["provenance"]["verbatim"] is True
        completion = http.post("/v1/chat/completions", json=chat).json()
        assert completion["emn_answer"]["versions"]["composer"] == "extractive"
        streamed = http.post(
            "/v1/ask?stream=true", json={"question": BUDGET_QUESTION, "composer": "llm"}
        )
        final = [e for e in parse_sse(streamed.text) if e.event == "answer"][-1].json()
        assert final["versions"]["composer"] == "extractive"
        assert len(svc.model.requests) == before, "no request reached the model"
    finally:
        assert http.put("/v1/admin/generation", json={"enabled": True}).json() == {"enabled": True}
    again = http.post("/v1/chat/completions", json=chat).json()
    assert again["emn_answer"]["versions"]["composer"] == "llm"
    assert http.get("/readyz").json()["generation"] == "on"


# --- personal data -----------------------------------------------------------------------------


def pii_questions() -> list[dict]:
    lines = PII_QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_seeded_pii_is_stored_nowhere(svc: Safeguarded) -> None:
    http = svc.http
    questions = pii_questions()
    assert len(questions) >= 10
    seeded: list[str] = []
    for n, item in enumerate(questions):
        seeded += item["pii"]
        if n % 3 == 2:
            events = parse_sse(
                http.post("/v1/ask?stream=true", json={"question": item["question"]}).text
            )
            answer = [e for e in events if e.event == "answer"][-1].json()
        else:
            answer = ask(http, item["question"]).json()
        feedback = http.post(
            "/v1/feedback",
            json={"trace_id": answer["trace_id"], "rating": "down", "report": n % 2 == 0,
                  "comment": f"Not what I asked. {item['question']}"},
        )  # fmt: skip
        assert feedback.status_code == 201, feedback.text
        if n % 4 == 0:
            verdict = http.post(
                f"/v1/review/{answer['trace_id']}",
                json={"verdict": "wrong", "note": f"User wrote: {item['question']}"},
            )
            assert verdict.status_code == 200, verdict.text

    # Personal data in a conversation's history, in filters and in an inform topic.
    history_pii = ["Omar Farouk Haddadin", "omar.haddadin@example.net", "+962 79 555 0142"]
    seeded += history_pii
    chat = http.post(
        "/v1/chat/completions",
        json={"model": "emn-extractive", "messages": [
            {"role": "user", "content": "My name is Omar Farouk Haddadin, email "
                                        "omar.haddadin@example.net. What is the EMN?"},
            {"role": "assistant", "content": "The EMN is a network [1]."},
            {"role": "user", "content": "And what does it publish? My phone is +962 79 555 0142"},
        ]},
    )  # fmt: skip
    assert chat.status_code == 200, chat.text
    # A document id that is not indexed is refused (422, the value not echoed back)...
    refused = http.post("/v1/ask", json={
        "question": "What is the EMN? Reach me at filter.person@example.com",
        "filters": {"doc_ids": ["emn-work-programme-2026-2027", "zoe.filter@example.com"]},
    })  # fmt: skip
    assert refused.status_code == 422 and "zoe.filter" not in refused.text, refused.text
    assert refused.json()["error"]["code"] == "unknown_filter_value"
    filtered = ask(
        http, "What is the EMN? Reach me at filter.person@example.com",
        filters={"doc_ids": ["emn-work-programme-2026-2027"]},
    )  # fmt: skip
    assert filtered.status_code == 200
    seeded += ["filter.person@example.com", "zoe.filter@example.com"]
    topic_pii = ["Nadia Benali", "+33 7 81 22 90 14"]
    seeded += topic_pii
    draft = http.post(
        "/v1/inform",
        json={"topic": "temporary protection (my name is Nadia Benali, phone +33 7 81 22 90 14)",
              "filters": {"doc_ids": ["com-2026-45-migration-strategy"]}},
    )  # fmt: skip
    assert draft.status_code == 200, draft.text
    # The review queue was read: it stores nothing, and shows only redacted text.
    queue = http.get("/v1/review", params={"status": "all", "limit": 200}).text
    for value in seeded:
        assert value not in queue, value

    data_dir = Path(svc.server.env["EMN_DATA_DIR"])
    stored = [p for p in data_dir.rglob("*") if p.is_file()] + [svc.server.log]
    assert any(p.name == "audit.sqlite" for p in stored)
    for path in stored:
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace").lower()
        for value in seeded:
            assert value.encode() not in raw, f"{value!r} stored in {path.name}"
            assert value.lower() not in text, f"{value!r} stored in {path.name}"
    # ... while the redacted records are there.
    log = AuditLog(make_engine(svc.server.database_url))
    try:
        questions_stored = [
            json.loads(r["payload"]).get("question", "") for r in log.records() if r["payload"]
        ]
    finally:
        log.engine.dispose()
    assert any("[NAME]" in q and "[DOCUMENT_NUMBER]" in q for q in questions_stored)
    assert any("[IBAN]" in q for q in questions_stored)
