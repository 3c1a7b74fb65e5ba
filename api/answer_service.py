"""Answering for every endpoint (ask, its stream, chat completions, inform): the blocking
pipeline runs in the threadpool and each answer gets its audit record and metrics. Answers are
returned as the pipeline signed them (citation URLs included: rag/citation.py makes them final).

An answer (or inform draft) whose audit record cannot be written is not returned (503
`audit_unavailable`): record-keeping is a condition of answering, not a side effect.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from api.answer_record import answer_record, inform_record
from api.audit_chain import AuditBusyError
from api.auth import Principal
from api.errors import RETRY_AFTER_OUTAGE_S, ApiError
from api.state import Service
from index.schema import Filters
from rag.answer import Answer, Turn
from rag.inform import InformDraft
from rag.pipeline import StreamEvent

log = logging.getLogger("api")
NO_ANSWER = "no answer is given"  # what a failed audit write withholds (503 audit_unavailable)


@asynccontextmanager
async def audit_required(trace_id: str, withheld: str) -> AsyncIterator[None]:
    """Any failure to write the audit record inside becomes 503 `audit_unavailable`, so
    nothing unrecorded reaches the client; `withheld` says what is not given."""
    try:
        yield
    except (AuditBusyError, OperationalError) as exc:  # locked or full: expected, one line
        log.warning("audit record not written (trace id %s): %s", trace_id, exc)
        raise _unavailable(withheld) from exc
    except Exception as exc:  # unexpected: one line; the traceback at debug level
        log.error(
            "audit record not written (trace id %s): %s: %s", trace_id, type(exc).__name__, exc
        )
        log.debug("traceback of trace id %s", trace_id, exc_info=exc)
        raise _unavailable(withheld) from exc


def _unavailable(withheld: str) -> ApiError:
    return ApiError(
        503,
        "audit_unavailable",
        f"The audit log cannot be written (busy or unavailable); {withheld}. Retry shortly.",
        {"Retry-After": str(RETRY_AFTER_OUTAGE_S)},
    )


async def record_draft(
    service: Service,
    draft: InformDraft,
    principal: Principal,
    topic: str,
    filters: Filters | None,
    took_ms: float,
) -> None:
    """The audit record of one inform draft (kind `inform`); 503 when it cannot be written."""
    record = inform_record(draft, topic=topic, filters=filters, took_ms=took_ms)
    async with audit_required(draft.trace_id, "no draft is given"):
        await run_in_threadpool(
            service.audit.append,
            "inform",
            record.model_dump(mode="json"),
            trace_id=draft.trace_id,
            key_id=principal.key_id,
        )


async def _record(
    service: Service,
    answer: Answer,
    principal: Principal,
    endpoint: str,
    question: str,
    history: list[Turn],
    filters: Filters | None,
    interrupted: bool = False,
) -> None:
    """The audit record and metrics of one answer (blocking database work in the pool)."""
    record = answer_record(
        answer, endpoint=endpoint, question=question, history=history, filters=filters
    )
    record.interrupted = interrupted
    await run_in_threadpool(
        service.audit.append_answer, record, trace_id=answer.trace_id, key_id=principal.key_id
    )
    service.metrics.observe_answer(answer, endpoint)


def _final_answer(events: Iterator[StreamEvent]) -> Answer | None:
    """Run an abandoned stream to its end, for the record of what was (partly) shown."""
    for event in events:
        if event.kind == "answer":
            return event.answer
    return None


async def answer(
    service: Service,
    principal: Principal,
    question: str,
    history: list[Turn],
    filters: Filters | None,
    composer: str | None,
    endpoint: str,
) -> Answer:
    result = await run_in_threadpool(service.assistant.ask, question, history, filters, composer)
    async with audit_required(result.trace_id, NO_ANSWER):
        await _record(service, result, principal, endpoint, question, history, filters)
    return result


async def answer_stream(
    service: Service,
    principal: Principal,
    question: str,
    history: list[Turn],
    filters: Filters | None,
    composer: str | None,
    endpoint: str,
) -> AsyncGenerator[StreamEvent, None]:
    """The assistant's stream events; the first is computed before this returns, so an
    outage (Chroma down, no index) is still an HTTP error and not a broken stream."""
    events: Iterator[StreamEvent] = service.assistant.stream(question, history, filters, composer)
    first = await run_in_threadpool(next, events, None)

    async def generate() -> AsyncGenerator[StreamEvent, None]:
        event = first
        finished = False
        try:
            while event is not None:
                if event.kind == "answer" and event.answer is not None:
                    finished = True
                    async with audit_required(event.answer.trace_id, NO_ANSWER):
                        await _record(service, event.answer, principal, endpoint, question,
                                      history, filters)  # fmt: skip
                    yield event
                else:
                    yield event
                event = await run_in_threadpool(next, events, None)
        finally:
            # Also when the client has gone (cancelled): text was shown, so it is recorded.
            with anyio.CancelScope(shield=True):
                if not finished:
                    await _record_abandoned(events)
                close = getattr(events, "close", None)
                if close is not None:
                    await run_in_threadpool(close)

    async def _record_abandoned(rest: Iterator[StreamEvent]) -> None:
        try:
            final = await run_in_threadpool(_final_answer, rest)
            if final is not None:
                await _record(service, final, principal, endpoint, question, history, filters,
                              interrupted=True)  # fmt: skip
        except Exception:
            log.exception("audit record of an interrupted stream not written")

    return generate()
