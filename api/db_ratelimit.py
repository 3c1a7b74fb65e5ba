"""The per-client rate limit shared by every API host: token buckets in the service
database (PostgreSQL when several hosts serve one deployment).

Each check is one atomic statement, INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the
refill is computed in SQL from the database's clock and the row's previous state under the
row lock, so two hosts taking from one bucket at the same moment are serialised by the
database and a full bucket never allows more than `burst` requests. If the database cannot
be reached the request is allowed and a warning logged (the limit protects the service; it
must not take it down). Buckets that have refilled completely are deleted every PURGE_EVERY
checks, so the table holds only recently active clients.

With a SQLite service database (one host) the service keeps the host file of
api/ratelimit.py instead: a few tens of microseconds per check, not routed through the
service database's write lock. This class works on SQLite too (tests, embedded use).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Boolean, Column, Double, Engine, String, Table, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from api.db import create_schema, metadata
from api.ratelimit import bucket_shape
from api.shared_sql import QuietWarning, sql_dialect

log = logging.getLogger("api")

PURGE_EVERY = 1000

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("client", String(200), primary_key=True),
    Column("tokens", Double, nullable=False),
    Column("updated", Double, nullable=False),  # seconds since the epoch, database clock
    Column("full_at", Double, nullable=False, index=True),  # when the bucket is full again
    Column("allowed", Boolean, nullable=False),  # the outcome of the last check
)


def _take_statement(engine: Engine) -> str:
    """One statement: create a full bucket less one token, or refill the existing one and
    take a token if one is there; returns the tokens left and whether one was taken. The
    row's previous values (b.*) are read under its lock, so concurrent takers queue."""
    d = sql_dialect(engine)
    # excluded.updated is this statement's clock reading, taken before it waited for the
    # row lock: never count time backwards (a taker that waited longer got a later reading).
    elapsed = f"{d.greatest}(0.0, excluded.updated - b.updated)"
    refilled = f"{d.least}(:capacity, b.tokens + {elapsed} * :rate)"
    allowed = f"({refilled} >= 1.0)"
    left = f"({refilled} - CASE WHEN {allowed} THEN 1.0 ELSE 0.0 END)"
    updated = f"{d.greatest}(b.updated, excluded.updated)"
    return (
        "INSERT INTO rate_buckets AS b (client, tokens, updated, full_at, allowed) "
        f"VALUES (:client, :capacity - 1.0, {d.now}, {d.now} + 1.0 / :rate, TRUE) "
        f"ON CONFLICT (client) DO UPDATE SET tokens = {left}, updated = {updated}, "
        f"full_at = {updated} + (:capacity - {left}) / :rate, allowed = {allowed} "
        "RETURNING tokens, allowed"
    )


class DbRateLimiter:
    """Token buckets: `burst` requests at once, then `per_minute` sustained, per client,
    one limit for every host that uses `engine`'s database."""

    def __init__(self, engine: Engine, per_minute: float, burst: int) -> None:
        self.engine = engine
        self.per_minute = per_minute
        self.burst = burst
        create_schema(engine)
        self._take = text(_take_statement(engine))
        self._purge = text(f"DELETE FROM rate_buckets WHERE full_at < {sql_dialect(engine).now}")
        self._checks = 0
        self._count_lock = threading.Lock()
        self._warn = QuietWarning(log)

    def check(self, client: str, per_minute: float | None = None) -> float | None:
        """Take one token for `client`; None when allowed, else seconds until one is free."""
        rate, capacity = bucket_shape(self.per_minute, self.burst, per_minute)
        try:
            with self.engine.begin() as conn:
                tokens, allowed = conn.execute(
                    self._take, {"client": client, "capacity": capacity, "rate": rate}
                ).one()
            if self._due_for_purge():
                with self.engine.begin() as conn:
                    conn.execute(self._purge)
        except SQLAlchemyError as exc:
            self._warn("rate limiter unavailable (%s); request allowed", exc.__class__.__name__)
            return None
        return None if allowed else (1.0 - float(tokens)) / rate

    def _due_for_purge(self) -> bool:
        with self._count_lock:
            self._checks += 1
            return self._checks % PURGE_EVERY == 0

    def clients(self) -> int:
        """Buckets currently stored (for tests and diagnostics)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(rate_buckets)).scalar_one())

    def close(self) -> None:
        """Nothing to release: the engine belongs to the service database."""
