"""Failed-authentication throttling shared by every API host: a fixed window per client
address in the service database (PostgreSQL when several hosts serve one deployment), so an
address that spreads wrong keys over the hosts is counted once, on the database's clock.

Same interface and behaviour as api/auth_throttle.py, which the service keeps for a SQLite
service database (one host): its host file answers in microseconds without going through
the service database's write lock. When the database cannot be reached the request is
allowed and a warning logged (at most every few seconds).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Column, Double, Engine, Integer, String, Table, text
from sqlalchemy.exc import SQLAlchemyError

from api.db import create_schema, metadata
from api.shared_sql import QuietWarning, sql_dialect

log = logging.getLogger("api")

# Windows that ended long ago are deleted every this many counted failures (per process).
PURGE_EVERY = 100

auth_failures = Table(
    "auth_failures",
    metadata,
    Column("client", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", Double, nullable=False, index=True),  # epoch s, database clock
)


class DbAuthThrottle:
    """`blocked(client)` before authenticating, `failed(client)` after a 401."""

    def __init__(self, engine: Engine, limit: int, window_s: float) -> None:
        self.engine = engine
        self.limit = limit
        self.window_s = window_s
        create_schema(engine)
        now = sql_dialect(engine).now
        self._blocked = text(
            f"SELECT failures, window_start + :window - {now} FROM auth_failures "
            "WHERE client = :client"
        )
        restart = f"auth_failures.window_start + :window <= {now}"
        self._failed = text(
            f"INSERT INTO auth_failures (client, failures, window_start) VALUES "
            f"(:client, 1, {now}) ON CONFLICT (client) DO UPDATE SET "
            f"failures = CASE WHEN {restart} THEN 1 ELSE auth_failures.failures + 1 END, "
            f"window_start = CASE WHEN {restart} THEN {now} ELSE auth_failures.window_start END"
        )
        self._purge = text(f"DELETE FROM auth_failures WHERE window_start + :window < {now}")
        self._count = 0
        self._count_lock = threading.Lock()
        self._warn = QuietWarning(log)

    def blocked(self, client: str) -> float | None:
        """Seconds until `client` may try again, or None when it may now."""
        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    self._blocked, {"client": client, "window": self.window_s}
                ).first()
        except SQLAlchemyError as exc:
            self._warn("auth throttle unavailable (%s); request allowed", exc.__class__.__name__)
            return None
        if row is None or row[0] < self.limit:
            return None
        remaining = float(row[1])
        return remaining if remaining > 0 else None

    def failed(self, client: str) -> None:
        """Count one failed authentication of `client` (a new window if the last one ended)."""
        with self._count_lock:
            self._count += 1
            purge = self._count % PURGE_EVERY == 0
        try:
            with self.engine.begin() as conn:
                conn.execute(self._failed, {"client": client, "window": self.window_s})
                if purge:
                    conn.execute(self._purge, {"window": 2 * self.window_s})
        except SQLAlchemyError as exc:
            self._warn(
                "auth throttle unavailable (%s); failure not counted", exc.__class__.__name__
            )

    def close(self) -> None:
        """Nothing to release: the engine belongs to the service database."""
