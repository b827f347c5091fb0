"""The supervision report's counts, kept per London day and grouping key (`SupervisionDay` rows),
and each journey's overdue spells (`SupervisionOverdueSpell` rows) for its `overdue` list.

Each figure the report gives at a day D counts journeys in a state at the end of D, and for one
journey each state holds on whole London days, computed from the journey and its supervisions
alone (never from the time of the request):

* open on [date(opened_at), date(closed_at)): opened before the end of D, not closed by then;
* supervised from the date of its first supervision, while open;
* overdue, between consecutive supervisions (by held_at, then supervision id: at D the latest one
  held before the end of D counts), on the days after that supervision's due date (its
  next_due_on, else the policy interval after it; never supervised: after the first contact, the
  newly-qualified interval when the current worker's register entry covers that day), while open.

A journey adds 1 to its keys' count on the first day of each spell and takes it off on the day
after its last, so a count at D is the sum of the changes up to D. When a batch changes a journey
or its supervisions, its old changes are taken off and its new ones added (the net change of each
row written as increments, as contact_days.py does), and its overdue spells are replaced.

Both feeds change a journey's contribution (the referrals feed its journey, the supervision feed
its supervisions and its worker's newly-qualified register entry), each consumer in its own
transaction. On PostgreSQL both take one advisory lock (`lock`) before reading what the other feed
writes, so each reads the other's committed facts and no two batches take off the same old
contribution; SQLite serialises writers already.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Table, any_, bindparam, delete, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.projections.bulk import insert_many
from services.reporting.projections.contact_days import add_increments
from services.reporting.projections.models import SupervisionDay, SupervisionOverdueSpell
from services.reporting.projections.models import group_keys as keys_of
from services.reporting.settings import Settings
from shared.db import on_postgresql
from shared.policy import newly_qualified_on
from shared.working_days import WorkingCalendar, london_date

COUNTS = ("open_journeys", "supervised", "overdue")
_TABLE: Table = SupervisionDay.__table__  # type: ignore[attr-defined]  # Core upsert, no ORM bookkeeping
_SPELLS: Table = SupervisionOverdueSpell.__table__  # type: ignore[attr-defined]
SPELL_COLUMNS = tuple(c.name for c in _SPELLS.columns)
# The advisory lock both projections take around a journey's contribution (any fixed number will do).
LOCK = 0x5C7E_D0A5

# What a journey's contribution depends on, of its own columns and of each of its supervisions'.
JOURNEY_INPUTS = (
    "opened_at",
    "closed_at",
    "current_service_type",
    "current_worker_id",
    "due_base_day",
    "current_area",
    "area",
    "current_team_id",
    "team_id",
    "source",
    "outcome",
)
SUPERVISION_INPUTS = (
    "journey_id",
    "supervision_id",
    "held_at",
    "next_due_on",
    "next_due_half_day",
    "due_base_day",
)

# The journey's columns of each grouping, first non-blank wins, as the report groups journeys: area
# and team are the allocated ones, else the front door's.
_GROUPINGS: dict[str, str | tuple[str, ...]] = {
    "area": ("current_area", "area"),
    "team": ("current_team_id", "team_id"),
    "source": "source",
    "outcome": "outcome",
}


DIMENSIONS = ("all", *_GROUPINGS)


def group_keys(journey: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(dimension, key) of every row a journey counts in."""
    return keys_of(journey, _GROUPINGS)


@dataclass
class Contribution:
    """What one journey adds: per day the change to each of `COUNTS`, and its overdue spells (values
    of `SPELL_COLUMNS`)."""

    keys: tuple[tuple[str, str], ...] = ()
    days: dict[date, list[int]] = field(default_factory=dict)
    spells: list[tuple[Any, ...]] = field(default_factory=list)

    def span(self, count: int, start: date, end: date | None) -> bool:
        """Count the days [start, end) (end None: no end) in `COUNTS[count]`; False if there are none."""
        if end is not None and end <= start:
            return False
        self.days.setdefault(start, [0, 0, 0])[count] += 1
        if end is not None:
            self.days.setdefault(end, [0, 0, 0])[count] -= 1
        return True


def _earliest(*days: date | None) -> date | None:
    known = [d for d in days if d is not None]
    return min(known) if known else None


