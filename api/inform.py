"""POST /v1/inform: a cited first draft of an EMN inform (title, key messages, background,
main findings, policy implications, sources) on a topic, for NCP staff to edit and export.

The topic passes the same guards as /v1/ask; each section is drafted from its own
retrieval and verified as answers are, so every sentence carries a citation; the draft is
marked "AI-generated draft — verify before use". Each draft
gets an audit record (kind `inform`) naming its sections' trace ids and the cited passages.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.answer_service import record_draft
from api.auth import AskCaller
from api.errors import ERROR_RESPONSES
from api.filters import check_filters
from api.schemas import TextQuery
from api.state import ServiceDep
from index.schema import Filters
from rag.inform import InformDraft, draft_inform

router = APIRouter(tags=["answers"])

MAX_TOPIC_CHARS = 200


class InformRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"topic": "return and readmission"},
                {
                    "topic": "EMN work programme 2026-2027",
                    "filters": {"doc_ids": ["emn-work-programme-2026-2027"]},
                },
            ]
        }
    )

    topic: TextQuery = Field(
        min_length=1,
        max_length=MAX_TOPIC_CHARS,
        pattern=r"\S",
        description=f"What the inform is about (at most {MAX_TOPIC_CHARS} characters).",
        examples=["return and readmission"],
    )
    filters: Filters | None = Field(default=None, description="Restrict retrieval.")


@router.post(
    "/v1/inform",
    response_model=InformDraft,
    summary="Draft an inform with citations",
    description="A first draft in the EMN house shape: title, key messages (3-5 bullets), "
    "background, main findings, policy implications and a numbered source list. Each section "
    "retrieves with its own questions (the topic and the section's purpose), draws on every "
    "relevant document, and quotes sentences in the brief's voice (no dangling 'In this "
    "respect,', no '(see section 5)'); every sentence carries [n] markers into `citations` and "
    "is verified as /v1/ask answers are. A section the documents do not cover is empty, with "
    "`behaviour` `abstained` (or `declined` when the topic is) and a `note` for the author "
    "in the topic's language; exports leave it out. Marked as an AI-generated draft.",
    responses=ERROR_RESPONSES,
)
async def inform(body: InformRequest, principal: AskCaller, service: ServiceDep) -> JSONResponse:
    await check_filters(service, body.filters)
    started = time.perf_counter()
    draft = await run_in_threadpool(
        draft_inform, service.assistant, body.topic, body.filters or None
    )
    took = round((time.perf_counter() - started) * 1000, 2)
    await record_draft(service, draft, principal, body.topic, body.filters, took)
    return JSONResponse(draft.model_dump(mode="json"))
