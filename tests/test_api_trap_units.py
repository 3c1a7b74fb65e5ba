"""The pure parts behind tests/test_api_traps.py: plain validation messages, where invalid
JSON stopped, which content types are JSON, unknown filter values, and the generative model
check (against a real listening socket and a closed port)."""

from __future__ import annotations

import socket

import pytest
from pydantic import BaseModel, ValidationError

from api.errors import is_json_type, json_error_where
from api.filters import unknown_error, unknown_values
from api.model_check import ModelCheck, model_endpoint, reachable
from api.validation_messages import field_path, plain_message
from common.local_servers import free_port
from common.settings import Settings
from index.schema import Filters


def errors_of(model: type[BaseModel], data: object) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return [{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()]


def test_field_paths_name_list_positions() -> None:
    assert field_path(("body", "filters", "kinds", 0)) == "filters.kinds[0]"
    assert field_path(("body", "query")) == "query", "a field called 'query' keeps its name"
    assert field_path(("query", "limit")) == "limit"
    assert field_path(("body",)) == ""


def test_unknown_filter_keys_are_refused_by_the_model() -> None:
    (error,) = errors_of(Filters, {"kind": ["strategy"]})
    assert error["type"] == "extra_forbidden"
    assert plain_message({**error, "loc": ("body", "filters", "kind")}) == (
        "Unknown filter 'kind'; the filters are doc_ids, kinds, date_from, date_to."
    )


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ({"type": "string_pattern_mismatch", "loc": ("body", "question")},
         "The question is empty."),
        ({"type": "string_too_short", "loc": ("body", "topic")}, "The topic is empty."),
        ({"type": "value_error", "loc": ("body", "query"),
          "msg": "Value error, the text is empty once invisible characters are removed"},
         "The search text is empty."),
        # Only the top-level texts: an empty history turn is not "the question".
        ({"type": "string_too_short", "loc": ("body", "history", 0, "question")},
         "history[0].question is empty."),
        ({"type": "missing", "loc": ("body",)}, "The request body is missing: send a JSON object."),
        ({"type": "string_too_long", "loc": ("body", "question"), "ctx": {"max_length": 2000}},
         "question is longer than 2000 characters."),
        ({"type": "too_long", "loc": ("body", "filters", "doc_ids"), "ctx": {"max_length": 200}},
         "filters.doc_ids has more than 200 items."),
        ({"type": "literal_error", "loc": ("body", "rating"),
          "ctx": {"expected": "'up' or 'down'"}}, "rating must be 'up' or 'down'."),
        ({"type": "greater_than_equal", "loc": ("body", "k"), "ctx": {"ge": 1}},
         "k must be at least 1."),
        ({"type": "something_new", "loc": ("body", "x"), "msg": "Value error, odd"}, "x: odd"),
    ],
)  # fmt: skip
def test_plain_messages(error: dict, message: str) -> None:
    assert plain_message(error) == message


def test_a_key_with_a_lone_surrogate_is_escaped_in_the_message() -> None:
    message = plain_message({"type": "extra_forbidden", "loc": ("body", "filters", "\ud800")})
    message.encode("utf-8")  # no lone surrogate left to break the response
    assert "\\ud800" in message


def test_json_content_types() -> None:
    assert is_json_type("application/json")
    assert is_json_type("application/json; charset=utf-8")
    assert is_json_type("application/merge-patch+json")
    assert not is_json_type("application/x-www-form-urlencoded")
    assert not is_json_type("text/plain")
    assert not is_json_type("")


def test_where_invalid_json_stopped() -> None:
    body = '{"a": 1,\n "b": [}'
    error = {"type": "json_invalid", "loc": ("body", 16), "ctx": {"error": "Expecting value"}}
    assert json_error_where(error, body) == "Expecting value (line 2, column 8)"
    assert json_error_where(error, None) == "Expecting value (at character 17)"


def test_unknown_filter_values_list_the_valid_ones() -> None:
    filters = Filters(kinds=["strategy", "strateg", "Study"], doc_ids=["wp", "nope"])
    found = unknown_values(filters, ["strategy-doc", "wp"], ["strategy", "web page"])
    assert [(f, i, v) for f, i, v, _ in found] == [
        ("kinds", 1, "strateg"), ("kinds", 2, "Study"), ("doc_ids", 1, "nope")
    ]  # fmt: skip
    error = unknown_error(found)
    assert error.status == 422 and error.code == "unknown_filter_value"
    assert error.message == (
        "filters.kinds[1], filters.kinds[2] are not indexed kinds; the kinds are: 'strategy', "
        "'web page'."
    )
    assert "strateg'" not in error.message, "the values are not echoed (personal data)"
    (one,) = unknown_values(Filters(doc_ids=["zoe@example.com"]), ["wp"], [])
    assert unknown_error([one]).message == (
        "filters.doc_ids[0] is not an indexed document id; the document ids are: 'wp'."
    )
    assert error.details is not None and len(error.details) == 3
    assert error.details[2]["valid"] == ["strategy-doc", "wp"]
    assert not unknown_values(Filters(kinds=["web page"]), ["wp"], ["strategy", "web page"])


def settings(url: str, provider: str = "openai") -> Settings:
    return Settings(_env_file=None, llm_base_url=url, llm_provider=provider)  # type: ignore[call-arg]


def test_model_endpoints() -> None:
    assert model_endpoint(settings("http://127.0.0.1:8080/v1")) == ("127.0.0.1", 8080)
    assert model_endpoint(settings("https://x.openai.azure.com/")) == ("x.openai.azure.com", 443)
    assert model_endpoint(settings("")) is None
    assert model_endpoint(settings("not a url")) is None


def test_the_model_check_sees_a_listening_server_and_a_closed_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert reachable(settings(f"http://127.0.0.1:{port}/v1"))
        check = ModelCheck(settings(f"http://127.0.0.1:{port}/v1"))
        assert check.available()
    assert not reachable(settings(f"http://127.0.0.1:{free_port()}/v1"))
    assert not reachable(settings(""))
    # Mistral's API has no configurable address: a failure there falls back per request.
    assert reachable(settings("", provider="mistral"))
