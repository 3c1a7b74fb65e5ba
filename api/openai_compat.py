"""OpenAI-compatible chat completions, so any OpenAI client library or chat front end can use
the assistant: `POST /v1/chat/completions` (non-streaming, and streaming as
`chat.completion.chunk` events ending with `data: [DONE]`) and `GET /v1/models`.

The last user message is the question and earlier user/assistant messages are the history
(system prompts are ignored: the assistant's behaviour is not configurable by the caller).
The model name selects the composer (`emn-llm` without a reachable model: 400
`model_unavailable`, never a silent extractive answer). Citations travel twice: as footnotes
appended to the message content ("[1] Title — reference, section, p. N"), for front ends that
only show text, and as the extra top-level fields `citations` and `emn_answer` (behaviour,
trace id, disclosure, versions), for clients that read JSON.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api import answer_service
from api.auth import AskCaller
from api.errors import ERROR_RESPONSES, ApiError, error_body, error_doc, error_for
from api.filters import check_filters
from api.model_check import require_model
from api.schemas import MAX_HISTORY_ITEMS
from api.sse import EventStreamResponse, sse_event, sse_response_doc
from api.state import ServiceDep
from common.hygiene import CleanStr
from index.schema import Filters
from rag.answer import Answer, Citation, Turn
from rag.guards import MAX_QUESTION_CHARS

router = APIRouter(tags=["openai-compatible"])

MODELS: dict[str, tuple[str, str]] = {
    "emn-extractive": (
        "extractive",
        "Quotes the most relevant sentences of the sources, each cited (no generative model).",
    ),
    "emn-llm": (
        "llm",
        "Writes with the configured chat model from numbered sources; every sentence is "
        "verified against its citation. 400 model_unavailable when no model answers; falls "
        "back to extractive (and says so) when the model fails on a request.",
    ),
}
_FOOTNOTES = re.compile(r"\n\n\[1\] .*\Z", re.DOTALL)


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: CleanStr
    text: CleanStr | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: CleanStr | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "\n".join(p.text or "" for p in self.content if p.type == "text")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    """The OpenAI request; sampling parameters (temperature, max_tokens, ...) are accepted
    and ignored. `filters` is an extension (pass it with the client's `extra_body`)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "emn-extractive",
                    "messages": [
                        {
                            "role": "user",
                            "content": "What is the maximum Union contribution for the EMN "
                            "work programme 2026-2027?",
                        }
                    ],
                },
                {
                    "model": "emn-extractive",
                    "stream": True,
                    "messages": [{"role": "user", "content": "What is the EMN?"}],
                },
            ]
        },
    )

    model: CleanStr = Field(
        examples=["emn-extractive"],
        description="emn-extractive or emn-llm (another name: 404 model_not_found).",
        json_schema_extra={"enum": list(MODELS)},
    )
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_HISTORY_ITEMS + 10)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    filters: Filters | None = Field(default=None, description="EMN extension: retrieval filters.")


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class EmnAnswerInfo(BaseModel):
    trace_id: str
    behaviour: str
    reason: str
    confidence: float
    ai_generated: bool
    disclosure: str
    versions: dict[str, Any]
    timings: dict[str, float]
    fallback: bool
    language: str = "en"
    language_note: str = ""


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChoice]
    usage: Usage
    citations: list[Citation] = Field(description="EMN extension: the cited passages.")
    emn_answer: EmnAnswerInfo = Field(description="EMN extension: behaviour, trace id, ...")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "emn"
    description: str = ""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def footnotes(citations: list[Citation]) -> str:
    """'\\n\\n[1] Title — reference, section, p. N' lines (with the URL when absolute)."""
    lines = []
    for c in citations:
        where = [part for part in (c.reference, c.section_path) if part]
        if c.page:
            where.append(f"p. {c.page}")
        line = f"[{c.marker}] {c.title}" + (f" — {', '.join(where)}" if where else "")
        if c.url.startswith(("http://", "https://")):
            line += f" <{c.url}>"
        lines.append(line)
    return "\n\n" + "\n".join(lines) if lines else ""


def strip_footnotes(text: str) -> str:
    """An earlier answer sent back as history, without its footnote block."""
    return _FOOTNOTES.sub("", text)


