"""HTTP: the team register."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.referrals.common import QUERY_TEXT_PATTERN, Manager, Staff, settings_of
from services.referrals.teams import service
from services.referrals.teams.models import TeamIn, TeamOut
from shared.codes import ServiceType
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.http import Page, PageParams, page_params
from shared.idempotency import IdempotencyDep

router = APIRouter(tags=["teams"], responses=problem_responses(401, 403, 429))


@router.post(
    "/teams",
    status_code=201,
    response_model=TeamOut,
    summary="Register a team (managers and admins)",
    responses=problem_responses(409, 422),
)
async def create_team(
    request: Request, data: TeamIn, principal: Manager, session: SessionDep, idem: IdempotencyDep
) -> object:
    if (replay := await idem.replay(session, principal)) is not None:
        return replay
    team = await service.create_team(session, data, settings_of(request).areas, principal)
    body = TeamOut.of(team)
    await idem.remember(session, 201, body)
    return body


@router.get(
    "/teams", response_model=Page[TeamOut], summary="The team register", responses=problem_responses(422)
)
async def list_teams(
    principal: Staff,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    area: Annotated[
        str | None, Query(max_length=200, pattern=QUERY_TEXT_PATTERN, description="Only teams in this area.")
    ] = None,
    service_type: Annotated[ServiceType | None, Query(description="Only teams of this type.")] = None,
) -> Page[TeamOut]:
    rows, total = await service.list_teams(session, page, area, service_type)
    return Page[TeamOut](
        items=[TeamOut.of(t) for t in rows], total=total, limit=page.limit, offset=page.offset
    )
