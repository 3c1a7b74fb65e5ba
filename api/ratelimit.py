"""Per-client rate limit: a token bucket per API key (per client IP in open mode).

In memory, per process: with several replicas each enforces its own share, which bounds the
load each one takes; a shared limit would need a shared store (e.g. Redis) behind the same
`check` call.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

MAX_BUCKETS = 10_000


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_minute: float, burst: int) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def check(self, client: str, per_minute: float | None = None) -> float | None:
        """Take one token for `client`; None when allowed, else seconds until one is free."""
        rate = (per_minute or self.per_minute) / 60.0
        capacity = float(self.burst if per_minute is None else max(1, min(self.burst, per_minute)))
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._forget_idle(now)
                bucket = self._buckets[client] = Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return (1.0 - bucket.tokens) / rate

    def _forget_idle(self, now: float) -> None:
        """Drop buckets idle long enough to have refilled: forgetting them changes nothing."""
        refill = self.burst / (self.per_minute / 60.0)
        for client in [c for c, b in self._buckets.items() if now - b.updated > refill]:
            del self._buckets[client]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
