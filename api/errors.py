"""Every error is JSON `{"error": {"code", "message", "trace_id"}}`: unknown routes, wrong
methods, validation errors, limits, outages and unexpected exceptions alike. Clients branch on
`code`; `trace_id` finds the request in the server log; no stack trace ever leaves."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.validation_messages import plain_message
from common.embedding import EmbeddingModelError
from common.hygiene import printable
from index.chroma import ChromaUnavailableError
from index.reader import IndexNotReadyError

log = logging.getLogger("api")

RETRY_AFTER_OUTAGE_S = 5

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    431: "header_too_large",
    500: "internal_error",
    503: "service_unavailable",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable error code.", examples=["not_found"])
    message: str = Field(description="Human-readable explanation.")
    trace_id: str = Field(description="Identifies the request in the server log.")
    details: list[dict[str, Any]] | None = Field(
        default=None, description="Field errors of a validation error."
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An error with a status, a code and a message for the client."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.details = details


def request_trace_id(request: Request) -> str:
    trace_id = getattr(request.state, "trace_id", None)
    if not trace_id:
        trace_id = uuid.uuid4().hex
        request.state.trace_id = trace_id
    return trace_id


def error_body(code: str, message: str, trace_id: str, details: list | None = None) -> dict:
    body: dict[str, Any] = {"code": code, "message": message, "trace_id": trace_id}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: list | None = None,
) -> JSONResponse:
    trace_id = request_trace_id(request)
    return JSONResponse(
        error_body(code, message, trace_id, details),
        status_code=status,
        headers={**(headers or {}), "X-Request-ID": trace_id},
    )


OUTAGES = (ChromaUnavailableError, IndexNotReadyError, EmbeddingModelError)


def error_for(exc: Exception) -> ApiError:
    """The client-facing error for any exception (used where a response has already started,
    e.g. inside a stream); unexpected ones become a generic internal error."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OUTAGES):
        return outage_error(exc)
    return ApiError(500, "internal_error", "An unexpected error occurred; it has been logged.")


def outage_error(exc: Exception) -> ApiError:
    """The 503 for a backend that is missing or down (Retry-After: the service recovers by
    itself when the backend returns). The detail (hosts, paths) goes to the log, not to the
    client; /readyz shows it to operators."""
    log.warning("backend unavailable: %s", exc)
    retry = {"Retry-After": str(RETRY_AFTER_OUTAGE_S)}
    if isinstance(exc, ChromaUnavailableError):
        message = "The vector store (Chroma) is unavailable; retry shortly."
        return ApiError(503, "chroma_unavailable", message, retry)
    if isinstance(exc, IndexNotReadyError):
        message = "No index has been built yet: run `python -m ingest` (or `make run`)."
        return ApiError(503, "index_not_ready", message, retry)
    if isinstance(exc, EmbeddingModelError):
        message = "The embedding model cannot be loaded; see the server log."
        return ApiError(503, "embedding_model_unavailable", message, retry)
    raise TypeError(f"not an outage: {exc!r}")


def allowed_methods(request: Request) -> str:
    """Every method the path supports (Starlette's 405 names only the first route's);
    `app.state.route_methods` holds (path regex, methods) of every route."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for regex, route_methods in getattr(request.app.state, "route_methods", []):
        if regex.match(path):
            methods |= set(route_methods)
    return ", ".join(sorted(methods))


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Field errors without the submitted input (it may hold personal data), every string
    made printable: a location can be a key the client sent, and a lone surrogate in it would
    make the error itself impossible to encode (a 500 instead of the 422)."""
    out = []
    for err in errors:
        item = {
            "loc": [printable(str(part))[:200] for part in err.get("loc", ())],
            "msg": printable(str(err.get("msg", "")))[:500],
            "type": printable(str(err.get("type", ""))),
        }
        out.append(item)
    return out


def is_json_type(content_type: str) -> bool:
    """application/json, or any application/...+json (as FastAPI reads them)."""
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def body_errors(errors: list[Any]) -> bool:
    return any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)


