"""Tamper evidence: recompute each journey's hash chain and report the first broken link."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Row, Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from shared.events.log import envelope_hash


class BrokenLink(BaseModel):
    """The first event at which a journey's log stops being what was written."""

    journey_id: uuid.UUID = Field(description="The stream (journey) where the chain breaks.")
    stream_version: int = Field(description="The event's version within that stream.")
    position: int | None = Field(
        description="The event's position in the log; null when the event is missing from the log, "
        "so that it has no position (the last events of a journey deleted)."
    )
    reason: str = Field(description="What is wrong there: a version missing, a hash that differs, ...")


# What a producing service's own records say each of its streams is at: (stream id, version) pairs in
# batches, for one journey or all. A stream whose last events were deleted still links up, so the hash
# chain cannot show it; the state written in the same transactions as those events can.
HeadBatches = AsyncIterator[Sequence[tuple[uuid.UUID, int]]]
StreamHeads = Callable[[AsyncSession, uuid.UUID | None], HeadBatches]


async def rows_in_batches(
    session: AsyncSession,
    query: Select[*tuple[Any, ...]],
    key: ColumnElement[Any] | Mapped[Any],
    batch: int = 1000,
) -> AsyncIterator[Sequence[Row[*tuple[Any, ...]]]]:
    """A query whose first column is `key` read in batches by key, each after the last one read, so
    that memory stays flat however many journeys (or entries) there are."""
    after: Any = None
    while True:
        page = query.order_by(key).limit(batch)
        if after is not None:
            page = page.where(key > after)
        rows = (await session.execute(page)).all()
        if rows:
            yield rows
        if len(rows) < batch:
            return
        after = rows[-1][0]


async def heads_in_batches(
    session: AsyncSession,
    query: Select[uuid.UUID, int],
    stream: ColumnElement[uuid.UUID] | Mapped[uuid.UUID],
    batch: int = 1000,
) -> AsyncIterator[list[tuple[uuid.UUID, int]]]:
    """A service's (stream, version) query read in batches by stream (`rows_in_batches`)."""
    async for rows in rows_in_batches(session, query, stream, batch):
        yield [(s, int(v)) for s, v in rows]


class VerifyReport(BaseModel):
    ok: bool = Field(description="True when every event checked is intact and in order.")
    journeys_checked: int = Field(description="Streams (journeys) checked.")
    events_checked: int = Field(description="Events checked.")
    heads_checked: int = Field(
        0,
        description="Streams whose last version the service's own records give, checked against the "
        "log's last event of each (a journey whose last events were deleted); 0 when the chain broke first.",
    )
    first_broken: BrokenLink | None = Field(None, description="The first broken link found; null when none.")
    unreadable: str | None = Field(
        None,
        description="Set when a stored event cannot even be read back (a value its column refuses, "
        "written around the service, as SQLite allows): where it is and why. The log is not intact.",
    )


async def verify_log(
    session: AsyncSession,
    table: Table,
    journey_id: uuid.UUID | None = None,
    batch: int = 5000,
    heads: StreamHeads | None = None,
) -> VerifyReport:
    """Streams the log in (journey, version) order so memory stays flat on large logs; then, given the
    service's `heads`, checks that no stream ends before the version its records give."""
    t = table
    query = select(t).order_by(t.c.journey_id, t.c.stream_version)
    if journey_id is not None:
        query = query.where(t.c.journey_id == journey_id)
    current: uuid.UUID | None = None
    prev_hash: str | None = None
    prev_position = 0
    expected_version = 0
    journeys = events = 0
    first: BrokenLink | None = None
    unreadable: str | None = None
    result = await session.stream(query.execution_options(yield_per=batch))
    try:
        async for row in result:
            r: dict[str, Any] = dict(row._mapping)
            if r["journey_id"] != current:
                current, prev_hash, prev_position, expected_version = r["journey_id"], None, 0, 0
                journeys += 1
            events += 1
            expected_version += 1
            reason = None
            if r["stream_version"] != expected_version:
                reason = (
                    f"version {r['stream_version']} where {expected_version} was expected (missing event)"
                )
            elif r["prev_hash"] != prev_hash:
                reason = "prev_hash does not match the previous event"
            elif envelope_hash(r, r["prev_hash"]) != r["hash"]:
                reason = "the event's content does not match its hash (altered)"
            elif r["position"] <= prev_position:
                # The hash leaves the position out (the database assigns it), but a journey's events
                # are appended, and so numbered, in version order: the feed would serve them reordered.
                reason = (
                    f"position {r['position']} is not after {prev_position}, the previous event's "
                    "(out of order in the feed)"
                )
            if reason:
                first = BrokenLink(
                    journey_id=r["journey_id"],
                    stream_version=r["stream_version"],
                    position=r["position"],
                    reason=reason,
                )
                break
            prev_hash, prev_position = r["hash"], r["position"]
    except (ValueError, TypeError) as exc:
        # A row whose values cannot be turned back into an event's types (invalid JSON, a time or an id
        # that is not one): it was written around the service. Reported, not a crash of the check.
        where = "first event" if current is None else f"event after version {expected_version} of {current}"
        unreadable = f"the {where} cannot be read back: {type(exc).__name__}: {exc}"[:500]
    finally:
        await result.close()
    heads_checked = 0
    if heads is not None and first is None and unreadable is None:
        first, heads_checked = await _first_stream_cut_short(session, table, heads(session, journey_id))
    return VerifyReport(
        ok=first is None and unreadable is None,
        journeys_checked=journeys,
        events_checked=events,
        heads_checked=heads_checked,
        first_broken=first,
        unreadable=unreadable,
    )


async def _first_stream_cut_short(
    session: AsyncSession, table: Table, heads: HeadBatches
) -> tuple[BrokenLink | None, int]:
    """The first stream whose log ends before the version the service's records give, and how many
    streams were checked. The records are read before the log, and a write commits both together, so
    a log found further on is a write made meanwhile, not a fault: only a shorter log is reported."""
    t = table
    checked = 0
    async for chunk in heads:
        ids = [stream for stream, _ in chunk]
        query = select(t.c.journey_id, func.max(t.c.stream_version)).where(t.c.journey_id.in_(ids))
        last: dict[uuid.UUID, int] = dict((await session.execute(query.group_by(t.c.journey_id))).all())
        for stream, version in chunk:
            checked += 1
            held = last.get(stream, 0)
            if held < version:
                return (
                    BrokenLink(
                        journey_id=stream,
                        stream_version=held + 1,
                        position=None,
                        reason=f"the log ends at version {held} but the service's records have the "
                        f"stream at version {version} (its last events missing)",
                    ),
                    checked,
                )
    return None, checked


def journey_not_held(journey_id: uuid.UUID, reports: Mapping[str, VerifyReport]) -> str | None:
    """Why a check of one journey verified nothing, or None when some log held an event of it.

    Nothing checked is not a journey verified: its events were deleted, or its id mistyped. A log
    whose first event of it cannot be read back holds it, and a journey the service's records hold but
    its log lacks was found too (each report says so, not intact). `reports` are the checks of that
    journey, by the service whose log each read."""
    if any(
        report.events_checked or report.unreadable is not None or report.first_broken is not None
        for report in reports.values()
    ):
        return None
    return f"no event of journey {journey_id} in the journey log of {', '.join(reports)}; not verified"
