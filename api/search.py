"""POST /v1/search: passages only (hybrid dense + BM25 retrieval), no answer composed."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.auth import SearchCaller
from api.errors import ERROR_RESPONSES
from api.schemas import SearchHit, SearchRequest, SearchResponse
from api.state import ServiceDep

router = APIRouter(tags=["search"])


def chunk_url(base: str, doc_id: str, chunk_id: str) -> str:
    """The same form as citation URLs: the document's passages, anchored at this one."""
    return f"{base}/v1/documents/{doc_id}/chunks#{chunk_id}"


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
    started = time.perf_counter()
    candidates = await run_in_threadpool(service.assistant.search, body.query, body.filters, body.k)
    base = service.citation_base()
    hits = []
    for rank, cand in enumerate(candidates, start=1):
        chunk, doc = cand.chunk, cand.chunk.doc
        hits.append(
            SearchHit(
                rank=rank,
                chunk_id=chunk.id,
                doc_id=doc.doc_id,
                title=doc.title,
                reference=doc.reference,
                section_path=chunk.section_path,
                page=chunk.page,
                text=chunk.text,
                score=round(float(cand.score), 4),
                dense_score=round(float(cand.dense), 4),
                lexical_score=round(float(cand.lexical), 4),
                dense_rank=cand.dense_rank,
                lexical_rank=cand.lexical_rank,
                kind=doc.kind,
                date=doc.date,
                status=f"superseded by {doc.superseded_by}" if doc.superseded_by else doc.status,
                superseded_by=doc.superseded_by,
                url=chunk_url(base, doc.doc_id, chunk.id),
            )
        )
    took = round((time.perf_counter() - started) * 1000, 2)
    return SearchResponse(query=body.query, results=hits, took_ms=took)
