"""No silent traps in the API, on the real service (loopback, default corpus): a filter that
cannot match (unknown key, kind or document id) is a 422 that lists the valid values instead
of a 200 refusal; a body not sent as JSON, invalid JSON and empty texts get plain messages;
`emn-llm` (or composer `llm`) without a reachable model is a 400, not a silent extractive
answer; an abstention under filters names them."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import BUDGET_QUESTION, assert_error, parse_sse
from conftest import ApiServer

pytestmark = pytest.mark.slow

PYDANTIC_WORDING = ("Input should", "String should", "valid dictionary", "Value error")


@pytest.fixture(scope="module")
def http(api_server: ApiServer) -> httpx.Client:
    return httpx.Client(base_url=api_server.base_url, timeout=120)


@pytest.fixture(scope="module")
def catalog(http: httpx.Client) -> tuple[list[str], list[str]]:
    """(document ids, kinds) as GET /v1/documents lists them."""
    docs = http.get("/v1/documents").json()["documents"]
    return sorted(d["id"] for d in docs), sorted({d["kind"] for d in docs})


def bodies(filters: dict) -> list[tuple[str, dict]]:
    """The same filters on every route that takes them."""
    return [
        ("/v1/ask", {"question": BUDGET_QUESTION, "filters": filters}),
        ("/v1/search", {"query": "EMN budget", "filters": filters}),
        ("/v1/inform", {"topic": "return and readmission", "filters": filters}),
        (
            "/v1/chat/completions",
            {
                "model": "emn-extractive",
                "messages": [{"role": "user", "content": BUDGET_QUESTION}],
                "filters": filters,
            },
        ),
    ]


def plain(error: dict) -> None:
    """A message in words, not pydantic's."""
    assert not any(w in error["message"] for w in PYDANTIC_WORDING), error["message"]


@pytest.mark.parametrize(("path", "body"), bodies({"kind": ["strategy"]}))
def test_an_unknown_filter_key_is_422(http: httpx.Client, path: str, body: dict) -> None:
    error = assert_error(http.post(path, json=body), 422, "validation_error")
    assert error["message"] == (
        "Unknown filter 'kind'; the filters are doc_ids, kinds, date_from, date_to."
    )


@pytest.mark.parametrize(("path", "body"), bodies({"kinds": ["strateg"]}))
def test_an_unknown_kind_is_422_with_the_valid_kinds(
    http: httpx.Client, catalog: tuple[list[str], list[str]], path: str, body: dict
) -> None:
    _, kinds = catalog
    error = assert_error(http.post(path, json=body), 422, "unknown_filter_value")
    assert error["message"].startswith("filters.kinds[0] is not an indexed kind; the kinds are:")
    for kind in kinds:
        assert repr(kind) in error["message"], (kind, error["message"])
    assert error["details"][0]["loc"] == ["body", "filters", "kinds", 0]
    assert error["details"][0]["valid"] == kinds


@pytest.mark.parametrize(("path", "body"), bodies({"doc_ids": ["emn-work-programme-2031"]}))
def test_an_unknown_document_id_is_422_with_the_valid_ids(
    http: httpx.Client, catalog: tuple[list[str], list[str]], path: str, body: dict
) -> None:
    doc_ids, _ = catalog
    error = assert_error(http.post(path, json=body), 422, "unknown_filter_value")
    assert error["message"].startswith("filters.doc_ids[0] is not an indexed document id; the ")
    assert all(repr(doc_id) in error["message"] for doc_id in doc_ids), error["message"]
    assert error["details"][0]["valid"] == doc_ids


def test_valid_filters_still_work(http: httpx.Client) -> None:
    body = {"query": "EMN budget", "filters": {"kinds": ["work programme"],
            "doc_ids": ["emn-work-programme-2026-2027"]}}  # fmt: skip
    response = http.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    assert {r["doc_id"] for r in response.json()["results"]} == {"emn-work-programme-2026-2027"}


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_a_body_not_sent_as_json_says_how_to_send_it(http: httpx.Client, content_type: str) -> None:
    # What `curl -d '{"question": ...}'` sends: JSON text with a form's content type.
    body = f'{{"question": "{BUDGET_QUESTION}"}}'.encode()
    for path in ("/v1/ask", "/v1/search", "/v1/feedback", "/v1/chat/completions"):
        response = http.post(path, content=body, headers={"Content-Type": content_type})
        error = assert_error(response, 415, "unsupported_media_type")
        assert error["message"].startswith(
            "Send the body as JSON with the header Content-Type: application/json"
        ), error["message"]
        assert content_type in error["message"]


def test_json_without_a_content_type_says_which_header_to_send(http: httpx.Client) -> None:
    response = http.post("/v1/search", content=b'{"query": "EMN budget"}')
    assert "content-type" not in response.request.headers
    error = assert_error(response, 415, "unsupported_media_type")
    assert error["message"] == (
        "Send the body as JSON with the header Content-Type: application/json "
        "(it was sent without one)."
    )


