"""Per-client rate limit: a token bucket per API key (per client IP in open mode).

The buckets live in a small SQLite file in the data folder (`data_dir/ratelimit.sqlite`), so
the API workers of one host (`EMN_API_WORKERS`) share one limit per client instead of each
allowing the full rate: every check is one short write transaction (`BEGIN IMMEDIATE`, WAL
journal, no fsync per commit), a few tens of microseconds. Replicas on several hosts each
keep their own file, so each enforces the limit for the traffic it receives; a limit shared
across hosts would need a shared store (e.g. Redis) behind the same `check` call. Without a
path (tests, embedded use) the same buckets are kept in an in-memory database.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger("api")

# Buckets that have refilled completely carry no information; they are deleted every this many
# checks (per process), which keeps the table as small as the set of recently active clients.
PURGE_EVERY = 1000
BUSY_TIMEOUT_S = 5.0
# Another worker holds the write lock for some tens of microseconds: retry that soon (SQLite's
# own busy handler sleeps 1, 2, 5, 10... ms, and a busy worker can keep winning meanwhile).
RETRY_SLEEP_S = (0.00005, 0.0001, 0.0002, 0.0005, 0.001)

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    client TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated REAL NOT NULL,
    full_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS buckets_full_at ON buckets (full_at);
"""


def bucket_shape(
    per_minute: float, burst: int, key_per_minute: float | None = None
) -> tuple[float, float]:
    """(refill per second, capacity) of a client's bucket: the service's rate and burst, or a
    key's own rate (`rate_per_minute`), whose burst is then at most that rate."""
    rate = (key_per_minute or per_minute) / 60.0
    if key_per_minute is None:
        return rate, float(burst)
    return rate, float(max(1, min(burst, key_per_minute)))


class RateLimiter:
    """Token buckets: `burst` requests at once, then `per_minute` sustained, per client."""

    def __init__(self, per_minute: float, burst: int, path: Path | None = None) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self.path = path
        self._lock = threading.Lock()
        self._checks = 0
        self._db = self._connect(path)

    @staticmethod
    def _connect(path: Path | None) -> sqlite3.Connection:
        db = open_host_store(path, SCHEMA, BUSY_TIMEOUT_S)
        db.execute("PRAGMA busy_timeout=0")  # checks retry themselves (_begin)
        return db

    def check(self, client: str, per_minute: float | None = None) -> float | None:
        """Take one token for `client`; None when allowed, else seconds until one is free."""
        rate, capacity = bucket_shape(self.per_minute, self.burst, per_minute)
        try:
            return self._take(client, rate, capacity)
        except sqlite3.Error:
            # The limit protects the service; it must not take it down: allow, and say so.
            log.warning("rate limiter unavailable (%s); request allowed", self.path, exc_info=True)
            return None

    def _begin(self) -> None:
        """BEGIN IMMEDIATE (the write lock), retried at short intervals while another
        process holds it, for at most BUSY_TIMEOUT_S."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        attempt = 0
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(RETRY_SLEEP_S[min(attempt, len(RETRY_SLEEP_S) - 1)])
                attempt += 1

    def _take(self, client: str, rate: float, capacity: float) -> float | None:
        db = self._db
        with self._lock:
            self._begin()
            try:
                now = time.time()  # wall clock: the one every process of the host shares
                row = db.execute(
                    "SELECT tokens, updated FROM buckets WHERE client = ?", (client,)
                ).fetchone()
                tokens = (
                    capacity
                    if row is None
                    else min(capacity, row[0] + max(0.0, now - row[1]) * rate)
                )
                allowed = tokens >= 1.0
                if allowed:
                    tokens -= 1.0
                    db.execute(
                        "INSERT INTO buckets (client, tokens, updated, full_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (client) DO UPDATE SET "
                        "tokens = excluded.tokens, updated = excluded.updated, "
                        "full_at = excluded.full_at",
                        (client, tokens, now, now + (capacity - tokens) / rate),
                    )
                self._checks += 1
                if self._checks % PURGE_EVERY == 0:
                    db.execute("DELETE FROM buckets WHERE full_at < ?", (now,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return None if allowed else (1.0 - tokens) / rate

    def clients(self) -> int:
        """Buckets currently stored (for tests and diagnostics)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM buckets").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_host_store(path: Path | None, schema: str, busy_timeout_s: float) -> sqlite3.Connection:
    """A SQLite file the API workers of one host share (WAL, no fsync per commit; in memory
    without a path), its schema created even when several workers start at the same moment.
    The connection is for one thread at a time: its owner guards it with a lock."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        str(path) if path is not None else ":memory:",
        timeout=busy_timeout_s,
        isolation_level=None,  # transactions are explicit
        check_same_thread=False,  # guarded by the owner's lock
    )
    deadline = time.monotonic() + max(busy_timeout_s, 5.0)
    while True:
        try:
            if path is not None:
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(schema)
            return db
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
