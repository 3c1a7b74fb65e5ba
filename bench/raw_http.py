"""HTTP at the byte level, for probes an HTTP client library refuses to send (a lone
surrogate, a megabyte header, a body that never ends) and for reading what the server does
with the connection afterwards."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int | None  # None: the connection closed or reset before a status line
    seconds: float
    body: bytes = b""
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8", "replace") or "null")
        except ValueError:
            return None


def request_bytes(
    method: str, path: str, headers: dict[str, str], body: bytes = b"", host: str = "127.0.0.1"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body


def json_body(value: Any) -> bytes:
    """JSON as a client would send it, lone surrogates written as \\ud800 escapes."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def _read_response(sock: socket.socket) -> tuple[int | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        return None, data
    status = int(head.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, rest[:length]
    if chunked:
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return status, rest


def send(
    port: int, payload: bytes, timeout: float = 30.0, then: bytes | None = None
) -> tuple[RawResponse, RawResponse | None]:
    """Send one request and read its response; with `then`, send a second request on the same
    connection (is keep-alive still usable after the first?)."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
            status, body = _read_response(sock)
            first = RawResponse(status, time.perf_counter() - started, body)
        except OSError as exc:
            return RawResponse(None, time.perf_counter() - started, error=repr(exc)), None
        if then is None:
            return first, None
        started = time.perf_counter()
        try:
            sock.sendall(then)
            status, body = _read_response(sock)
            second = RawResponse(status, time.perf_counter() - started, body)
        except OSError as exc:
            second = RawResponse(None, time.perf_counter() - started, error=repr(exc))
        return first, second


def held_open_seconds(sockets: list[socket.socket], limit: float) -> list[float | None]:
    """For connections that sent an incomplete request: seconds until the server closed each
    one (None: still open after `limit`)."""
    started = time.perf_counter()
    closed: list[float | None] = [None] * len(sockets)
    for sock in sockets:
        sock.setblocking(False)
    while time.perf_counter() - started < limit and any(c is None for c in closed):
        for i, sock in enumerate(sockets):
            if closed[i] is not None:
                continue
            try:
                if sock.recv(65536) == b"":
                    closed[i] = time.perf_counter() - started
                else:  # a response (408 or 400) means the server gave up on it: closed
                    closed[i] = time.perf_counter() - started
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = time.perf_counter() - started
        time.sleep(0.2)
    return closed
