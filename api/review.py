"""The review queue (AI Act Art. 14 human oversight): answers that users rated down or
reported, with the redacted question, the answer as returned, its citations (the quoted
passages from the index), the feedback and the reviewer's verdict.

    GET  /v1/review?status=open|reviewed|all   the queue, latest flag first
    GET  /v1/review/{trace_id}                 one answer (flagged or not) with its reviews
    POST /v1/review/{trace_id}                 a verdict (right | wrong) and a note

Every verdict is also an audit record (kind `review`), so oversight is on the same chain.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import AdminCaller
from api.errors import ERROR_RESPONSES, ApiError, error_doc
from api.schemas import (
    ReviewCitation,
    ReviewFeedback,
    ReviewItem,
    ReviewQueue,
    ReviewRequest,
)
from api.state import Service, ServiceDep
from rag.citation import passage_fields
from rag.redaction import redact

router = APIRouter(tags=["review"])

TraceId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Trace id.")
]
NOT_FOUND = {404: error_doc("No answer with this trace id is on record.")}


def _citations(service: Service, payload: dict[str, Any]) -> list[ReviewCitation]:
    """The citations as shown with the answer, each with its passage from the index."""
    chunks = service.assistant.index.chunks
    stored = payload.get("citations")
    if not stored:  # older records and inform drafts: chunk ids only
        stored = [
            {"marker": i, "chunk_id": cid} for i, cid in enumerate(payload.get("cited") or [], 1)
        ]
    out = []
    for entry in stored:
        chunk = chunks.get(str(entry.get("chunk_id", "")))
        known: dict[str, Any] = {"quote": ""}
        if chunk is not None:  # what the index knows; the record's own values take precedence
            # (the URL API-relative; the status only as recorded: drafts record none)
            known = {**passage_fields(chunk, ""), "quote": chunk.text}
            del known["status"]
        recorded = {
            k: v
            for k, v in entry.items()
            if k in ReviewCitation.model_fields and v not in (None, "")
        }
        out.append(ReviewCitation.model_validate({"doc_id": "", **known, **recorded}))
    return out


def review_item(
    service: Service, trace_id: str, flagged_at: str | None = None
) -> ReviewItem | None:
    """Everything a reviewer needs about one answer, or None when it is not on record."""
    record = service.audit.find(trace_id)
    if record is None:
        return None
    # The quotes are a convenience: the review works without the index.
    with contextlib.suppress(Exception):
        service.assistant.index.ensure_loaded()
    payload: dict[str, Any] = json.loads(record["payload"]) if record["payload"] else {}
    versions = payload.get("versions") or {}
    feedback = service.feedback.for_trace(trace_id)
    flags = [f for f in feedback if f["rating"] == "down" or f["report"]]
    flagged_at = flagged_at or (max(f["created_at"] for f in flags) if flags else None)
    verdict = service.reviews.latest(trace_id)
    reviewed = verdict is not None and (flagged_at is None or verdict["created_at"] >= flagged_at)
    return ReviewItem(
        trace_id=trace_id,
        kind="inform" if record["kind"] == "inform" else "answer",
        endpoint=str(payload.get("endpoint", "")),
        answered_at=record["created_at"],
        question=str(payload.get("question") or payload.get("topic") or ""),
        answer=str(payload.get("answer", "")),
        behaviour=str(payload.get("behaviour", "")),
        confidence=payload.get("confidence"),
        composer=str(payload.get("composer") or versions.get("composer", "")),
        model=str(payload.get("model") or versions.get("model", "")),
        index_manifest=str(payload.get("index_manifest") or versions.get("index_manifest", "")),
        citations=_citations(service, payload),
        feedback=[
            ReviewFeedback(
                created_at=f["created_at"],
                rating=f["rating"],
                report=bool(f["report"]),
                comment=f["comment"],
            )
            for f in feedback
        ],
        flagged=bool(flags),
        flagged_at=flagged_at,
        status="reviewed" if reviewed else ("open" if flags else "not_flagged"),
        verdict=verdict["verdict"] if verdict else None,
        review_note=verdict["note"] if verdict else "",
        reviewed_at=verdict["created_at"] if verdict else None,
        erased="erased" in payload,
    )


def review_queue(service: Service, status: str, limit: int) -> ReviewQueue:
    items: list[ReviewItem] = []
    open_count = total = 0
    for trace_id, flagged_at in service.feedback.flagged():
        item = review_item(service, trace_id, flagged_at)
        if item is None:  # purged from the audit log: nothing left to review
            continue
        open_count += item.status == "open"
        if status != "all" and item.status != status:
            continue
        total += 1
        if len(items) < limit:
            items.append(item)
    return ReviewQueue(items=items, open=open_count, total=total)


@router.get(
    "/v1/review",
    response_model=ReviewQueue,
    summary="The review queue: answers users flagged",
    description="Answers rated 'down' or reported through /v1/feedback, latest flag first, "
    "each with the redacted question, the answer as returned, its citations with the quoted "
    "passages, the (redacted) feedback comments, and the latest reviewer verdict. `status` "
    "`open` (default): not reviewed since the latest flag.",
    responses=ERROR_RESPONSES,
)
async def list_reviews(
    _: AdminCaller,
    service: ServiceDep,
    status: Annotated[Literal["open", "reviewed", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JSONResponse:
    queue = await run_in_threadpool(review_queue, service, status, limit)
    return JSONResponse(queue.model_dump(mode="json"))


@router.get(
    "/v1/review/{trace_id}",
    response_model=ReviewItem,
    summary="One answer for review",
    description="Any recorded answer (flagged or not), as a reviewer sees it.",
    responses=ERROR_RESPONSES | NOT_FOUND,
)
async def get_review(trace_id: TraceId, _: AdminCaller, service: ServiceDep) -> JSONResponse:
    item = await run_in_threadpool(review_item, service, trace_id)
    if item is None:
        raise ApiError(
            404, "trace_not_found", f"No answer with trace id {trace_id!r} is on record."
        )
    return JSONResponse(item.model_dump(mode="json"))


@router.post(
    "/v1/review/{trace_id}",
    response_model=ReviewItem,
    summary="Record a reviewer's verdict",
    description="`right` or `wrong`, with a note (redacted before storage); the answer leaves "
    "the open queue until it is flagged again. Any recorded answer may be reviewed (spot "
    "checks). The verdict is also written to the audit log.",
    responses=ERROR_RESPONSES | NOT_FOUND,
)
async def post_review(
    trace_id: TraceId, body: ReviewRequest, principal: AdminCaller, service: ServiceDep
) -> JSONResponse:
    if not await run_in_threadpool(service.audit.has_trace, trace_id):
        raise ApiError(
            404, "trace_not_found", f"No answer with trace id {trace_id!r} is on record."
        )
    note = redact(body.note)
    try:
        await run_in_threadpool(
            service.audit.append,
            "review",
            {"verdict": body.verdict, "note": note},
            trace_id=trace_id,
            key_id=principal.key_id,
        )
    except Exception as exc:
        raise ApiError(
            503, "audit_unavailable", "The audit log cannot be written; the verdict is not saved."
        ) from exc
    await run_in_threadpool(service.reviews.add, trace_id, body.verdict, note, principal.key_id)
    item = await run_in_threadpool(review_item, service, trace_id)
    assert item is not None
    return JSONResponse(item.model_dump(mode="json"))
