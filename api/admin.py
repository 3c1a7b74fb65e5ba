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
    "again. With a SQLite service database the switch is a file in the data folder, in force "
    "from the next request in every worker of this host, and EMN_GENERATION sets it when the "
    "server starts. With PostgreSQL it is a row in the database, in force at once on the "
    "worker that answers this request and within EMN_SHARED_STATE_REFRESH_S (0.5 s) on every "
    "worker of every host; EMN_GENERATION only sets it when the database has none yet.",
    responses=ERROR_RESPONSES,
)
async def set_generation(
    body: GenerationSwitch,
    _: AdminCaller,
    service: ServiceDep,
) -> GenerationSwitch:
    return GenerationSwitch(enabled=service.set_generation(body.enabled))
