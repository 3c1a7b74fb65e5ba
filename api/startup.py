"""Building the service at start when the database may not be up yet: several hosts and their
database start in any order (or the database restarts), so a host waits for it, saying so,
instead of exiting at once with a traceback."""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import OperationalError

from api.db import shown_url
from api.metrics import Metrics
from api.state import Service
from common.settings import Settings

log = logging.getLogger("api")

RETRY_S = 1.0
LOG_EVERY_S = 10.0


class DatabaseUnreachableError(RuntimeError):
    """The service database did not answer within EMN_DATABASE_START_WAIT_S."""


def build_when_database_ready(settings: Settings, metrics: Metrics) -> Service:
    """`Service.build`, retried every second while the database is unreachable, for at most
    `settings.database_start_wait_s`."""
    deadline = time.monotonic() + settings.database_start_wait_s
    next_log = time.monotonic()
    where = shown_url(settings.database_url)
    while True:
        try:
            return Service.build(settings, metrics)
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0][:300]
            now = time.monotonic()
            if now >= deadline:
                message = (
                    f"the service database {where} is unreachable ({reason}); start it first "
                    f"or check EMN_DATABASE_URL (waited {settings.database_start_wait_s:g} s, "
                    "EMN_DATABASE_START_WAIT_S)"
                )
                log.error(message)
                raise DatabaseUnreachableError(message) from None
            if now >= next_log:
                log.warning("waiting for the service database %s (%s)", where, reason)
                next_log = now + LOG_EVERY_S
            time.sleep(RETRY_S)
