"""The chat page's HTTP client for the API: timeouts, a few retries where they are safe, and
one exception type (`ApiError`) whose message can be shown to the user as it is.

Nothing here imports Streamlit, so the client is usable (and testable) on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from common.settings import Settings

RETRY_STATUSES = {502, 503, 504}
BACKOFF_S = 0.3
# An inform draft answers one question per section: allow it several answer timeouts.
INFORM_TIMEOUT_FACTOR = 3


class ApiError(Exception):
    """A request that failed, with a message meant for the user (the API's own JSON error
    message when there is one) and, where known, the API's code, status and trace id."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "api_error",
        status: int | None = None,
        trace_id: str = "",
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status
        self.trace_id, self.retryable = trace_id, retryable

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """What the page keeps (in session state) to show the error again."""
        return {
            "message": self.message,
            "code": self.code,
            "status": self.status,
            "trace_id": self.trace_id,
            "retryable": self.retryable,
        }


class StreamUnavailable(Exception):
    """The streaming request gave nothing usable (no event stream, or it ended without the
    final record): the caller asks again without streaming."""


@dataclass(frozen=True)
class StreamEvent:
    kind: str  # delta | citations | answer
    text: str = ""
    data: dict[str, Any] | None = None


def error_from_response(response: httpx.Response) -> ApiError:
    """The API's JSON error envelope as an ApiError; any other body becomes a short message."""
    trace_id = response.headers.get("X-Request-ID", "")
    try:
        body = response.json()
        error = body["error"]
        return ApiError(
            str(error["message"]),
            code=str(error.get("code", "api_error")),
            status=response.status_code,
            trace_id=str(error.get("trace_id", trace_id)),
            retryable=response.status_code in {429, *RETRY_STATUSES},
        )
    except (ValueError, KeyError, TypeError):
        reason = response.reason_phrase or "error"
        return ApiError(
            f"The API answered {response.status_code} {reason}.",
            code=f"http_{response.status_code}",
            status=response.status_code,
            trace_id=trace_id,
            retryable=response.status_code >= 500,
        )


