"""uvicorn's HTTP/1.1 protocol (httptools) with the limits it lacks, enforced while bytes
arrive, before the app, a key lookup or a body read sees the request:

- the request line plus headers may hold at most EMN_MAX_HEADER_BYTES: beyond, 431 as soon as
  that many bytes have arrived (uvicorn's httptools protocol buffers headers without bound:
  a 50 MB header was read in full before the 401);
- a request whose headers are not complete EMN_HEADER_TIMEOUT_S after its first byte, or a
  new connection silent that long, is closed (408 when a request had begun); uvicorn arms no
  timer until the first response, so a trickle of header bytes held a connection forever;
- an idle keep-alive connection is closed after EMN_KEEP_ALIVE_TIMEOUT_S.

Serve with `uvicorn api.main:app --http api.protocol:LimitedHttpProtocol` (what `python -m
api`, `make run` and the tests do). A request within these limits is handled exactly as by
uvicorn's own protocol. The body-read timeout is the app's (api.middleware.BodyTimeoutMiddleware),
and the header limit is checked there too for servers started without this protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from functools import lru_cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from common.settings import load_settings

log = logging.getLogger("api")

# uvicorn's --http option (an import string) that selects this protocol.
HTTP_PROTOCOL = "api.protocol:LimitedHttpProtocol"

# After a refusal the client may still be sending (a 1 MB header): its bytes are read and
# dropped for this long, so that closing with unread data does not reset the connection
# before the client has read the answer.
LINGER_S = 1.0


@lru_cache(maxsize=1)
def server_limits() -> tuple[int, float, float]:
    """(max header bytes, header timeout, keep-alive timeout) of this server process, from
    its EMN_ environment, read once per process."""
    settings = load_settings()
    return settings.max_header_bytes, settings.header_timeout_s, settings.keep_alive_timeout_s


def raw_error(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response (the JSON envelope of api.errors; not imported, so
    that this module stays light for the programs that only name it) closing the connection."""
    envelope = {"error": {"code": code, "message": message, "trace_id": uuid.uuid4().hex}}
    body = json.dumps(envelope).encode()
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


def header_too_large_message(limit: int) -> str:
    return f"The request line and headers are larger than {limit} bytes."


class LimitedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus a header size limit, a header timeout and a configured
    keep-alive timeout (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_header_bytes, self.header_timeout, keep_alive = server_limits()
        self.timeout_keep_alive = keep_alive  # type: ignore[assignment]
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # --- connection ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: dropped
        counting = self._awaiting_headers
        if counting:
            self._header_bytes += len(data)
            if self._header_timer is None:
                self._arm_header_timer()
        super().data_received(data)
        # Still in the headers after this chunk (on_headers_complete resets the count).
        if counting and self._awaiting_headers and self._header_bytes > self.max_header_bytes:
            self._refuse(431, "header_too_large", header_too_large_message(self.max_header_bytes))

    # --- parser callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_headers = True

    # --- limits ---------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_headers:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined request behind a running one: its own timer starts later
        if self._header_bytes == 0:
            self.transport.close()  # nothing was sent: nothing to answer
            return
        self._refuse(
            408,
            "request_timeout",
            f"The request headers did not arrive within {self.header_timeout:g} s.",
        )

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer with an error and close, after reading and dropping what is still coming."""
        log.warning("connection from %s refused: %s (%s)", self._peer(), status, code)
        self._refused = True
        self._cancel_header_timer()
        self._unset_keepalive_if_required()
        self.transport.write(raw_error(status, code, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def _peer(self) -> str:
        return self.client[0] if self.client else "unknown"
