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


def read_response(sock: socket.socket) -> tuple[int | None, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one response read from a raw socket
    (Content-Length or chunked); status None when the connection closed before a status line."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        return None, {}, data
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        body = body[:length]
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def send(
    port: int, payload: bytes, timeout: float = 30.0, then: bytes | None = None
) -> tuple[RawResponse, RawResponse | None]:
    """Send one request and read its response; with `then`, send a second request on the same
    connection (is keep-alive still usable after the first?)."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
            status, _, body = read_response(sock)
            first = RawResponse(status, time.perf_counter() - started, body)
        except OSError as exc:
            return RawResponse(None, time.perf_counter() - started, error=repr(exc)), None
        if then is None:
            return first, None
        started = time.perf_counter()
        try:
            sock.sendall(then)
            status, _, body = read_response(sock)
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
