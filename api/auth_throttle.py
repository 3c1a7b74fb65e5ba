"""Failed-authentication throttling per client address: after EMN_AUTH_FAILURE_LIMIT failed
authentications (401) within EMN_AUTH_FAILURE_WINDOW_S, the address gets 429 with
Retry-After until that window ends, before any key is looked up. Key guessing is hopeless
against 256-bit keys anyway; this caps the work and the log volume an unauthenticated
client can cause (the campaign sent 300 wrong keys in 0.3 s, none refused).

A fixed window per address, in a small SQLite file shared by the workers of one host (like
the rate limit, api/ratelimit.py). Behind a reverse proxy the address is the one uvicorn
takes from X-Forwarded-For when the proxy is in --forwarded-allow-ips; otherwise every client
shares the proxy's address, and one client's failures would block the others.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from api.ratelimit import open_host_store

log = logging.getLogger("api")

BUSY_TIMEOUT_S = 1.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    client TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    window_start REAL NOT NULL
);
"""


class AuthThrottle:
    """`blocked(client)` before authenticating, `failed(client)` after a 401."""

    def __init__(self, limit: int, window_s: float, path: Path | None = None) -> None:
        self.limit = limit
        self.window_s = window_s
        self.path = path
        self._lock = threading.Lock()
        self._db = open_host_store(path, SCHEMA, BUSY_TIMEOUT_S)

    def blocked(self, client: str) -> float | None:
        """Seconds until `client` may try again, or None when it may now."""
        now = time.time()  # wall clock: shared by the workers of the host
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT count, window_start FROM failures WHERE client = ?", (client,)
                ).fetchone()
        except sqlite3.Error:
            log.warning("auth throttle unavailable (%s); request allowed", self.path)
            return None
        if row is None or row[0] < self.limit:
            return None
        remaining = row[1] + self.window_s - now
        return remaining if remaining > 0 else None

    def failed(self, client: str) -> None:
        """Count one failed authentication of `client` (a new window if the last one ended)."""
        now = time.time()
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO failures (client, count, window_start) VALUES (?, 1, ?) "
                    "ON CONFLICT (client) DO UPDATE SET "
                    "count = CASE WHEN window_start + ? <= ? THEN 1 ELSE count + 1 END, "
                    "window_start = CASE WHEN window_start + ? <= ? THEN ? ELSE window_start END",
                    (client, now, self.window_s, now, self.window_s, now, now),
                )
                self._db.execute("DELETE FROM failures WHERE window_start + ? < ?",
                                 (self.window_s, now - self.window_s))  # fmt: skip
        except sqlite3.Error:
            log.warning("auth throttle unavailable (%s); failure not counted", self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()
