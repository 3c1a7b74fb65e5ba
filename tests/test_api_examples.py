"""Every request example of the OpenAPI schema works as shown, on the real service over the
default corpus: each operation's request-body examples and query-parameter examples are sent
as they are, and each must succeed (2xx); an example that asks a question must be answered.

Path and header parameters take their documented example. The substitutions: an example's
`trace_id` (in the body or the path) is a placeholder for "the trace id of an answer you
received", so it is replaced by the trace id of the answer to the first /v1/ask example (run
first); a `feedback_id` likewise by the id of the first /v1/feedback receipt."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from api_helpers import parse_sse
from conftest import ApiServer

pytestmark = pytest.mark.slow

# Operations that answer a question: their examples must come back `answered`.
ANSWERING = {"/v1/ask", "/v1/chat/completions", "/v1/inform"}
# Run first: they give the trace id the others refer to.
FIRST = ("/v1/ask", "/v1/chat/completions", "/v1/search", "/v1/inform", "/v1/feedback")


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = schema
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def body_examples(schema: dict[str, Any], operation: dict[str, Any]) -> list[Any]:
    """The JSON body's examples: the schema's `examples`, and the media type's `example` /
    `examples` (OpenAPI 3.1 allows all three)."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    found = list(resolve(schema, content.get("schema", {})).get("examples", []))
    found += [e["value"] for e in (content.get("examples") or {}).values() if "value" in e]
    if "example" in content:
        found.append(content["example"])
    return found


def query_examples(schema: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    """One query string per query-parameter example."""
    found = []
    for param in operation.get("parameters", []):
        param = resolve(schema, param)
        if param.get("in") != "query":
            continue
        values = list(param.get("examples", {}).values()) if param.get("examples") else []
        values = [v["value"] if isinstance(v, dict) and "value" in v else v for v in values]
        values += [param["example"]] if "example" in param else []
        values += param.get("schema", {}).get("examples", [])
        found += [{param["name"]: value} for value in values]
    return found


def parameter_examples(schema: dict[str, Any], operation: dict[str, Any], where: str) -> dict:
    """The first documented example of each path or header parameter."""
    found = {}
    for param in operation.get("parameters", []):
        param = resolve(schema, param)
        if param.get("in") != where:
            continue
        values = param.get("schema", {}).get("examples", []) + (
            [param["example"]] if "example" in param else []
        )
        if values:
            found[param["name"]] = str(values[0])
    return found


def all_examples(schema: dict[str, Any]) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(method, path, body or None, query) for every example, FIRST paths first."""
    cases = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for body in body_examples(schema, operation):
                cases.append((method.upper(), path, body, {}))
            for query in query_examples(schema, operation):
                cases.append((method.upper(), path, None, query))
    order = {path: i for i, path in enumerate(FIRST)}
    return sorted(cases, key=lambda c: order.get(c[1], len(FIRST)))


def with_trace_id(value: Any, trace_id: str) -> Any:
    if isinstance(value, dict):
        return {k: trace_id if k == "trace_id" else with_trace_id(v, trace_id)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [with_trace_id(v, trace_id) for v in value]
    return value


def behaviour_of(path: str, response: httpx.Response) -> str:
    """The answer's behaviour, whatever the shape (JSON, chat completion, event stream)."""
    if response.headers["content-type"].startswith("text/event-stream"):
        events = parse_sse(response.text)
        assert events[-1].data == "[DONE]" or events[-1].event == "answer", response.text[-500:]
        finals = [e.json() for e in events if e.data.startswith("{") and "emn_answer" in e.data]
        answers = [e.json() for e in events if e.event == "answer"]
        if finals:
            return finals[-1]["emn_answer"]["behaviour"]
        return answers[-1]["behaviour"]
    data = response.json()
    if path == "/v1/chat/completions":
        return data["emn_answer"]["behaviour"]
    return data["behaviour"]


def test_every_openapi_request_example_works_as_shown(api_server: ApiServer) -> None:
    schema = httpx.get(api_server.url("/openapi.json"), timeout=30).json()
    cases = all_examples(schema)
    documented = {path for _, path, _, _ in cases}
    expected = {
        "/v1/ask", "/v1/search", "/v1/inform", "/v1/chat/completions", "/v1/feedback",
        "/v1/feedback/{feedback_id}", "/v1/conversations/{conversation_id}",
        "/v1/drafts/{draft_id}", "/v1/drafts/{draft_id}/edits",
    }  # fmt: skip
    assert expected <= documented, expected - documented
    trace_id = feedback_id = ""
    failures = []
    with httpx.Client(base_url=api_server.base_url, timeout=300) as http:
        for method, path, body, query in cases:
            if "{trace_id}" in path or (body and "trace_id" in json.dumps(body)):
                assert trace_id, f"{path}: no answer to refer to yet"
                body = with_trace_id(body, trace_id)
            operation = schema["paths"][path][method.lower()]
            url = path.replace("{trace_id}", trace_id).replace("{feedback_id}", feedback_id)
            for name, value in parameter_examples(schema, operation, "path").items():
                url = url.replace("{" + name + "}", value)
            headers = parameter_examples(schema, operation, "header")
            response = http.request(method, url, json=body, params=query, headers=headers)
            shown = f"{method} {path} {json.dumps(body)[:160]} {query}"
            if not 200 <= response.status_code < 300:
                failures.append(f"{shown}: {response.status_code} {response.text[:300]}")
                continue
            if path in ANSWERING:
                behaviour = behaviour_of(path, response)
                if behaviour != "answered":
                    failures.append(f"{shown}: {behaviour}: {response.text[:300]}")
            if path == "/v1/ask" and not trace_id:
                trace_id = response.json()["trace_id"]
            if path == "/v1/feedback" and not feedback_id:
                feedback_id = str(response.json()["id"])
    assert not failures, "examples that do not work as shown:\n" + "\n".join(failures)
    assert len(cases) >= 10, cases
