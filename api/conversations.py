"""Saved conversations, per owner (api/owner.py), so the chat page survives a reload:

    GET    /v1/conversations                 the owner's conversations, newest first
    GET    /v1/conversations/{id}            one, with its messages
    PUT    /v1/conversations/{id}            create or replace it whole
    POST   /v1/conversations/{id}/messages   append messages (created when new)
    DELETE /v1/conversations/{id}            delete it for good

Another owner's conversation is 404, like one that never existed, so ids leak nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.conversation_schemas import (
    Conversation,
    ConversationAppend,
    ConversationList,
    ConversationPut,
    ConversationSummary,
    ItemId,
)
from api.conversation_store import TooLarge, TooManyMessages
from api.errors import ERROR_RESPONSES, ApiError, error_doc
from api.owner import Owner
from api.state import ServiceDep

router = APIRouter(tags=["saved work"])

T = TypeVar("T")
NOT_FOUND = {404: error_doc("No such conversation for this browser session or API key.")}
CREATED = {201: {"model": ConversationSummary, "description": "Created."}}
LIMITS = {
    413: error_doc("The conversation would exceed EMN_CONVERSATION_MAX_BYTES."),
    422: error_doc("Invalid request, or more than EMN_CONVERSATION_MAX_MESSAGES messages."),
}


def not_found(what: str, item_id: str) -> ApiError:
    return ApiError(
        404,
        f"{what}_not_found",
        f"No {what} with id {item_id!r} for this browser session or API key (deleted, "
        "purged after the retention period, or never saved here).",
    )


async def within_limits(call: Callable[..., T], *args: Any) -> T:
    """Run a store call in the thread pool; its limit errors become clear API errors."""
    try:
        return await run_in_threadpool(call, *args)
    except TooManyMessages as exc:
        raise ApiError(422, "conversation_too_long", str(exc)) from exc
    except TooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from exc


@router.get(
    "/v1/conversations",
    response_model=ConversationList,
    summary="List your saved conversations",
    description="Titles and times, newest first (not the messages).",
    responses=ERROR_RESPONSES,
)
async def list_conversations(owner: Owner, service: ServiceDep) -> JSONResponse:
    items = await run_in_threadpool(service.conversations.list_conversations, owner)
    return JSONResponse(ConversationList.model_validate({"conversations": items}).model_dump())


@router.get(
    "/v1/conversations/{conversation_id}",
    response_model=Conversation,
    summary="One saved conversation",
    responses=ERROR_RESPONSES | NOT_FOUND,
)
async def get_conversation(
    conversation_id: ItemId, owner: Owner, service: ServiceDep
) -> JSONResponse:
    found = await run_in_threadpool(service.conversations.get_conversation, owner, conversation_id)
    if found is None:
        raise not_found("conversation", conversation_id)
    return JSONResponse(Conversation.model_validate(found).model_dump())


@router.put(
    "/v1/conversations/{conversation_id}",
    response_model=ConversationSummary,
    summary="Save a conversation whole",
    description="Creates it (201) or replaces its messages and title (200).",
    responses=ERROR_RESPONSES | CREATED | LIMITS,
)
async def put_conversation(
    conversation_id: ItemId, body: ConversationPut, owner: Owner, service: ServiceDep
) -> JSONResponse:
    messages = [m.model_dump(exclude_none=True) for m in body.messages]
    summary, created = await within_limits(
        service.conversations.put_conversation, owner, conversation_id, body.title, messages
    )
    return JSONResponse(summary, status_code=201 if created else 200)


@router.post(
    "/v1/conversations/{conversation_id}/messages",
    response_model=ConversationSummary,
    summary="Add messages to a conversation",
    description="Appends (usually a question and its answer record) as soon as the answer "
    "arrives; creates the conversation (201) when it does not exist yet.",
    responses=ERROR_RESPONSES | CREATED | LIMITS,
)
async def append_messages(
    conversation_id: ItemId, body: ConversationAppend, owner: Owner, service: ServiceDep
) -> JSONResponse:
    messages = [m.model_dump(exclude_none=True) for m in body.messages]
    summary, created = await within_limits(
        service.conversations.append_messages, owner, conversation_id, messages, body.title
    )
    return JSONResponse(summary, status_code=201 if created else 200)


@router.delete(
    "/v1/conversations/{conversation_id}",
    status_code=204,
    summary="Delete a conversation",
    description="For good: the row is deleted, its bytes zeroed in the database file and "
    "the write-ahead log checkpointed.",
    responses=ERROR_RESPONSES | NOT_FOUND,
)
async def delete_conversation(
    conversation_id: ItemId, owner: Owner, service: ServiceDep
) -> Response:
    if not await run_in_threadpool(
        service.conversations.delete_conversation, owner, conversation_id
    ):
        raise not_found("conversation", conversation_id)
    return Response(status_code=204)