def test_invalid_json_says_where(http: httpx.Client) -> None:
    response = http.post(
        "/v1/ask",
        content=b'{"question": "What is the EMN?",\n "history": [}',
        headers={"Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "invalid_json")
    assert error["message"].startswith("The body is not valid JSON: "), error["message"]
    assert "(line 2, column 14)" in error["message"], error["message"]


@pytest.mark.parametrize("blank", ["", "   ", "\n\t", "\u200b\u200b"])
def test_an_empty_text_says_it_is_empty(http: httpx.Client, blank: str) -> None:
    for path, body, message in (
        ("/v1/ask", {"question": blank}, "The question is empty."),
        ("/v1/search", {"query": blank}, "The search text is empty."),
        ("/v1/inform", {"topic": blank}, "The topic is empty."),
    ):
        error = assert_error(http.post(path, json=body), 422, "validation_error")
        assert error["message"] == message, (path, error)
    chat = {"model": "emn-extractive", "messages": [{"role": "user", "content": blank}]}
    error = assert_error(http.post("/v1/chat/completions", json=chat), 422, "empty_question")
    assert error["message"] == "The question (the last user message) is empty."


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/ask", {}, "The field 'question' is missing."),
        ("/v1/ask", [], "The body must be a JSON object"),
        ("/v1/ask", {"question": "x" * 2001}, "question is longer than 2000 characters."),
        ("/v1/ask", {"question": "x", "composer": "gpt"}, "composer must be 'extractive' or"),
        ("/v1/ask", {"question": 3}, "question must be a string."),
        ("/v1/ask", {"question": "x", "filters": {"date_from": "yesterday"}},
         "filters.date_from must be a date written YYYY-MM-DD."),
        ("/v1/ask", {"question": "x", "filters": {"doc_ids": "emn"}},
         "filters.doc_ids must be a list."),
        ("/v1/search", {"query": "x", "k": 99}, "k must be at most 50."),
        ("/v1/search", {"query": "x", "k": "many"}, "k must be a whole number."),
        ("/v1/feedback", {"trace_id": "abc", "rating": "meh"}, "rating must be 'up' or 'down'."),
        ("/v1/feedback", {"trace_id": "a b", "rating": "up"},
         "trace_id must be a trace id as returned with an answer"),
        ("/v1/feedback", {"trace_id": "abc", "rating": "up", "report": 1},
         "report must be true or false"),
        ("/v1/chat/completions", {"model": "emn-extractive", "messages": []},
         "messages must have at least 1 item."),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]},
         "The field 'model' is missing."),
    ],
)  # fmt: skip
def test_validation_errors_read_as_plain_sentences(
    http: httpx.Client, path: str, body: object, message: str
) -> None:
    error = assert_error(http.post(path, json=body), 422, "validation_error")
    assert error["message"].startswith(message), error["message"]
    plain(error)
    assert error["details"], "the field errors stay available to programs"


def test_several_errors_are_all_named(http: httpx.Client) -> None:
    error = assert_error(http.post("/v1/feedback", json={"trace_id": "a b", "rating": "meh"}), 422)
    assert "trace_id must be" in error["message"] and "rating must be" in error["message"]
    assert len(error["details"]) == 2


def test_emn_llm_without_a_model_is_a_clear_error(http: httpx.Client) -> None:
    """The test service's EMN_LLM_BASE_URL points at a port where nothing listens."""
    for stream in (False, True):
        chat = {"model": "emn-llm", "stream": stream,
                "messages": [{"role": "user", "content": BUDGET_QUESTION}]}  # fmt: skip
        error = assert_error(http.post("/v1/chat/completions", json=chat), 400,
                             "model_unavailable")  # fmt: skip
        assert error["message"].startswith("emn-llm needs a generative model"), error
        assert "EMN_LLM_BASE_URL" in error["message"] and "emn-extractive" in error["message"]
        ask = {"question": BUDGET_QUESTION, "composer": "llm"}
        error = assert_error(
            http.post("/v1/ask", params={"stream": stream}, json=ask), 400, "model_unavailable"
        )
        assert "composer 'extractive'" in error["message"], error
    # The extractive model and the server's default composer answer as before.
    chat = {"model": "emn-extractive", "messages": [{"role": "user", "content": BUDGET_QUESTION}]}
    assert http.post("/v1/chat/completions", json=chat).status_code == 200
    assert http.post("/v1/ask", json={"question": BUDGET_QUESTION}).status_code == 200


def test_an_abstention_under_filters_names_them(http: httpx.Client) -> None:
    body = {"question": BUDGET_QUESTION, "filters": {"kinds": ["web page"]}}
    answer = http.post("/v1/ask", json=body).json()
    assert answer["behaviour"] == "abstained", answer
    assert "within the filters you set (kind: web page)" in answer["answer"]
    assert "Try again without the filters." in answer["answer"]
    assert "within the filters you set (kind: web page)" in answer["reason"]
    chat = {
        "model": "emn-extractive",
        "messages": [{"role": "user", "content": BUDGET_QUESTION}],
        "filters": {"kinds": ["web page"]},
    }
    completion = http.post("/v1/chat/completions", json=chat).json()
    assert "Try again without the filters." in completion["choices"][0]["message"]["content"]
    assert "within the filters you set" in completion["emn_answer"]["reason"]
    streamed = http.post("/v1/ask", params={"stream": True}, json=body)
    final = [e for e in parse_sse(streamed.text) if e.event == "answer"][-1].json()
    assert "Try again without the filters." in final["answer"]
