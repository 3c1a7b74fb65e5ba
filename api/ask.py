"""POST /v1/ask: a cited answer as `rag.answer.Answer` JSON, or streamed as server-sent
events (`delta` text pieces, then `citations`, then the final `answer` record)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api import answer_service
from api.auth import AskCaller
from api.errors import ERROR_RESPONSES, error_body, error_doc, error_for, request_trace_id
from api.filters import check_filters
from api.model_check import require_model
from api.schemas import AskRequest
from api.sse import EventStreamResponse, sse_event, sse_response_doc
from api.state import ServiceDep
from rag.answer import Answer

router = APIRouter(tags=["answers"])

STREAM_EXAMPLE = (
    'event: delta\ndata: {"text": "The maximum Union contribution ... EUR 28 200 000 [1]. "}\n\n'
    'event: citations\ndata: {"citations": [{"marker": 1, "chunk_id": "...", ...}]}\n\n'
    'event: answer\ndata: {"answer": "...", "behaviour": "answered", ...}\n\n'
)


@router.post(
    "/v1/ask",
    response_model=Answer,
    summary="Answer a question with citations",
    description="Answers from the indexed EMN documents; every sentence cites a passage "
    "(`citations[].url` opens it). `behaviour` is `answered`, `abstained` (the corpus does "
    "not cover it) or `declined` (out of scope, individual case, attack). With "
    "`?stream=true` the answer arrives as server-sent events: `delta` events with text, then "
    "`citations`, then `answer` with the full record (an `error` event if it fails midway).",
    responses={
        **ERROR_RESPONSES,
        400: error_doc(
            "Malformed JSON, or composer 'llm' without a reachable generative model "
            "(`model_unavailable`)."
        ),
        200: sse_response_doc(
            "The answer.", STREAM_EXAMPLE, ["delta", "citations", "answer", "error"]
        ),
    },
)
async def ask(
    body: AskRequest,
    request: Request,
    principal: AskCaller,
    service: ServiceDep,
    stream: Annotated[bool, Query(description="Stream as server-sent events.")] = False,
) -> JSONResponse | EventStreamResponse:
    await check_filters(service, body.filters)
    await require_model(service, body.composer, "The composer 'llm'")
    if not stream:
        result = await answer_service.answer(
            service, principal, body.question, body.history, body.filters, body.composer, "ask"
        )
        return JSONResponse(result.model_dump(mode="json"))
    events = await answer_service.answer_stream(
        service, principal, body.question, body.history, body.filters, body.composer,
        "ask_stream",
    )  # fmt: skip
    trace_id = request_trace_id(request)

    async def frames() -> AsyncIterator[bytes]:
        try:
            async for event in events:
                if event.kind == "delta":
                    yield sse_event({"text": event.text}, "delta")
                elif event.answer is not None:
                    data = event.answer.model_dump(mode="json")
                    yield sse_event({"citations": data["citations"]}, "citations")
                    yield sse_event(data, "answer")
        except Exception as exc:
            request.app.state.failures.failed("ask stream", exc, trace_id)
            err = error_for(exc)
            yield sse_event(error_body(err.code, err.message, trace_id), "error")
        finally:
            await events.aclose()

    return EventStreamResponse(frames())
