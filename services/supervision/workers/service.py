"""Newly-qualified register lookups and changes."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.supervision.events import NewlyQualifiedRegisterSet, register_stream
from services.supervision.workers.models import Worker
from shared.events.log import EventLog, NewEvent
from shared.observability import request_id_var
from shared.policy import newly_qualified_on


async def supervisee_newly_qualified(session: AsyncSession, worker_id: str | None, on: date) -> bool:
    if worker_id is None:
        return False
    worker = await session.get(Worker, worker_id)
    return worker is not None and newly_qualified_on(worker.newly_qualified_until, on)


async def newly_qualified_register(session: AsyncSession) -> dict[str, date]:
    """Every worker with a newly-qualified end date (a small register, read whole for due lists)."""
    rows = await session.execute(
        select(col(Worker.worker_id), col(Worker.newly_qualified_until)).where(
            col(Worker.newly_qualified_until).is_not(None)
        )
    )
    return {w: d for w, d in rows if d is not None}


async def publish_entry(session: AsyncSession, event_log: EventLog, worker: Worker, actor: str) -> None:
    """Append the entry as it now is to the worker's register stream, in the register write's
    transaction: reporting learns the register only from these. The last write before commit (the
    append lock is held to commit); the entry's row lock serialises writers of one stream."""
    stream = register_stream(worker.worker_id)
    version = await event_log.current_version(session, stream)
    payload = NewlyQualifiedRegisterSet(
        worker_id=worker.worker_id, newly_qualified_until=worker.newly_qualified_until
    )
    await event_log.append(
        session,
        stream,
        [NewEvent(payload, worker.updated_at)],
        expected_version=version,
        actor=actor,
        correlation_id=request_id_var.get(),
    )
