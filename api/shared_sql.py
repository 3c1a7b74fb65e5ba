"""SQL pieces that differ between SQLite and PostgreSQL, for the state the API hosts share
through the service database (rate limit, failed-authentication throttle, kill switch).

Time comes from the database's clock, never a host's, so hosts whose clocks drift apart
still refill one bucket at one rate and end one throttle window at one moment.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from api.db import is_sqlite


@dataclass(frozen=True)
class SqlDialect:
    """`now`: seconds since the epoch (double precision); `least`/`greatest`: the
    two-or-more-argument minimum and maximum."""

    now: str
    least: str
    greatest: str


POSTGRES = SqlDialect(
    now="CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
    least="LEAST",
    greatest="GREATEST",
)
SQLITE = SqlDialect(now="((julianday('now') - 2440587.5) * 86400.0)", least="min", greatest="max")


def sql_dialect(engine: Engine) -> SqlDialect:
    return SQLITE if is_sqlite(engine) else POSTGRES


@dataclass
class QuietWarning:
    """A warning logged at most once per `interval_s`: a database outage must not turn
    every request into a log line."""

    logger: logging.Logger
    interval_s: float = 10.0
    _last: float = field(default=-1e18, repr=False)

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self.logger.warning(message, *args)
