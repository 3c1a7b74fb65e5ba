"""Operational endpoints: liveness (/healthz), readiness (/readyz) and Prometheus metrics."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from api.auth import MetricsCaller, admin_record, bearer_scheme, header_scheme, presented_key
from api.db import ping
from api.errors import ERROR_RESPONSES, RETRY_AFTER_OUTAGE_S, request_trace_id
from api.schemas import Check, Health, Readiness
from api.state import Service, ServiceDep
from index.chroma import ChromaUnavailableError
from index.reader import IndexNotReadyError

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process is up")
async def healthz(service: ServiceDep) -> Health:
    return Health(uptime_s=round(time.time() - service.started_at, 1))


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: index loaded, Chroma reachable, embedding model loaded, database up",
    description="200 when the service can answer; 503 with the same body (and `error.code` "
    "`index_not_ready`, `chroma_unavailable`, `embedding_model_unavailable` or "
    "`database_unavailable`) when not. "
    "Needs no key; the details (each check's detail, such as counts, paths or the Chroma "
    "host, the index manifest and the auth mode) only with an admin key, or to everyone in "
    "auth mode `open`, where every route, admin ones included, is open.",
    responses={503: {"model": Readiness, "description": "Not ready."}},
)
async def readyz(
    request: Request,
    service: ServiceDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(header_scheme)],
) -> JSONResponse:
    detailed = await run_in_threadpool(
        shows_details, service, request, presented_key(bearer, header_key)
    )
    index = service.assistant.index
    checks: dict[str, Check] = {}
    errors: list[tuple[str, str]] = []
    manifest = None
    try:
        await run_in_threadpool(index.ensure_loaded)
        assert index.manifest is not None
        manifest = index.manifest.model_dump(exclude={"document_list"})
        manifest["manifest_hash"] = index.manifest.manifest_hash
        checks["index"] = Check(ok=True, detail=f"{len(index.chunks)} chunks loaded")
    except IndexNotReadyError as exc:
        checks["index"] = Check(ok=False, detail=str(exc))
        errors.append(("index_not_ready", "No index has been built yet: run `python -m ingest`."))
    try:
        vectors = await run_in_threadpool(index.check_chroma)
        checks["chroma"] = Check(ok=True, detail=f"{vectors} vectors")
    except ChromaUnavailableError as exc:
        checks["chroma"] = Check(ok=False, detail=str(exc))
        errors.append(("chroma_unavailable", "The vector store (Chroma) is unavailable."))
    embedder = service.assistant.embedder
    loaded = service.embedding_loaded
    checks["embedding_model"] = Check(ok=loaded, detail=embedder.version)
    if not loaded:
        errors.append(("embedding_model_unavailable", "The embedding model is not loaded."))
    try:
        dialect = await run_in_threadpool(ping, service.audit.engine)
        checks["database"] = Check(ok=True, detail=dialect)
    except SQLAlchemyError as exc:
        checks["database"] = Check(ok=False, detail=exc.__class__.__name__)
        errors.append(("database_unavailable", "The service database is unavailable."))
    if not detailed:
        checks = {name: Check(ok=check.ok) for name, check in checks.items()}
    body = Readiness(
        status="not_ready" if errors else "ready",
        checks=checks,
        manifest=manifest if detailed else None,
        generation="on" if service.assistant.generation else "off",
        auth_mode=service.settings.auth_mode if detailed else None,
        error=(
            {"code": errors[0][0], "message": errors[0][1], "trace_id": request_trace_id(request)}
            if errors
            else None
        ),
    )
    headers = {"Retry-After": str(RETRY_AFTER_OUTAGE_S)} if errors else {}
    return JSONResponse(body.model_dump(mode="json"), 503 if errors else 200, headers)


def shows_details(service: Service, request: Request, key: str | None) -> bool:
    """Readiness details (paths, hosts, counts) help an attacker more than a load balancer:
    admin keys only; in open mode everyone is admin."""
    if service.settings.auth_mode == "open":
        return True
    return admin_record(service, request, key) is not None


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Requests by route and status, latency, per-step pipeline latency, answers "
    "by behaviour (text exposition format). Needs the 'admin' scope in auth mode 'keys'.",
    response_class=Response,
    responses={
        **{k: v for k, v in ERROR_RESPONSES.items() if k in (401, 403, 500)},
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
    },
)
async def metrics(
    _: MetricsCaller,
    service: ServiceDep,
) -> Response:
    return Response(service.metrics.render(), media_type=service.metrics.content_type)
