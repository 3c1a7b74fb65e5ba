"""Server-sent events framing (text/event-stream), shared by /v1/ask and chat completions."""

from __future__ import annotations

import json
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Send

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_event(data: Any, event: str | None = None) -> bytes:
    """One event; `data` is JSON-encoded unless it is already a string."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def sse_response_doc(
    description: str, example: str, events: list[str] | None = None
) -> dict[str, Any]:
    """OpenAPI entry documenting a text/event-stream 200 response beside the JSON one; the
    `itemSchema` (OpenAPI 3.2 style) describes one event, whose `data` is JSON text."""
    event: dict[str, Any] = {"type": "string"}
    if events:
        event["enum"] = events
    item = {
        "type": "object",
        "properties": {
            "event": event,
            "data": {"type": "string", "description": "JSON text (or [DONE])."},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
        "required": ["data"],
    }
    return {
        "description": description,
        "content": {"text/event-stream": {"itemSchema": item, "example": example}},
    }


class EventStreamResponse(StreamingResponse):
    """text/event-stream that always closes its event generator when the response ends,
    also when the client disconnects mid-stream, so the generator's clean-up (the audit
    record of a partly shown answer) runs now rather than whenever it is garbage-collected."""

    media_type = "text/event-stream"

    def __init__(self, content: Any) -> None:
        super().__init__(content, media_type=self.media_type, headers=SSE_HEADERS)

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
