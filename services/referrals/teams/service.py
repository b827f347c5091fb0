"""The team register. Never commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.teams.models import Team, TeamIn
from shared.auth import Principal
from shared.codes import ServiceType
from shared.errors import Conflict, Unprocessable
from shared.http import PageParams


async def create_team(session: AsyncSession, data: TeamIn, areas: list[str], principal: Principal) -> Team:
    if data.area not in areas:
        raise Unprocessable(
            f"Unknown area; choose one of: {', '.join(areas)}.", field="area", code="unknown_area"
        )
    if await session.get(Team, data.id) is not None:
        raise Conflict("A team with this code is already registered.", code="team_exists")
    team = Team(
        id=data.id,
        name=data.name,
        area=data.area,
        service_type=data.service_type.value,
        created_by=principal.subject,
    )
    session.add(team)
    try:
        await session.flush()
    except IntegrityError:
        # Registered by a request that committed after the look-up above (the code is the only key):
        # the same answer as if it had committed before. The unit of work rolls back.
        raise Conflict("A team with this code is already registered.", code="team_exists") from None
    return team


async def team_for(session: AsyncSession, team_id: str, field: str) -> Team:
    """A registered team, or 422 naming the field that referred to it."""
    team = await session.get(Team, team_id)
    if team is None:
        raise Unprocessable("No registered team has this code.", field=field, code="unknown_team")
    return team


async def list_teams(
    session: AsyncSession, page: PageParams, area: str | None, service_type: ServiceType | None
) -> tuple[list[Team], int]:
    conditions = []
    if area is not None:
        conditions.append(col(Team.area) == area)
    if service_type is not None:
        conditions.append(col(Team.service_type) == service_type.value)
    total = (await session.execute(select(func.count()).select_from(Team).where(*conditions))).scalar_one()
    rows = (
        (
            await session.execute(
                select(Team).where(*conditions).order_by(col(Team.id)).limit(page.limit).offset(page.offset)
            )
        )
        .scalars()
        .all()
    )
    return list(rows), total