def parse_sse_lines(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream, line by line as it arrives."""
    event, data = "message", []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, "\n".join(data)


class ApiClient:
    """Talks to one API base URL; every failure is an `ApiError` with a readable message."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 3.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        headers = {"Accept": "application/json", "User-Agent": "emn-chat-page"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiClient:
        key = settings.ui_api_key.get_secret_value() if settings.ui_api_key else None
        return cls(
            settings.api_url,
            api_key=key,
            timeout_s=settings.ui_timeout_s,
            connect_timeout_s=settings.ui_connect_timeout_s,
            retries=settings.ui_retries,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------
    def _transport_error(self, exc: httpx.HTTPError, timeout: float | None = None) -> ApiError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return ApiError(
                f"The assistant's API at {self.base_url} did not answer within "
                f"{timeout or self.timeout_s:g} s. It may be busy; try again.",
                code="timeout",
            )
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return ApiError(
                f"The assistant's API at {self.base_url} cannot be reached. Is it running? "
                "(`make run` starts it.)",
                code="api_unreachable",
            )
        return ApiError(
            f"The connection to the assistant's API at {self.base_url} failed "
            f"({type(exc).__name__}); try again.",
            code="connection_failed",
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        ok: tuple[int, ...] = (200, 201),
        text: bool = False,
    ) -> Any:
        """JSON (or, with `text`, the body) of a successful response. Retries connection
        failures (the request never reached the API, so even a POST is safe to send again),
        and 502/503/504 on GETs."""
        idempotent = method == "GET"
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json_body,
                    params=params,
                    timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < self.retries:
                    attempt += 1
                    time.sleep(BACKOFF_S * attempt)
                    continue
                raise self._transport_error(exc, timeout) from exc
            except httpx.HTTPError as exc:
                if idempotent and attempt < self.retries:
                    attempt += 1
                    time.sleep(BACKOFF_S * attempt)
                    continue
                raise self._transport_error(exc, timeout) from exc
            if response.status_code in ok and text:
                return response.text
            if response.status_code in ok:
                try:
                    return response.json()
                except ValueError as exc:
                    raise ApiError(
                        f"The API at {self.base_url} answered with something that is not "
                        "JSON; is EMN_API_URL right?",
                        code="not_json",
                        status=response.status_code,
                    ) from exc
            if idempotent and response.status_code in RETRY_STATUSES and attempt < self.retries:
                attempt += 1
                time.sleep(BACKOFF_S * attempt)
                continue
            raise error_from_response(response)

    # --- endpoints ------------------------------------------------------------------------
    def reachable(self) -> bool:
        """Whether /healthz answers 200 now (one try, no retries: the page polls it)."""
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def readiness(self) -> dict[str, Any]:
        """/readyz: the manifest (corpus hash, model, counts); its body also when not ready."""
        return self._request("GET", "/readyz", ok=(200, 503))

    def documents(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/v1/documents")["documents"])

    def document_chunks(self, doc_id: str) -> dict[str, Any]:
        """The document's metadata and all its passages, in order (paged through)."""
        data = self._request("GET", f"/v1/documents/{doc_id}/chunks", params={"limit": 1000})
        chunks = list(data["chunks"])
        while len(chunks) < int(data.get("total", len(chunks))):
            page = self._request(
                "GET",
                f"/v1/documents/{doc_id}/chunks",
                params={"offset": len(chunks), "limit": 1000},
            )
            if not page["chunks"]:
                break
            chunks.extend(page["chunks"])
        return {**data, "chunks": chunks}

    def ask(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"question": question, "history": history or [], "filters": filters or None}
        return self._request("POST", "/v1/ask", json_body=body)

    def ask_stream(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Iterator[StreamEvent]:
        """The answer as it is produced: `delta` text pieces, `citations`, then `answer` with
        the full record. Raises ApiError for an API error (before or during the stream) and
        StreamUnavailable when the caller should ask again without streaming."""
        body = {"question": question, "history": history or [], "filters": filters or None}
        attempt = 0
        while True:
            try:
                with self._http.stream(
                    "POST",
                    "/v1/ask",
                    params={"stream": "true"},
                    json=body,
                    headers={"Accept": "text/event-stream"},
                ) as response:
                    if response.status_code != 200:
                        response.read()
                        raise error_from_response(response)
                    if "text/event-stream" not in response.headers.get("content-type", ""):
                        raise StreamUnavailable("the API did not answer with an event stream")
                    yield from self._events(response)
                    return
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < self.retries:
                    attempt += 1
                    time.sleep(BACKOFF_S * attempt)
                    continue
                raise self._transport_error(exc) from exc
            except httpx.RemoteProtocolError as exc:
                raise StreamUnavailable(f"the stream broke off ({exc})") from exc
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from exc

    @staticmethod
    def _events(response: httpx.Response) -> Iterator[StreamEvent]:
        finished = False
        for event, data in parse_sse_lines(response.iter_lines()):
            try:
                payload = json.loads(data)
            except ValueError:
                continue
            if event == "delta":
                yield StreamEvent("delta", text=str(payload.get("text", "")))
            elif event == "citations":
                yield StreamEvent("citations", data=payload)
            elif event == "answer":
                finished = True
                yield StreamEvent("answer", data=payload)
            elif event == "error":
                error = payload.get("error", payload)
                raise ApiError(
                    str(error.get("message", "The answer failed midway.")),
                    code=str(error.get("code", "stream_error")),
                    trace_id=str(error.get("trace_id", "")),
                )
        if not finished:
            raise StreamUnavailable("the stream ended before the answer was complete")

    def feedback(
        self, trace_id: str, rating: str, comment: str = "", *, report: bool = False
    ) -> dict[str, Any]:
        """A rating; `report` also sends the answer to the reviewers' queue."""
        body = {"trace_id": trace_id, "rating": rating, "comment": comment, "report": report}
        return self._request("POST", "/v1/feedback", json_body=body)

    def model_card(self) -> str:
        """The model card and instructions for use (Markdown)."""
        return str(self._request("GET", "/v1/model-card", text=True))

    def review_queue(self, status: str = "open", limit: int = 50) -> dict[str, Any]:
        """Flagged answers (admin scope): {"items": [...], "open": n, "total": n}."""
        return self._request("GET", "/v1/review", params={"status": status, "limit": limit})

    def review(self, trace_id: str, verdict: str, note: str = "") -> dict[str, Any]:
        """A reviewer's verdict (right | wrong) on an answer; the updated review item."""
        body = {"verdict": verdict, "note": note}
        return self._request("POST", f"/v1/review/{trace_id}", json_body=body)

    def inform(self, topic: str, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"topic": topic, "filters": filters or None}
        return self._request(
            "POST",
            "/v1/inform",
            json_body=body,
            timeout=self.timeout_s * INFORM_TIMEOUT_FACTOR,
        )

    # --- saved work: conversations, drafts, a thumb changed in place -----------------------
    # The browser session id (X-EMN-Session) names whose work it is; ui/persistence.py sets it.
    def use_session(self, session_id: str) -> None:
        self._http.headers["X-EMN-Session"] = session_id

    def conversations(self) -> list[dict[str, Any]]:
        """This browser's saved conversations, newest first (titles and times)."""
        return list(self._request("GET", "/v1/conversations")["conversations"])

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/conversations/{conversation_id}")

    def append_messages(
        self, conversation_id: str, messages: list[dict[str, Any]], title: str = ""
    ) -> dict[str, Any]:
        body = {"messages": messages, "title": title}
        return self._request(
            "POST", f"/v1/conversations/{conversation_id}/messages", json_body=body
        )

    def delete_conversation(self, conversation_id: str) -> None:
        self._request("DELETE", f"/v1/conversations/{conversation_id}", ok=(204,), text=True)

    def drafts(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/v1/drafts")["drafts"])

    def draft(self, draft_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/drafts/{draft_id}")

    def save_draft(
        self, draft_id: str, topic: str, draft: dict[str, Any], edits: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"topic": topic, "draft": draft, "edits": edits}
        return self._request("PUT", f"/v1/drafts/{draft_id}", json_body=body)

    def save_draft_edits(self, draft_id: str, edits: dict[str, Any]) -> dict[str, Any]:
        return self._request("PUT", f"/v1/drafts/{draft_id}/edits", json_body=edits)

    def delete_draft(self, draft_id: str) -> None:
        self._request("DELETE", f"/v1/drafts/{draft_id}", ok=(204,), text=True)

    def update_feedback(
        self, feedback_id: int, trace_id: str, rating: str, comment: str = ""
    ) -> dict[str, Any]:
        """Change the rating given on click (POST /v1/feedback's receipt id): add the comment."""
        body = {"trace_id": trace_id, "rating": rating, "comment": comment}
        return self._request("PUT", f"/v1/feedback/{feedback_id}", json_body=body)
