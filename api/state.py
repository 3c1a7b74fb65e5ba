"""The service's long-lived parts, built once at startup and shared by every request: the
assistant (index and embedding model), the audit log, feedback, reviews, keys, rate limiter,
metrics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from api.audit import AuditLog
from api.feedback_store import FeedbackStore
from api.keys import KeyStore
from api.metrics import Metrics
from api.ratelimit import RateLimiter
from api.review_store import ReviewStore
from common.chroma_client import ChromaUnavailableError
from common.settings import Settings
from rag.index import IndexNotReadyError
from rag.pipeline import Assistant

log = logging.getLogger("api")


@dataclass
class Service:
    settings: Settings
    assistant: Assistant
    audit: AuditLog
    feedback: FeedbackStore
    keys: KeyStore
    limiter: RateLimiter
    metrics: Metrics
    reviews: ReviewStore = None  # type: ignore[assignment]  # built in __post_init__
    started_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.reviews is None:
            self.reviews = ReviewStore(self.audit.engine)

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics) -> Service:
        audit = AuditLog.from_settings(settings)
        assert settings.api_keys_file is not None
        return cls(
            settings=settings,
            assistant=Assistant(settings),
            audit=audit,
            feedback=FeedbackStore(audit.engine),
            keys=KeyStore(settings.api_keys_file),
            limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
            metrics=metrics,
        )

    def warm_up(self) -> None:
        """Load the index and the embedding model now, so no request pays for it. A missing
        index or an unreachable Chroma does not stop the service: /readyz reports it and
        requests answer 503 until it is fixed."""
        try:
            self.assistant.index.ensure_loaded()
        except IndexNotReadyError as exc:
            log.warning("index not ready: %s", exc)
        self.assistant.embedder.embed_query("warm up")
        try:
            self.assistant.index.check_chroma()
        except ChromaUnavailableError as exc:
            log.warning("Chroma unavailable at startup: %s", exc)

    @property
    def embedding_loaded(self) -> bool:
        return getattr(self.assistant.embedder, "_model", None) is not None

    def purge_audit(self) -> None:
        """Retention (Art. 12/19): delete audit records older than the retention period."""
        done = self.audit.purge(timedelta(days=self.settings.audit_retention_days))
        if done.purged:
            log.info("audit log: purged %d records created before %s", done.purged, done.cutoff)

    def citation_base(self) -> str:
        return self.settings.api_public_url.rstrip("/")


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
