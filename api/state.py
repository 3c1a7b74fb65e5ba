"""The service's long-lived parts, built once at startup (in each worker process) and shared
by every request: the assistant (index and embedding model), the audit log, feedback, reviews,
keys, rate limiter, failed-authentication throttle, generation switch, metrics. Keys live in
the service database; the rate limiter, the throttle and the generation switch live in the
data folder beside a SQLite database (the workers of one host share them) and in the database
when it is PostgreSQL (every host shares them; api/shared_state.py)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from api.audit_chain import AuditLog
from api.auth_throttle import AuthThrottle
from api.conversation_store import ConversationStore, Limits
from api.errors import ApiError
from api.feedback_store import FeedbackStore
from api.keys import KeyStore
from api.kill_switch import GenerationSwitch
from api.metrics import Metrics
from api.model_check import ModelCheck
from api.review_store import ReviewStore
from api.shared_state import Limiter, Throttle, shared_state
from common.settings import Settings
from index.chroma import ChromaUnavailableError
from index.reader import IndexNotReadyError
from rag.pipeline import Assistant

log = logging.getLogger("api")


@dataclass
class Service:
    settings: Settings
    assistant: Assistant
    audit: AuditLog
    feedback: FeedbackStore
    keys: KeyStore
    limiter: Limiter
    metrics: Metrics
    reviews: ReviewStore = None  # type: ignore[assignment]  # built in __post_init__
    conversations: ConversationStore = None  # type: ignore[assignment]  # __post_init__
    switch: GenerationSwitch | None = None  # None: the assistant's own flag, this process only
    throttle: Throttle = None  # type: ignore[assignment]  # in memory unless given
    started_at: float = field(default_factory=time.time)
    model_check: ModelCheck = None  # type: ignore[assignment]  # built in __post_init__

    def __post_init__(self) -> None:
        if self.reviews is None:
            self.reviews = ReviewStore(self.audit.engine)
        if self.conversations is None:
            limits = Limits(
                self.settings.conversation_max_messages, self.settings.conversation_max_bytes
            )
            self.conversations = ConversationStore(self.audit.engine, limits)
        if self.model_check is None:
            self.model_check = ModelCheck(self.settings)
        if self.throttle is None:
            s = self.settings
            self.throttle = AuthThrottle(s.auth_failure_limit, s.auth_failure_window_s)

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics) -> Service:
        audit = AuditLog.from_settings(settings)
        shared = shared_state(settings, audit.engine)
        keys = KeyStore(audit.engine, settings.api_keys_file, settings.shared_state_refresh_s)
        keys.refresh(force=True)  # the keys file is imported now, not at the first request
        assistant = Assistant(settings)
        assistant.set_generation(shared.switch.start())
        return cls(
            settings=settings,
            assistant=assistant,
            audit=audit,
            feedback=FeedbackStore(audit.engine),
            keys=keys,
            limiter=shared.limiter,
            metrics=metrics,
            switch=shared.switch,
            throttle=shared.throttle,
        )

    def use_process_settings(self) -> None:
        """Settings that belong to the whole process, for a server process of its own: torch
        threads (EMN_TORCH_THREADS; auto: this worker's share of the cores)."""
        workers = server_workers(self.settings)
        threads = self.settings.torch_threads_for(workers)
        self.assistant.embedder.configure_threads(threads)
        log.info("worker %d: %d torch thread(s), 1 of %d worker(s)", os.getpid(), threads, workers)

    def sync_generation(self) -> None:
        """Take up a change of the shared switch made through another worker (one stat)."""
        if self.switch is not None:
            enabled = self.switch.current()
            if enabled != self.assistant.generation:
                self.assistant.set_generation(enabled)

    def set_generation(self, enabled: bool) -> bool:
        """The kill switch, for every worker that shares it (this host's, or every host's
        with PostgreSQL); returns the value in force."""
        if self.switch is not None:
            try:
                enabled = self.switch.set(enabled)
            except SQLAlchemyError as exc:
                raise ApiError(
                    503,
                    "switch_unavailable",
                    "The kill switch could not be saved in the service database, so it is "
                    "unchanged; check the database and try again.",
                ) from exc
        self.assistant.set_generation(enabled)
        return self.assistant.generation

    def close(self) -> None:
        self.limiter.close()
        self.throttle.close()
        self.audit.engine.dispose()

    def warm_up(self) -> None:
        """Load the index and the embedding model now, so no request pays for it. A missing
        index or an unreachable Chroma does not stop the service: /readyz reports it and
        requests answer 503 until it is fixed."""
        try:
            self.assistant.index.ensure_loaded()
        except IndexNotReadyError as exc:
            log.warning("index not ready: %s", exc)
        self.assistant.warm_models()
        try:
            self.assistant.index.warm_dense()
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

    def purge_saved_work(self) -> None:
        """Retention of saved conversations and drafts (as long as the audit log's unless
        EMN_CONVERSATION_RETENTION_DAYS says otherwise): delete those not updated since."""
        days = self.settings.resolved_conversation_retention_days
        done = self.conversations.purge(timedelta(days=days))
        if done.conversations or done.drafts:
            log.info("saved work: purged %d conversations and %d drafts not updated since %s",
                     done.conversations, done.drafts, done.cutoff)  # fmt: skip


def server_workers(settings: Settings) -> int:
    """Worker processes of the running server: EMN_API_WORKERS in a worker that uvicorn
    started (`--workers N`; `python -m api` sets EMN_API_WORKERS to N for them), and 1 when
    the server is this process alone (`uvicorn api.main:app` without --workers)."""
    if multiprocessing.parent_process() is None:
        return 1
    return settings.resolved_api_workers


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    service.sync_generation()
    return service


ServiceDep = Annotated[Service, Depends(get_service)]
