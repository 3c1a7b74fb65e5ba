"""Small helpers of the API tests: server-sent event parsing and the standard questions."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

BUDGET_QUESTION = "What is the maximum Union contribution for the EMN work programme 2026-2027?"
BUDGET_FIGURE = "28 200 000"


@dataclass
class SseEvent:
    event: str
    data: str

    def json(self) -> dict:
        return json.loads(self.data)


def parse_sse(text: str) -> list[SseEvent]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        events.append(SseEvent(event, "\n".join(data)))
    return events


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is the JSON error envelope with this status (and code)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "trace_id"} <= set(error), error
    assert error["message"] and error["trace_id"]
    assert "Traceback" not in response.text
    if code is not None:
        assert error["code"] == code, error
    return error
