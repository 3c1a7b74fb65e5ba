"""Admin routes: the generation kill switch (Art. 14 human oversight)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import AdminCaller
from api.errors import ERROR_RESPONSES
from api.schemas import GenerationSwitch
from api.state import ServiceDep

router = APIRouter(tags=["admin"])


@router.get(
    "/v1/admin/generation",
    response_model=GenerationSwitch,
    summary="Is the generative model in use?",
    responses=ERROR_RESPONSES,
)
async def get_generation(_: AdminCaller, service: ServiceDep) -> GenerationSwitch:
    return GenerationSwitch(enabled=service.assistant.generation)


@router.put(
    "/v1/admin/generation",
    response_model=GenerationSwitch,
    summary="Turn the generative model on or off",
    description="Off: every answer is search-and-quote (extractive) until it is turned on "
    "again, effective from the next request in every worker process of this host (the switch "
    "is a file in the data folder; each host, or each replica with its own data folder, has "
    "its own). EMN_GENERATION sets the value when the server starts.",
    responses=ERROR_RESPONSES,
)
async def set_generation(
    body: GenerationSwitch,
    _: AdminCaller,
    service: ServiceDep,
) -> GenerationSwitch:
    return GenerationSwitch(enabled=service.set_generation(body.enabled))