def contribution(
    calendar: WorkingCalendar,
    settings: Settings,
    journey: Mapping[str, Any] | None,
    supervisions: Iterable[Mapping[str, Any]],
    register: Mapping[str, date | None],
) -> Contribution:
    """A journey's contribution given its supervisions (none: a journey not known yet, or without a
    first contact, counts nowhere) and the newly-qualified register (worker id -> last day; at least
    the journey's current worker's entry when it has one). Due dates as the report's SQL works them
    out: an explicit next_due_on is overdue from the day after it; a policy due date is the working
    day of index due base + interval (half index 2(b + n) - 1), overdue from the day after it."""
    found = Contribution()
    if journey is None or journey["opened_at"] is None:
        return found
    opened = london_date(journey["opened_at"])
    closed = None if journey["closed_at"] is None else london_date(journey["closed_at"])
    found.keys = group_keys(journey)
    if not found.span(0, opened, closed):
        return found
    ordered = sorted(supervisions, key=lambda s: (s["held_at"], s["supervision_id"]))
    held = [london_date(s["held_at"]) for s in ordered]
    if ordered:
        found.span(1, max(opened, held[0]), closed)
    service_type = journey["current_service_type"]
    interval = settings.supervision_interval(service_type)
    # Never supervised, the clock runs from the journey's start, so the worker's register entry
    # counts on that day (as in the supervision service's due list: shared/policy.py).
    worker = journey["current_worker_id"]
    first_interval = settings.supervision_interval(
        service_type, worker is not None and newly_qualified_on(register.get(worker), opened)
    )
    # Spell i runs from the day supervision i-1 was held (spell 0: before the first) to the day the
    # next one was held; two held on one day leave the earlier an empty spell.
    for i, latest in enumerate([None, *ordered]):
        start = opened if latest is None else max(opened, held[i - 1])
        end = _earliest(closed, held[i] if i < len(ordered) else None)
        if latest is not None and latest["next_due_on"] is not None:
            due_on: date = latest["next_due_on"]
            due_half: int = latest["next_due_half_day"]
        else:
            base = journey["due_base_day"] if latest is None else latest["due_base_day"]
            since = opened if latest is None else held[i - 1]
            n = first_interval if latest is None else interval
            due_on = calendar.add_working_days(since, n)
            due_half = 2 * (base + n) - 1
        overdue_from = max(start, due_on + timedelta(days=1))
        if found.span(2, overdue_from, end):
            found.spells.append(
                (
                    journey["journey_id"],
                    overdue_from,
                    end,
                    due_half,
                    due_on if due_half % 2 == 0 else None,
                    due_on,
                    None if latest is None else latest["held_at"],
                )
            )
    return found


async def lock(session: AsyncSession) -> None:
    """Hold the supervision counts' lock until the transaction ends (PostgreSQL): a batch of either
    feed reads the other feed's facts and the old contributions only after taking it."""
    if on_postgresql(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})


class SupervisionDayChanges:
    """The net change to each `SupervisionDay` row, and the journeys whose overdue spells are
    replaced, from one batch."""

    def __init__(self) -> None:
        self.net: dict[tuple[str, date, str], list[int]] = {}
        self.replaced: set[uuid.UUID] = set()
        self.spells: list[tuple[Any, ...]] = []

    def _add(self, found: Contribution, sign: int) -> None:
        for day, values in found.days.items():
            for dimension, key in found.keys:
                cell = self.net.setdefault((dimension, day, key), [0, 0, 0])
                for i, v in enumerate(values):
                    cell[i] += sign * v

    def change(self, journey_id: uuid.UUID, before: Contribution, after: Contribution) -> None:
        """A journey's contribution as it was and as it is now."""
        if before == after:
            return
        self._add(before, -1)
        self._add(after, 1)
        if before.spells != after.spells:
            self.replaced.add(journey_id)
            self.spells.extend(after.spells)

    async def write(self, session: AsyncSession) -> None:
        """Add the net changes to the stored rows (created at zero when absent) and replace the
        changed journeys' overdue spells."""
        rows = [(*at, *cell) for at, cell in self.net.items() if any(cell)]
        # A row whose changes cancel out is deleted, so the rows are exactly those a recount gives,
        # however the events were split into batches (a rebuild equals a catch-up).
        await add_increments(session, _TABLE, ("dimension", "day", "key"), COUNTS, rows, drop_zeroed=True)
        if self.replaced:
            replaced = sorted(self.replaced)
            if on_postgresql(session):
                # `= ANY(array)`: one statement, prepared once, whatever the number of journeys.
                await session.execute(_delete_spells(), {"ids": replaced})
            else:
                for i in range(0, len(replaced), 1000):  # the drivers cap a statement's parameters
                    chunk = replaced[i : i + 1000]
                    await session.execute(delete(_SPELLS).where(_SPELLS.c.journey_id.in_(chunk)))
        # By COPY on PostgreSQL: an executemany INSERT costs a server execution per spell.
        await insert_many(session, _SPELLS, SPELL_COLUMNS, self.spells, None)


@functools.cache
def _delete_spells() -> Any:
    """PostgreSQL: DELETE the overdue spells of the journeys in the array `ids`."""
    ids = bindparam("ids", type_=ARRAY(_SPELLS.c.journey_id.type))
    return delete(_SPELLS).where(_SPELLS.c.journey_id == any_(ids))
