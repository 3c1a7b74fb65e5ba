"""Transparency (AI Act Art. 13 and 50): the instructions for use, and a check of the
machine-readable marking.

    GET  /v1/model-card          docs/model-card.md (text/markdown)
    POST /v1/provenance/verify   is this answer (or inform draft) JSON unaltered?
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from starlette.concurrency import run_in_threadpool

from api.auth import AskCaller
from api.errors import ERROR_RESPONSES, ApiError
from api.schemas import ProvenanceCheck
from api.state import ServiceDep
from rag.inform import verify_draft
from rag.provenance import verify_answer

router = APIRouter(tags=["transparency"])

MARKDOWN = "text/markdown; charset=utf-8"


@router.get(
    "/v1/model-card",
    summary="Model card and instructions for use",
    description="Intended purpose, excluded uses, corpus and cut-off, languages, how to read "
    "an answer, known limits and the accuracy of the latest evaluation run (AI Act Art. 13).",
    response_class=Response,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}},
    },
)
async def model_card(_: AskCaller, service: ServiceDep) -> Response:
    path = service.settings.model_card_file
    try:
        text = await run_in_threadpool(path.read_text, encoding="utf-8")
    except OSError as exc:
        raise ApiError(
            503, "model_card_unavailable", "The model card is not available on this server."
        ) from exc
    return Response(text, media_type=MARKDOWN)


ANSWER_EXAMPLE = {
    "answer": "The maximum Union contribution ... is EUR 28 200 000 [1].",
    "behaviour": "answered",
    "trace_id": "60507ab03f87452f9cf3a0c69e531355",
    "citations": [{"marker": 1, "chunk_id": "...", "doc_id": "...", "quote": "..."}],
    "provenance": {"signature": "...", "key_id": "...", "answer_sha256": "..."},
}


@router.post(
    "/v1/provenance/verify",
    response_model=ProvenanceCheck,
    summary="Check an answer's provenance marking",
    description="Send an answer JSON exactly as /v1/ask returned it (or an inform draft as "
    "/v1/inform returned it): `valid` is true when it carries this service's signature and "
    "neither its text, its citations, its trace id nor its behaviour was changed. Any other "
    "JSON object is answered `valid: false` with the reason.",
    responses=ERROR_RESPONSES,
)
async def verify_provenance(
    body: Annotated[dict[str, Any], Body(examples=[ANSWER_EXAMPLE])],
    _: AskCaller,
    service: ServiceDep,
) -> ProvenanceCheck:
    key = service.assistant.provenance_key
    is_draft = "sections" in body and "answer" not in body
    try:
        valid, reason = verify_draft(body, key) if is_draft else verify_answer(body, key)
    except Exception:  # any shape a client may send: not a valid signed answer
        valid, reason = False, "malformed answer JSON"
    return ProvenanceCheck(valid=valid, reason=reason, kind="inform" if is_draft else "answer")
