"""The ASGI app: `uvicorn api.main:app` (settings from EMN_ environment variables), or
`create_app(settings)` for an app with explicit settings.

The index and the embedding model are loaded once per worker process, at startup (lifespan),
never per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from api import (
    admin,
    ask,
    conversations,
    documents,
    drafts,
    feedback,
    health,
    inform,
    model_card_provenance,
    openai_compat,
    review,
    search,
)
from api.errors import install_error_handlers
from api.failures import FailureLog, FailureMiddleware
from api.metrics import Metrics, MetricsMiddleware
from api.metrics_multiprocess import active_dir
from api.middleware import (
    AI_GENERATED_HEADER,
    AIGeneratedHeaderMiddleware,
    BodyLimitMiddleware,
    BodyTimeoutMiddleware,
    HeaderLimitMiddleware,
    JsonCorsMiddleware,
    RequestContextMiddleware,
    returns_generated_content,
)
from api.owner import SESSION_HEADER
from api.startup import build_when_database_ready
from api.state import Service
from common.settings import Settings, load_settings
from rag.answer import DISCLOSURE
from rag.pipeline import APP_VERSION

log = logging.getLogger("api")

DESCRIPTION = f"""
Answers EU migration and asylum policy questions from European Migration Network documents,
with a citation for every claim; says so when the documents do not cover a question; never
advises on an individual case.

*{DISCLOSURE}*

**Authentication.** In auth mode `keys`, send an API key as `Authorization: Bearer KEY` or
`X-API-Key: KEY` (create one with `python -m api.keys create --name NAME --scopes ask,search`).
Scopes: `ask` (ask, chat completions, models, inform, model card, provenance check),
`search` (search, documents, chunks), `feedback`, `admin` (everything, metrics, the review
queue, the generation switch).

**AI Act safeguards.** Every answer carries `ai_generated: true`, a disclosure text and a
signed `provenance` record (check it with `POST /v1/provenance/verify`); responses with
generated content carry the header `X-AI-Generated: true`. The instructions for use are at
`GET /v1/model-card`. Answers rated down or reported through `/v1/feedback` enter the review
queue (`GET /v1/review`).

**Errors** are always JSON: `{{"error": {{"code", "message", "trace_id"}}}}`.
"""

TAGS = [
    {"name": "answers", "description": "Cited answers (JSON or server-sent events)."},
    {"name": "search", "description": "Passages without an answer."},
    {"name": "documents", "description": "The indexed documents and their passages."},
    {"name": "feedback", "description": "Ratings and comments on answers."},
    {"name": "openai-compatible", "description": "For OpenAI clients and chat front ends."},
    {"name": "transparency", "description": "Model card and provenance checks (Art. 13, 50)."},
    {"name": "review", "description": "Human review of flagged answers (Art. 14)."},
    {"name": "saved work", "description": "Your conversations and drafts, per session or key."},
    {"name": "admin", "description": "Human oversight controls."},
    {"name": "operations", "description": "Health, readiness and metrics."},
]


def create_app(settings: Settings | None = None, *, process_settings: bool = False) -> FastAPI:
    """Build the app; nothing heavy happens until the lifespan starts. `process_settings`:
    the app owns its process (the one uvicorn serves), so it also applies process-wide
    settings (torch threads); an app built inside another program or a test leaves them."""
    settings = settings or load_settings()
    metrics = Metrics(active_dir())
    failures = FailureLog(settings.traceback_interval_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await run_in_threadpool(build_when_database_ready, settings, metrics)
        if process_settings:
            service.use_process_settings()
        await run_in_threadpool(service.warm_up)
        app.state.service = service
        # Audit checkpoints (api/audit_checkpoints.py): at startup (so the file exists and
        # covers what happened while the service was down), on a timer, and on shutdown.
        await run_in_threadpool(service.audit.checkpoint_quietly)
        tasks = []
        if settings.audit_purge_interval_hours > 0:
            await _purge(service)  # at startup, then on a timer
            tasks.append(
                asyncio.create_task(
                    _retention_loop(service, settings.audit_purge_interval_hours * 3600)
                )
            )
        if settings.audit_checkpoint_interval_s > 0:
            tasks.append(
                asyncio.create_task(_checkpoint_loop(service, settings.audit_checkpoint_interval_s))
            )
        metrics.worker_started()
        log.info("EMN policy assistant API ready (auth mode %s)", settings.auth_mode)
        yield
        metrics.worker_stopped()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await run_in_threadpool(service.audit.checkpoint_quietly)
        service.close()

    # /docs (Swagger UI) and /redoc load their scripts and styles from the fastapi-offline
    # package (under /static-offline-docs), never from a CDN: the docs work offline.
    app = FastAPIOffline(
        title="EMN policy assistant API",
        version=APP_VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.state.failures = failures
    modules = (ask, inform, search, documents, feedback, openai_compat, model_card_provenance,
               review, admin, health, conversations, drafts)  # fmt: skip
    routers = [m.router for m in modules]
    for router in routers:
        app.include_router(router)
    app.state.route_methods = [
        (route.path_regex, getattr(route, "methods", None) or set())
        for route in [*app.routes, *(r for router in routers for r in router.routes)]
        if getattr(route, "path_regex", None) is not None
    ]

    _document_ai_header(app)

    # Added innermost first: the request context wraps everything, so even a 413, a 431 or a
    # CORS rejection carries a trace id and is counted; the limits come before any route (and
    # so before authentication).
    app.add_middleware(AIGeneratedHeaderMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodyTimeoutMiddleware, seconds=settings.body_timeout_s)
    if settings.cors_origins:
        app.add_middleware(
            JsonCorsMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", SESSION_HEADER],
            expose_headers=["X-Request-ID", "Retry-After", AI_GENERATED_HEADER],
        )
    app.add_middleware(HeaderLimitMiddleware, max_bytes=settings.max_header_bytes)
    app.add_middleware(FailureMiddleware, failures=failures)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestContextMiddleware)
    return app


async def _purge(service: Service) -> None:
    try:
        await run_in_threadpool(service.purge_audit)
    except Exception:  # the next run retries; answering does not depend on it
        log.exception("audit retention purge failed")
    try:
        await run_in_threadpool(service.purge_saved_work)
    except Exception:
        log.exception("saved conversations and drafts: retention purge failed")


async def _retention_loop(service: Service, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await _purge(service)


async def _checkpoint_loop(service: Service, every_s: float) -> None:
    """A checkpoint every `every_s` seconds when records were added since the last one."""
    while True:
        await asyncio.sleep(every_s)
        await run_in_threadpool(service.audit.checkpoint_quietly, only_if_moved=True)


def _document_ai_header(app: FastAPI) -> None:
    """The OpenAPI schema names the X-AI-Generated header on the 2xx responses of the
    routes that return generated content."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        header = {
            "description": "Always 'true': the body holds AI-generated content (AI Act Art. 50).",
            "schema": {"type": "string", "enum": ["true"]},
        }
        for path, operations in schema.get("paths", {}).items():
            if not returns_generated_content(path):
                continue
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    if status.startswith("2"):
                        response.setdefault("headers", {})[AI_GENERATED_HEADER] = header
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


app = create_app(process_settings=True)
