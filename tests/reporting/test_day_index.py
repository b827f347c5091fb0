"""Working-day indices stored for the reports' SQL (projections/day_index.py), checked against the
calendar's own arithmetic (tests/shared/test_working_days.py) over every day of several years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.reporting.projections.day_index import (
    EPOCH,
    day_index,
    due_base,
    half_index,
    index_journey,
    microseconds,
)
from shared.working_days import LONDON, Counting, WorkingCalendar

CLOSURES = [date(2022, 12, 28), date(2022, 12, 29), date(2023, 12, 27)]
CALENDARS = {
    "day_0": WorkingCalendar(),
    "day_1": WorkingCalendar(counting=Counting.START_IS_DAY_1),
    "local": WorkingCalendar(extra_closures=CLOSURES).local(),
    "local_day_1": WorkingCalendar(extra_closures=CLOSURES, counting=Counting.START_IS_DAY_1).local(),
}


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.mark.parametrize("name", list(CALENDARS))
def test_index_differences_count_working_days(name):
    cal = CALENDARS[name]
    span = days(date(1999, 12, 20), date(2000, 1, 15)) + days(date(2022, 12, 1), date(2023, 1, 31))
    for a in span:
        for b in span[::7]:
            if a <= b:
                assert day_index(cal, b) - day_index(cal, a) == cal.count_working_days(a, b), (a, b)
    assert day_index(cal, EPOCH) == 0


@pytest.mark.parametrize("name", list(CALENDARS))
def test_due_base_plus_interval_is_the_due_date(name):
    cal = CALENDARS[name]
    for start in days(date(2022, 11, 20), date(2023, 1, 10)):
        for n in (1, 2, 5, 20, 30):
            due = cal.add_working_days(start, n)
            assert cal.is_working_day(due)
            assert day_index(cal, due) == due_base(cal, start) + n, (start, n)


@pytest.mark.parametrize("name", list(CALENDARS))
def test_half_index_orders_days_and_tells_a_working_day_from_the_closed_days_after_it(name):
    cal = CALENDARS[name]
    span = days(date(2022, 12, 1), date(2023, 1, 15))
    for a in span:
        for b in span:
            if a < b:
                assert half_index(cal, a) <= half_index(cal, b)
            if cal.is_working_day(a) and a != b:
                # A working-day due date is passed exactly when the later day's half index is larger.
                assert (a < b) == (half_index(cal, a) < half_index(cal, b)), (a, b)


def test_microseconds_differences_are_timedeltas():
    a = datetime(2023, 3, 26, 0, 59, 59, 999_999, tzinfo=UTC)
    b = datetime(2023, 10, 29, 1, 0, 0, 1, tzinfo=UTC)
    assert microseconds(b) - microseconds(a) == (b - a) // timedelta(microseconds=1)
    assert microseconds(datetime(1970, 1, 1, tzinfo=UTC)) == 0


class Row:
    opened_at: datetime | None = None
    unallocated_since: datetime | None = None
    unallocated_hours_closed: float = 0.0


def test_a_journey_without_a_contact_or_an_open_spell_has_no_indices():
    row = Row()
    index_journey(CALENDARS["local"], row)
    assert (row.due_base_day, row.unallocated_since_day, row.unallocated_since_us) == (None, None, None)  # type: ignore[attr-defined]
    # 23:30 UTC on 28 Dec is still 28 Dec in London (GMT), a local closure day.
    row.opened_at = row.unallocated_since = datetime(2022, 12, 28, 23, 30, tzinfo=UTC)
    row.unallocated_hours_closed = 1.5
    index_journey(CALENDARS["local"], row)
    assert row.unallocated_since_day == day_index(CALENDARS["local"], date(2022, 12, 28))  # type: ignore[attr-defined]
    # The origin of its unallocated time: the open spell's start less the 1.5 hours completed.
    origin = microseconds(datetime(2022, 12, 28, 22, 0, tzinfo=UTC))
    assert row.unallocated_origin_us == origin  # type: ignore[attr-defined]


async def _indices(w) -> dict:
    from sqlalchemy import select

    from services.reporting.projections.models import JourneyFact, SupervisionFact

    async with w.reporting.app.state.service.db.unit_of_work() as session:
        journeys = (await session.execute(select(JourneyFact))).scalars().all()
        supervisions = (await session.execute(select(SupervisionFact))).scalars().all()
        return {
            "journeys": {
                j.journey_id: (j.opened_at, j.unallocated_since, j.due_base_day, j.unallocated_since_day,
                               j.unallocated_since_us)
                for j in journeys
            },
            "supervisions": {
                s.supervision_id: (s.held_at, s.next_due_on, s.due_base_day, s.next_due_half_day)
                for s in supervisions
            },
        }  # fmt: skip


async def test_projection_fills_the_indices_and_a_rebuild_gives_the_same(world_factory):
    from reporting_kit import J7, build_scenario

    w = await world_factory()
    await build_scenario(w)
    await w.catch_up("supervision", "referrals")
    cal = WorkingCalendar().local()  # the scenario's (default) settings
    before = await _indices(w)
    assert len(before["journeys"]) == 7 and len(before["supervisions"]) == 2
    for opened, since, base, since_day, since_us in before["journeys"].values():
        assert base == due_base(cal, opened.astimezone(LONDON).date())
        if since is None:
            assert (since_day, since_us) == (None, None)
        else:
            assert (since_day, since_us) == (
                day_index(cal, since.astimezone(LONDON).date()),
                microseconds(since),
            )
    # J7 was never allocated: its open spell starts at its contact.
    assert before["journeys"][J7][1] == before["journeys"][J7][0]
    for held_at, next_due_on, base, next_due_half in before["supervisions"].values():
        assert (base, next_due_half) == (
            due_base(cal, held_at.astimezone(LONDON).date()),
            half_index(cal, next_due_on),
        )
    await w.consumer("referrals").rebuild()
    await w.consumer("supervision").rebuild()
    assert await _indices(w) == before
