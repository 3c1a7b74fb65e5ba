"""POST /v1/search: passages only (hybrid dense + BM25 retrieval), no answer composed."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.auth import SearchCaller
from api.errors import ERROR_RESPONSES
from api.filters import check_filters
from api.schemas import SearchHit, SearchRequest, SearchResponse
from api.state import ServiceDep
from rag.citation import passage_fields, public_base

router = APIRouter(tags=["search"])


@router.post(
    "/v1/search",
    response_model=SearchResponse,
    summary="Search passages",
    description="The passages that best match the query (dense + BM25 fused, re-scored, one "
    "document not crowding out the others), with scores and where to open each one.",
    responses=ERROR_RESPONSES,
)
async def search(
    body: SearchRequest,
    _: SearchCaller,
    service: ServiceDep,
) -> SearchResponse:
    await check_filters(service, body.filters)
    started = time.perf_counter()
    candidates = await run_in_threadpool(service.assistant.search, body.query, body.filters, body.k)
    base = public_base(service.settings)
    hits = [
        SearchHit(
            rank=rank,
            text=cand.chunk.text,
            score=round(float(cand.score), 4),
            dense_score=round(float(cand.dense), 4),
            lexical_score=round(float(cand.lexical), 4),
            dense_rank=cand.dense_rank,
            lexical_rank=cand.lexical_rank,
            superseded_by=cand.chunk.doc.superseded_by,
            **passage_fields(cand.chunk, base),
        )
        for rank, cand in enumerate(candidates, start=1)
    ]
    took = round((time.perf_counter() - started) * 1000, 2)
    return SearchResponse(query=body.query, results=hits, took_ms=took)
