"""Newly-qualified register lookups and changes."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.supervision.db import platform
from services.supervision.events import NewlyQualifiedRegisterSet, register_stream
from services.supervision.workers.models import Worker
from shared.events.log import EventLog, NewEvent
from shared.events.verify import HeadBatches, rows_in_batches
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


async def register_heads(session: AsyncSession, stream: uuid.UUID | None, batch: int = 1000) -> HeadBatches:
    """Each register entry's stream version as its row gives it, for verify: the version of the
    stream's event published at the row's `updated_at`, every change's event being published at it.
    The row's own `version` cannot serve: the migration published the entries already on the register
    at version 1 whatever their row's. No such event (the stream's last events deleted) gives the
    version after the log's last, so that verify reports the stream cut short. The rows are read before
    the log, so a change committed meanwhile leaves the event sought in the log, not last."""
    events = platform.events
    assert events is not None
    entries = select(col(Worker.worker_id), col(Worker.updated_at))
    async for rows in rows_in_batches(session, entries, col(Worker.worker_id), batch):
        published_at = {register_stream(w): at for w, at in rows}
        if stream is not None:
            published_at = {s: at for s, at in published_at.items() if s == stream}
        if not published_at:
            continue
        logged = select(events.c.journey_id, events.c.stream_version, events.c.occurred_at).where(
            events.c.journey_id.in_(published_at)
        )
        last: dict[uuid.UUID, int] = defaultdict(int)
        at_row: dict[uuid.UUID, int] = {}
        for s, version, occurred_at in (await session.execute(logged)).all():
            last[s] = max(last[s], version)
            if occurred_at == published_at[s]:
                at_row[s] = max(at_row.get(s, 0), version)
        yield [(s, at_row.get(s, last[s] + 1)) for s in published_at]