def json_error_where(error: Any, body: Any) -> str:
    """'Expecting value (line 1, column 14)': the decoder's reason and where it stopped."""
    reason = printable(str((error.get("ctx") or {}).get("error", "cannot be decoded")))[:200]
    loc = tuple(error.get("loc", ()))
    pos = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    if pos is None:
        return reason
    if isinstance(body, str):
        line = body.count("\n", 0, pos) + 1
        column = pos - (body.rfind("\n", 0, pos) + 1) + 1
        return f"{reason} (line {line}, column {column})"
    return f"{reason} (at character {pos + 1})"


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.code, exc.message, exc.headers, exc.details)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"No route {request.method} {request.url.path}."
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}."
            headers = {**(exc.headers or {}), "Allow": allowed_methods(request)}
            return error_response(request, 405, code, message, headers)
        elif exc.status_code == 413:
            message = "The request body is too large."
        else:
            message = str(exc.detail)
        return error_response(request, exc.status_code, code, message, dict(exc.headers or {}))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        raw = list(exc.errors())
        invalid = next((e for e in raw if e.get("type") == "json_invalid"), None)
        if invalid is not None:
            message = f"The body is not valid JSON: {json_error_where(invalid, exc.body)}."
            return error_response(request, 400, "invalid_json", message)
        content_type = request.headers.get("content-type", "")
        if not is_json_type(content_type) and body_errors(raw):
            # FastAPI reads such a body as bytes (without a content type too: strict content
            # types) and reports "Input should be a valid dictionary": the real problem is
            # the header (curl -d sends a form).
            sent = printable(content_type.split(";")[0].strip())[:100]
            message = "Send the body as JSON with the header Content-Type: application/json " + (
                f"(it was sent as {sent})." if sent else "(it was sent without one)."
            )
            return error_response(request, 415, "unsupported_media_type", message)
        details = _clean_validation_errors(raw)
        plain = [plain_message(e) for e in raw]
        for detail, text in zip(details, plain, strict=True):
            detail["msg"] = text
        distinct = list(dict.fromkeys(plain))
        message = " ".join(distinct[:3]) or "Invalid request."
        if len(distinct) > 3:
            message += f" ({len(distinct) - 3} more in details)"
        return error_response(request, 422, "validation_error", message, details=details)

    async def outage(request: Request, exc: Exception) -> JSONResponse:
        err = outage_error(exc)
        return error_response(request, err.status, err.code, err.message, err.headers)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Locked by another process past EMN_AUDIT_BUSY_TIMEOUT_S, or full: fail fast, one
        # log line (the service database holds the audit log, feedback and reviews).
        log.warning("service database unavailable (trace id %s): %s",
                    request_trace_id(request), exc.__class__.__name__)  # fmt: skip
        message = "The service database is busy or unavailable; retry shortly."
        retry = {"Retry-After": str(RETRY_AFTER_OUTAGE_S)}
        return error_response(request, 503, "database_unavailable", message, retry)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only what escapes the outermost middlewares reaches here (api/failures.py answers
        # the rest); logged the same way, one line and a rate-limited traceback.
        what = f"{request.method} {printable(request.url.path)[:200]}"
        request.app.state.failures.failed(what, exc, request_trace_id(request))
        return error_response(
            request, 500, "internal_error", "An unexpected error occurred; it has been logged."
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    for cls in OUTAGES:
        app.add_exception_handler(cls, outage)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(Exception, unexpected)


def error_doc(description: str) -> dict[str, Any]:
    """OpenAPI entry of an error response."""
    return {"model": ErrorResponse, "description": description}


# Responses every /v1 route may give, for the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: error_doc(description)
    for status, description in {
        400: "Malformed request.",
        401: "Missing or unknown API key (auth mode 'keys').",
        403: "The API key lacks the scope this route needs.",
        408: "The request body did not arrive in time; the connection is closed.",
        413: "Request body too large.",
        415: "The body was not sent as JSON (Content-Type: application/json).",
        422: "Invalid request: a field is missing, empty, too long or not one of the allowed "
        "values (the message says which; for filters, it lists the valid kinds and document "
        "ids).",
        429: "Rate limit exceeded, or too many failed authentications from this address; "
        "see Retry-After.",
        431: "Request line and headers too large.",
        500: "Unexpected error.",
        503: "Index, vector store, embedding model or service database (audit log) "
        "unavailable or busy; see Retry-After.",
    }.items()
}
