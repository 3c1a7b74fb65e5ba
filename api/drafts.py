"""Saved inform drafts, per owner (api/owner.py): the draft as /v1/inform returned it and the
author's edits, so an edit survives a mode switch, a reload and a new tab.

    GET    /v1/drafts              the owner's drafts, newest first
    GET    /v1/drafts/{id}         one, with the draft and the edits
    PUT    /v1/drafts/{id}         create or replace it (draft and edits)
    PUT    /v1/drafts/{id}/edits   replace only the edits (small, on every change)
    DELETE /v1/drafts/{id}         delete it for good
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.conversation_schemas import Draft, DraftEdits, DraftList, DraftPut, ItemId
from api.conversations import not_found, within_limits
from api.errors import ERROR_RESPONSES, error_doc
from api.owner import Owner
from api.state import ServiceDep

router = APIRouter(tags=["saved work"])

NOT_FOUND = {404: error_doc("No such draft for this browser session or API key.")}
TOO_LARGE = {413: error_doc("The draft would exceed EMN_CONVERSATION_MAX_BYTES.")}


@router.get(
    "/v1/drafts",
    response_model=DraftList,
    summary="List your saved inform drafts",
    description="Topics, titles and times, newest first.",
    responses=ERROR_RESPONSES,
)
async def list_drafts(owner: Owner, service: ServiceDep) -> JSONResponse:
    items = await run_in_threadpool(service.conversations.list_drafts, owner)
    return JSONResponse(DraftList.model_validate({"drafts": items}).model_dump())


@router.get(
    "/v1/drafts/{draft_id}",
    response_model=Draft,
    summary="One saved inform draft",
    responses=ERROR_RESPONSES | NOT_FOUND,
)
async def get_draft(draft_id: ItemId, owner: Owner, service: ServiceDep) -> JSONResponse:
    found = await run_in_threadpool(service.conversations.get_draft, owner, draft_id)
    if found is None:
        raise not_found("draft", draft_id)
    return JSONResponse(Draft.model_validate(found).model_dump())


@router.put(
    "/v1/drafts/{draft_id}",
    response_model=Draft,
    summary="Save an inform draft",
    description="Creates it (201) or replaces the draft and its edits (200).",
    responses=ERROR_RESPONSES | {201: {"model": Draft, "description": "Created."}} | TOO_LARGE,
)
async def put_draft(
    draft_id: ItemId, body: DraftPut, owner: Owner, service: ServiceDep
) -> JSONResponse:
    stored, created = await within_limits(
        service.conversations.put_draft,
        owner,
        draft_id,
        body.topic,
        body.draft,
        body.edits.model_dump(),
    )
    body_out = Draft.model_validate(stored).model_dump()
    return JSONResponse(body_out, status_code=201 if created else 200)


@router.put(
    "/v1/drafts/{draft_id}/edits",
    response_model=Draft,
    summary="Save the edits of an inform draft",
    description="Replaces the title and section edits of a saved draft.",
    responses=ERROR_RESPONSES | NOT_FOUND | TOO_LARGE,
)
async def put_draft_edits(
    draft_id: ItemId, body: DraftEdits, owner: Owner, service: ServiceDep
) -> JSONResponse:
    stored = await within_limits(
        service.conversations.set_draft_edits, owner, draft_id, body.model_dump()
    )
    if stored is None:
        raise not_found("draft", draft_id)
    return JSONResponse(Draft.model_validate(stored).model_dump())


@router.delete(
    "/v1/drafts/{draft_id}",
    status_code=204,
    summary="Delete an inform draft",
    description="For good, as for conversations.",
    responses=ERROR_RESPONSES | NOT_FOUND,
)
async def delete_draft(draft_id: ItemId, owner: Owner, service: ServiceDep) -> Response:
    if not await run_in_threadpool(service.conversations.delete_draft, owner, draft_id):
        raise not_found("draft", draft_id)
    return Response(status_code=204)