def conversation(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """(question, history): the last user message, and the user/assistant turns before it."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last_user is None:
        raise ApiError(422, "no_user_message", "The messages contain no user message.")
    question = messages[last_user].text().strip()
    if not question:
        raise ApiError(422, "empty_question", "The question (the last user message) is empty.")
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiError(
            422,
            "question_too_long",
            f"The question is longer than {MAX_QUESTION_CHARS} characters.",
        )
    history = []
    for message in messages[:last_user]:
        if message.role in ("user", "assistant"):
            text = message.text()
            if message.role == "assistant":
                text = strip_footnotes(text)
            if text.strip():
                history.append(Turn(role=message.role, content=text))
    return question, history[-MAX_HISTORY_ITEMS:]


def composer_for(model: str) -> str:
    try:
        return MODELS[model][0]
    except KeyError:
        raise ApiError(
            404,
            "model_not_found",
            f"Unknown model {model!r}; available: {', '.join(MODELS)}.",
        ) from None


def count_words(text: str) -> int:
    """Usage is reported in words: an approximation, there is no tokenizer of record."""
    return len(text.split())


def emn_info(answer: Answer) -> dict[str, Any]:
    return EmnAnswerInfo(
        trace_id=answer.trace_id,
        behaviour=answer.behaviour,
        reason=answer.reason,
        confidence=answer.confidence,
        ai_generated=answer.ai_generated,
        disclosure=answer.disclosure,
        versions=answer.versions.model_dump(mode="json"),
        timings=answer.timings,
        fallback=answer.fallback,
        language=answer.language,
        language_note=answer.language_note,
    ).model_dump(mode="json")


def usage(question: str, history: list[Turn], content: str) -> dict[str, int]:
    prompt = count_words(question) + sum(count_words(t.content) for t in history)
    completion = count_words(content)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


CHUNK_EXAMPLE = (
    'data: {"id": "chatcmpl-...", "object": "chat.completion.chunk", "choices": [{"index": 0, '
    '"delta": {"content": "The maximum ... [1]. "}, "finish_reason": null}], ...}\n\n'
    "data: [DONE]\n\n"
)


@router.get(
    "/v1/models",
    response_model=ModelList,
    summary="Models (OpenAI-compatible)",
    description="The model name chooses the composer.",
    responses=ERROR_RESPONSES,
)
async def list_models(_: AskCaller, service: ServiceDep) -> ModelList:
    created = int(service.started_at)
    return ModelList(
        data=[ModelCard(id=name, created=created, description=d) for name, (_, d) in MODELS.items()]
    )


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    summary="Chat completions (OpenAI-compatible)",
    description="The last user message is the question, earlier messages the history. The "
    "content carries the answer with [n] markers and footnotes; `citations` and `emn_answer` "
    "carry the structured record. `stream: true` sends `chat.completion.chunk` events ending "
    "with `data: [DONE]`; the final chunk carries `citations` and `emn_answer`.",
    responses={
        **ERROR_RESPONSES,
        400: error_doc(
            "Malformed JSON, or emn-llm without a reachable generative model "
            "(`model_unavailable`: use emn-extractive)."
        ),
        404: error_doc("Unknown model."),
        200: sse_response_doc("The completion.", CHUNK_EXAMPLE),
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    principal: AskCaller,
    service: ServiceDep,
) -> JSONResponse | EventStreamResponse:
    composer = composer_for(body.model)
    question, history = conversation(body.messages)
    await check_filters(service, body.filters)
    await require_model(service, composer, "emn-llm")
    created = int(time.time())
    manifest = service.assistant.index.manifest
    fingerprint = f"emn-{manifest.manifest_hash}" if manifest is not None else "emn"
    if not body.stream:
        answer = await answer_service.answer(
            service, principal, question, history, body.filters, composer, "chat_completions"
        )
        content = answer.answer + footnotes(answer.citations)
        result = {
            "id": f"chatcmpl-{answer.trace_id}",
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "system_fingerprint": fingerprint,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage(question, history, content),
            "citations": [c.model_dump(mode="json") for c in answer.citations],
            "emn_answer": emn_info(answer),
        }
        return JSONResponse(result)

    events = await answer_service.answer_stream(
        service, principal, question, history, body.filters, composer, "chat_stream"
    )
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    trace_id = request.state.trace_id
    completion_id = f"chatcmpl-{trace_id}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "system_fingerprint": fingerprint,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return sse_event(json.dumps(data, ensure_ascii=False))

    async def frames() -> AsyncIterator[bytes]:
        sent = ""
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for event in events:
                if event.kind == "delta":
                    sent += event.text
                    yield chunk({"content": event.text})
                    continue
                answer = event.answer
                assert answer is not None
                notes = footnotes(answer.citations)
                if notes:
                    sent += notes
                    yield chunk({"content": notes})
                yield chunk(
                    {},
                    "stop",
                    citations=[c.model_dump(mode="json") for c in answer.citations],
                    emn_answer=emn_info(answer),
                )
                if include_usage:
                    data = {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": body.model,
                        "choices": [],
                        "usage": usage(question, history, sent),
                    }
                    yield sse_event(json.dumps(data))
        except Exception as exc:
            request.app.state.failures.failed("chat stream", exc, trace_id)
            err = error_for(exc)
            yield sse_event(error_body(err.code, err.message, trace_id))
        finally:
            await events.aclose()
        yield sse_event("[DONE]")

    return EventStreamResponse(frames())
