"""`InRanges`: the kept values of the bands a report wants, each band under its own condition, with
the bounds written into the SQL. Run on both backends against the week values table."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, or_, select

from services.reporting.projections.models import JourneyWeekValue
from services.reporting.reports.value_ranges import InRanges
from shared.db import Database

T: Any = JourneyWeekValue.__table__
WEEKS = [date(2025, 1, 6) + timedelta(weeks=i) for i in range(4)]
METRICS = ("a", "b")
VALUES = range(0, 400, 7)


@pytest.fixture
async def reporting(db_urls: dict[str, str], clean_db: None) -> AsyncIterator[Database]:
    database = Database(db_urls["reporting"])
    rows = [
        {"metric": m, "week": w, "value": v, "journeys": 1}
        for m, w, v in itertools.product(METRICS, WEEKS, VALUES)
    ]
    async with database.unit_of_work() as session:
        await session.execute(insert(T), rows)
    yield database
    await database.dispose()


async def found(database: Database, condition: Any) -> set[tuple[str, date, int]]:
    async with database.read_session() as session:
        statement = select(T.c.metric, T.c.week, T.c.value).where(condition)
        return {tuple(row) for row in (await session.execute(statement)).all()}  # type: ignore[misc]


def expected(ranges: list[tuple[Any, int, int]]) -> set[tuple[str, date, int]]:
    """The same selection in Python: each range's test on the rows, given as predicates."""
    return {
        (m, w, v)
        for m, w, v in itertools.product(METRICS, WEEKS, VALUES)
        if any(low <= v <= high and test(m, w) for test, low, high in ranges)
    }


async def test_each_range_reads_only_the_rows_its_condition_names(reporting: Database) -> None:
    ranges = [
        (T.c.week.in_(WEEKS[:2]), 100, 199, lambda m, w: w in WEEKS[:2]),
        (T.c.metric == "b", 0, 50, lambda m, w: m == "b"),
        # An OR as a range's condition: without its own parentheses, the range's bounds would bind
        # to its last term only, and metric a's other weeks would come whole.
        (or_(T.c.week == WEEKS[3], T.c.metric == "a"), 300, 320, lambda m, w: w == WEEKS[3] or m == "a"),
    ]
    got = await found(reporting, InRanges(T.c.value, [(c, low, high) for c, low, high, _ in ranges]))
    assert got == expected([(test, low, high) for _, low, high, test in ranges])
    assert got  # the data holds some of each range
    assert not await found(reporting, InRanges(T.c.value, []))


async def test_statements_differing_only_in_their_bounds_are_not_taken_for_each_other(
    reporting: Database,
) -> None:
    # The bounds are in the SQL text, not parameters: a statement compiled for one set of bounds
    # and cached must not serve another.
    condition = T.c.metric == "a"
    for low, high in [(0, 99), (100, 199), (0, 99), (350, 399)]:
        got = await found(reporting, InRanges(T.c.value, [(condition, low, high)]))
        assert got == expected([(lambda m, w: m == "a", low, high)])


def test_bounds_must_be_integers() -> None:
    with pytest.raises(ValueError):
        InRanges(T.c.value, [(T.c.metric == "a", "0 OR 1=1", 5)])  # type: ignore[list-item]
