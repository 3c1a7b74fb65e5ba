"""Whether the generative model behind the `llm` composer (model `emn-llm`) is there at all.

Asked for by name, a model that is not running is an error the caller can act on (400
`model_unavailable`: use `emn-extractive`), not an extractive answer with a 200 that says so
only in `emn_answer.reason`. A model that is reachable but fails or times out on one request
still falls back to the extractive composer, as designed (the answer says so). The check is a
TCP connection to the configured endpoint, remembered for a few seconds per worker."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from common.settings import Settings

if TYPE_CHECKING:
    from api.state import Service

PROBE_TIMEOUT_S = 2.0  # at most; EMN_LLM_TIMEOUT_S when shorter
REMEMBER_S = 10.0  # a model started or stopped is noticed within this


def model_endpoint(settings: Settings) -> tuple[str, int] | None:
    """(host, port) of EMN_LLM_BASE_URL (the Azure endpoint too); None when it names none.
    Mistral's API has no configurable URL: it is not probed."""
    try:
        parts = urlsplit(settings.llm_base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname, port


def reachable(settings: Settings) -> bool:
    if settings.llm_provider == "mistral":
        return True  # a failure on the request itself falls back, and says so
    endpoint = model_endpoint(settings)
    if endpoint is None:
        return False
    try:
        with socket.create_connection(
            endpoint, timeout=min(PROBE_TIMEOUT_S, settings.llm_timeout_s)
        ):
            return True
    except OSError:
        return False


@dataclass
class ModelCheck:
    """`reachable`, remembered for REMEMBER_S (one probe per worker at a time)."""

    settings: Settings
    _checked_at: float = float("-inf")
    _ok: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def available(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= REMEMBER_S:
                self._ok = reachable(self.settings)
                self._checked_at = time.monotonic()
            return self._ok


async def require_model(service: Service, composer: str | None, asked_as: str) -> None:
    """400 `model_unavailable` when the caller chose the `llm` composer (`asked_as`: how it
    was chosen, e.g. "emn-llm") and no model answers. With generation switched off
    (the kill switch) the extractive composer answers by decision: no error."""
    if composer != "llm" or not service.assistant.generation:
        return
    if await run_in_threadpool(service.model_check.available):
        return
    alternative = "emn-extractive" if "emn-llm" in asked_as else "composer 'extractive'"
    raise ApiError(
        400,
        "model_unavailable",
        f"{asked_as} needs a generative model, and none answers at EMN_LLM_BASE_URL: start "
        "one or point EMN_LLM_BASE_URL at one (see the README, 'Composers'), or use "
        f"{alternative}.",
    )
