"""Plain ASGI middleware (no BaseHTTPMiddleware: it buffers and breaks streaming):
a trace id per request, the request body size limit, CORS with JSON rejections, and the
X-AI-Generated header on generated content."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body


class RequestContextMiddleware:
    """Gives every request a trace id (request.state.trace_id, echoed as X-Request-ID);
    error bodies carry it so a client report finds the server log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = uuid.uuid4().hex
        scope.setdefault("state", {})["trace_id"] = trace_id

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", trace_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


# Routes whose successful responses carry AI-generated content (AI Act Art. 50(1)/(2)).
AI_GENERATED_PATHS = ("/v1/ask", "/v1/chat/completions", "/v1/inform")
AI_GENERATED_PREFIXES = ("/v1/review",)
AI_GENERATED_HEADER = "X-AI-Generated"


def returns_generated_content(path: str) -> bool:
    return path in AI_GENERATED_PATHS or path.startswith(AI_GENERATED_PREFIXES)


class AIGeneratedHeaderMiddleware:
    """`X-AI-Generated: true` on every successful response that carries generated text
    (JSON and server-sent events alike), so proxies and clients can tell without parsing
    the body; the body itself carries `ai_generated`, the disclosure and the provenance."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not returns_generated_content(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                headers = list(message.get("headers", []))
                headers.append((AI_GENERATED_HEADER.lower().encode(), b"true"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI re-raises HTTPExceptions from body reading,
    so the JSON error handler answers 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="The request body is too large.")


class BodyLimitMiddleware:
    """413 JSON for bodies over `max_bytes`: at once when Content-Length says so, otherwise
    as soon as the streamed (chunked) body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        if declared is not None and declared > self.max_bytes:
            await self._reject(scope, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        message = f"The request body is larger than {self.max_bytes} bytes."
        await send_error(scope, send, 413, "payload_too_large", message)


def header_bytes(scope: Scope) -> int:
    """The size of the request line and headers as sent (each header 'name: value\r\n')."""
    line = len(scope.get("method", "")) + len(scope.get("raw_path", b"")) + 12
    line += len(scope.get("query_string", b"")) + 1
    return line + sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))


async def send_error(
    scope: Scope, send: Send, status: int, code: str, message: str, close: bool = True
) -> None:
    """A JSON error response sent straight from a middleware (no route, no handler)."""
    trace_id = scope.get("state", {}).get("trace_id") or uuid.uuid4().hex
    body = json.dumps(error_body(code, message, trace_id)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HeaderLimitMiddleware:
    """431 for a request line plus headers over `max_bytes`. api.protocol refuses such a
    request while it arrives; this check holds under any server (e.g. h11, or a header
    section that arrived in one piece)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and header_bytes(scope) > self.max_bytes:
            message = f"The request line and headers are larger than {self.max_bytes} bytes."
            await send_error(scope, send, 431, "header_too_large", message)
            return
        await self.app(scope, receive, send)


class BodyTimeout(HTTPException):
    """Raised while the body streams in too slowly; answered 408, and the connection closed
    (the rest of the body would otherwise be read as the next request)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            status_code=408,
            detail=f"The request body did not arrive within {seconds:g} s.",
            headers={"Connection": "close"},
        )


class BodyTimeoutMiddleware:
    """The whole body must arrive within `seconds` of the app's first read: a client that
    sends headers and half a body, then stalls, gets 408 and its connection closed instead
    of holding it (and a worker's task) forever. Once the body is complete, `receive` is
    passed through untouched (a streaming response waits on it for the disconnect)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        complete = False

        async def timed_receive() -> Message:
            nonlocal deadline, complete
            if complete:
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.seconds
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise BodyTimeout(self.seconds) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        await self.app(scope, timed_receive, send)


class JsonCorsMiddleware(CORSMiddleware):
    """Starlette's CORS, but a refused preflight is the JSON error envelope (400 cors_refused)
    like every other error, instead of plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        message = bytes(response.body).decode() or "Disallowed CORS request"
        return JSONResponse(
            error_body("cors_refused", message, uuid.uuid4().hex), status_code=400, headers=headers
        )
