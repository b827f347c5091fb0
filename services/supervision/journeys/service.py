"""Reading the journey projection from the supervision side."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.supervision.journeys.models import Journey


async def lock_journey(session: AsyncSession, journey_id: uuid.UUID) -> Journey | None:
    """The journey row, locked until commit so the consumer cannot close or move it under a write.

    PostgreSQL: SELECT ... FOR UPDATE (the consumer's UPDATE waits for us, or we wait for it and then
    read its committed state). SQLite drops FOR UPDATE; its writers are serialised by BEGIN IMMEDIATE.
    """
    query = (
        select(Journey)
        .where(col(Journey.journey_id) == journey_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def get_journey(session: AsyncSession, journey_id: uuid.UUID) -> Journey | None:
    return await session.get(Journey, journey_id)
