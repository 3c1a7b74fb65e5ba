"""The ASGI app: `uvicorn api.main:app` (settings from EMN_ environment variables), or
`create_app(settings)` for an app with explicit settings.

The index and the embedding model are loaded once, at startup (lifespan), never per request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api import admin, ask, documents, feedback, health, inform, openai_compat, search
from api.errors import install_error_handlers
from api.metrics import Metrics, MetricsMiddleware
from api.middleware import BodyLimitMiddleware, JsonCorsMiddleware, RequestContextMiddleware
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
Scopes: `ask` (ask, chat completions, models), `search` (search, documents, chunks),
`feedback`, `admin` (everything, metrics, the generation switch).

**Errors** are always JSON: `{{"error": {{"code", "message", "trace_id"}}}}`.
"""

TAGS = [
    {"name": "answers", "description": "Cited answers (JSON or server-sent events)."},
    {"name": "search", "description": "Passages without an answer."},
    {"name": "documents", "description": "The indexed documents and their passages."},
    {"name": "feedback", "description": "Ratings and comments on answers."},
    {"name": "openai-compatible", "description": "For OpenAI clients and chat front ends."},
    {"name": "admin", "description": "Human oversight controls."},
    {"name": "operations", "description": "Health, readiness and metrics."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; nothing heavy happens until the lifespan starts."""
    settings = settings or load_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await run_in_threadpool(Service.build, settings, metrics)
        await run_in_threadpool(service.warm_up)
        app.state.service = service
        log.info("EMN policy assistant API ready (auth mode %s)", settings.auth_mode)
        yield
        service.audit.engine.dispose()

    app = FastAPI(
        title="EMN policy assistant API",
        version=APP_VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    routers = [
        m.router for m in (ask, inform, search, documents, feedback, openai_compat, admin, health)
    ]
    for router in routers:
        app.include_router(router)
    app.state.route_methods = [
        (route.path_regex, route.methods or set())
        for route in [*app.routes, *(r for router in routers for r in router.routes)]
        if getattr(route, "path_regex", None) is not None
    ]

    # Added innermost first: the request context wraps everything, so even a 413 or a CORS
    # rejection carries a trace id and is counted.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            JsonCorsMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestContextMiddleware)
    return app


app = create_app()
