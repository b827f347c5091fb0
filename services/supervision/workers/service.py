"""Newly-qualified register lookups and changes."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.supervision.workers.models import Worker


async def newly_qualified_on(session: AsyncSession, worker_id: str | None, on: date) -> bool:
    if worker_id is None:
        return False
    worker = await session.get(Worker, worker_id)
    return bool(worker and worker.newly_qualified_until and worker.newly_qualified_until >= on)


async def newly_qualified_register(session: AsyncSession) -> dict[str, date]:
    """Every worker with a newly-qualified end date (a small register, read whole for due lists)."""
    rows = await session.execute(
        select(col(Worker.worker_id), col(Worker.newly_qualified_until)).where(
            col(Worker.newly_qualified_until).is_not(None)
        )
    )
    return {w: d for w, d in rows if d is not None}
