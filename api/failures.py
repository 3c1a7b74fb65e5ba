"""One log line per failed request. A full traceback per failure floods the log when a
fault repeats (the campaign saw 630 in 10 s, each request logged twice: by the handler and by
uvicorn, since Starlette re-raises after its 500 handler); the traceback of an error type is
written at most once per EMN_TRACEBACK_INTERVAL_S, and always at debug level."""

from __future__ import annotations

import logging
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware import send_error
from common.hygiene import printable

log = logging.getLogger("api")

MAX_MESSAGE_CHARS = 300


class FailureLog:
    """Logs failures; remembers when each exception type last had its traceback written."""

    def __init__(self, traceback_interval_s: float) -> None:
        self.interval = traceback_interval_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def _full(self, kind: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                return False
            self._last[kind] = now
            return True

    def failed(self, what: str, exc: BaseException, trace_id: str) -> None:
        """`what` failed with `exc`: one ERROR line (with the traceback when this type's is
        due), and the traceback at DEBUG otherwise."""
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        message = printable(str(exc))[:MAX_MESSAGE_CHARS]
        if self._full(kind):
            log.error(
                "%s failed: %s: %s (trace id %s)", what, kind, message, trace_id, exc_info=exc
            )
            return
        log.error(
            "%s failed: %s: %s (trace id %s; traceback logged at most every %g s, "
            "and at debug level)",
            what, kind, message, trace_id, self.interval,
        )  # fmt: skip
        log.debug("traceback of trace id %s", trace_id, exc_info=exc)


class FailureMiddleware:
    """Turns an unexpected exception into the 500 JSON envelope and one log line, without
    re-raising it (uvicorn would log its traceback again for every request)."""

    def __init__(self, app: ASGIApp, failures: FailureLog) -> None:
        self.app = app
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            trace_id = scope.get("state", {}).get("trace_id", "")
            path = printable(scope.get("path", ""))[:200]
            self.failures.failed(f"{scope.get('method', '')} {path}", exc, trace_id)
            if not started:
                message = "An unexpected error occurred; it has been logged."
                await send_error(scope, send, 500, "internal_error", message, close=False)
