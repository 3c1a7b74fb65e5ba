"""Where the state that API processes share lives: the rate limiter, the failed-
authentication throttle and the generation kill switch.

With a SQLite service database there is one host: its workers share host files in the data
folder (api/ratelimit.py, api/auth_throttle.py, api/kill_switch.py), a few tens of
microseconds per check and off the service database's write lock. With PostgreSQL several
hosts may serve one deployment, so the three live in the service database
(api/db_ratelimit.py, api/db_auth_throttle.py, api/db_switch.py) and hold across hosts. API
keys are always in the service database (api/keys.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from api.auth_throttle import AuthThrottle
from api.db import is_sqlite
from api.db_auth_throttle import DbAuthThrottle
from api.db_ratelimit import DbRateLimiter
from api.db_switch import DbSwitch
from api.kill_switch import SWITCH_FILE, GenerationSwitch, SharedSwitch
from api.ratelimit import RateLimiter
from common.settings import Settings


class Limiter(Protocol):
    def check(self, client: str, per_minute: float | None = None) -> float | None:
        """None when allowed, else seconds until the client may send again."""
        ...

    def close(self) -> None: ...


class Throttle(Protocol):
    def blocked(self, client: str) -> float | None:
        """Seconds until `client` may authenticate again, or None."""
        ...

    def failed(self, client: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class SharedState:
    limiter: Limiter
    throttle: Throttle
    switch: GenerationSwitch


def shared_state(settings: Settings, engine: Engine) -> SharedState:
    """Host files beside a SQLite service database; tables in a PostgreSQL one."""
    startup = settings.generation == "on"
    if is_sqlite(engine):
        assert settings.data_dir is not None  # resolved by Settings
        data = settings.data_dir
        return SharedState(
            limiter=RateLimiter(
                settings.rate_limit_per_minute, settings.rate_limit_burst, data / "ratelimit.sqlite"
            ),
            throttle=AuthThrottle(
                settings.auth_failure_limit,
                settings.auth_failure_window_s,
                data / "auth-failures.sqlite",
            ),
            switch=SharedSwitch(data / SWITCH_FILE, startup),
        )
    return SharedState(
        limiter=DbRateLimiter(engine, settings.rate_limit_per_minute, settings.rate_limit_burst),
        throttle=DbAuthThrottle(
            engine, settings.auth_failure_limit, settings.auth_failure_window_s
        ),
        switch=DbSwitch(engine, startup, settings.shared_state_refresh_s),
    )
