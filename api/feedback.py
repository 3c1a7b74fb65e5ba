"""POST /v1/feedback: a rating (up/down) and a comment on an answer, by its trace id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import FeedbackCaller
from api.errors import ERROR_RESPONSES, ApiError, error_doc
from api.schemas import FeedbackReceipt, FeedbackRequest
from api.state import ServiceDep

router = APIRouter(tags=["feedback"])


@router.post(
    "/v1/feedback",
    status_code=201,
    response_model=FeedbackReceipt,
    summary="Rate an answer",
    description="Thumbs up or down, with an optional comment (personal data is redacted "
    "before it is stored), on an answer identified by its `trace_id`. 'down' ratings and "
    "`report: true` put the answer in the reviewers' queue (`GET /v1/review`).",
    responses=ERROR_RESPONSES | {404: error_doc("No answer with this trace id.")},
)
async def feedback(
    body: FeedbackRequest,
    principal: FeedbackCaller,
    service: ServiceDep,
) -> JSONResponse:
    if not await run_in_threadpool(service.audit.has_trace, body.trace_id):
        raise ApiError(
            404, "trace_not_found", f"No answer with trace id {body.trace_id!r} is on record."
        )
    row = await run_in_threadpool(
        service.feedback.add,
        body.trace_id,
        body.rating,
        body.comment,
        principal.key_id,
        body.report,
    )
    service.metrics.feedback.labels(body.rating).inc()
    if body.report:
        service.metrics.feedback.labels("report").inc()
    return JSONResponse(_receipt(row), status_code=201)


@router.put(
    "/v1/feedback/{feedback_id}",
    response_model=FeedbackReceipt,
    summary="Change a rating already given",
    description="Replaces the rating, comment and report flag of the feedback `feedback_id` "
    "(from the receipt of `POST /v1/feedback`): a thumb is recorded on click, the comment "
    "added to it later is the same feedback, not a second rating. The body's `trace_id` must "
    "be the rated answer's, and the same API key (if any) must send it.",
    responses=ERROR_RESPONSES | {404: error_doc("No such feedback for this answer and key.")},
)
async def update_feedback(
    feedback_id: Annotated[int, Path(ge=1, description="The receipt's id.", examples=[1])],
    body: FeedbackRequest,
    principal: FeedbackCaller,
    service: ServiceDep,
) -> JSONResponse:
    row = await run_in_threadpool(
        service.feedback.update,
        feedback_id,
        body.trace_id,
        body.rating,
        body.comment,
        principal.key_id,
        body.report,
    )
    if row is None:
        raise ApiError(
            404,
            "feedback_not_found",
            f"No feedback {feedback_id} on the answer {body.trace_id!r} from this caller.",
        )
    if body.report:
        service.metrics.feedback.labels("report").inc()
    return JSONResponse(_receipt(row))


def _receipt(row: dict[str, Any]) -> dict[str, Any]:
    """What both routes answer: the stored feedback's receipt, as JSON."""
    receipt = FeedbackReceipt(
        id=row["id"],
        trace_id=row["trace_id"],
        rating=row["rating"],
        report=row["report"],
        created_at=row["created_at"],
    )
    return receipt.model_dump(mode="json")
