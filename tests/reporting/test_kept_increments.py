"""The kept counts' increments (`add_increments`): on PostgreSQL a batch's rows go as one array per
column, text and integer columns as array literals built here. Keys are codes from other systems,
so any text must arrive as it was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from platform_kit import postgres_only
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.reporting.projections.contact_days import _integer_array, _text_array, add_increments
from services.reporting.projections.models import ContactDurationKeyDay
from shared.db import Database

TABLE: Any = ContactDurationKeyDay.__table__
KEYS = ("dimension", "day", "metric", "key", "value")
COUNTS = ("contacts",)

# Everything an array literal treats specially, and text that looks like something else.
AWKWARD = [
    'say "hi"',
    "back\\slash",
    "\\",
    '\\"',
    "a,b",
    "{braces}",
    "  spaced  ",
    "NULL",
    "",
    "tab\tand\nnewline",
    "Ynys M\u00f4n \u2013 \u2713",
    "'quoted'",
]


@pytest.fixture
async def reporting(db_urls: dict[str, str], clean_db: None) -> AsyncIterator[Database]:
    database = Database(db_urls["reporting"])
    yield database
    await database.dispose()


async def stored(database: Database) -> list[tuple[Any, ...]]:
    async with database.read_session() as session:
        return sorted(tuple(row) for row in (await session.execute(select(TABLE))).all())


@postgres_only("the array literals are PostgreSQL's")
async def test_text_and_integer_literals_arrive_as_the_values_sent(reporting: Database) -> None:
    numbers = [0, -1, 2**31 - 1, -(2**31), 7, True]
    async with reporting.read_session() as session:
        connection = await session.connection()

        async def cast(sql: str, literal: str) -> Any:
            return (await connection.exec_driver_sql(sql, (literal,))).scalar()

        texts = await cast("SELECT $1::text::varchar(80)[]", _text_array(AWKWARD))
        ints = await cast("SELECT $1::text::integer[]", _integer_array(numbers))
        empty = await cast("SELECT $1::text::varchar[]", _text_array([]))
    assert texts == AWKWARD
    assert ints == [0, -1, 2**31 - 1, -(2**31), 7, 1]
    assert empty == []


def test_a_literal_refuses_what_it_cannot_spell() -> None:
    # NUL would split one value in two; PostgreSQL text cannot hold it anyway.
    with pytest.raises(ValueError, match="NUL"):
        _text_array(["a", "b\x00c"])
    with pytest.raises(TypeError):
        _text_array(["a", None])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        _integer_array([1, None])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        _integer_array([1, "2"])  # type: ignore[list-item]


async def test_awkward_keys_are_counted_added_to_and_dropped_when_zeroed(reporting: Database) -> None:
    day = date(2024, 3, 4)
    rows = [("team", day, "decision_working_hours", key, i, i + 1) for i, key in enumerate(AWKWARD)]
    async with reporting.unit_of_work() as session:
        await add_increments(session, TABLE, KEYS, COUNTS, rows, drop_zeroed=True)
    assert await stored(reporting) == sorted(rows)
    # Added to the stored rows; the even ones taken to 0 and dropped, the odd ones doubled.
    again = [(*row[:5], -row[5] if row[4] % 2 == 0 else row[5]) for row in rows]
    async with reporting.unit_of_work() as session:
        await add_increments(session, TABLE, KEYS, COUNTS, again, drop_zeroed=True)
    assert await stored(reporting) == sorted((*row[:5], 2 * row[5]) for row in rows if row[4] % 2)
    # Without drop_zeroed, a row taken to 0 stays, counting nothing.
    odd = [(*row[:5], -2 * row[5]) for row in rows if row[4] % 2]
    async with reporting.unit_of_work() as session:
        await add_increments(session, TABLE, KEYS, COUNTS, odd)
    assert await stored(reporting) == sorted((*row[:5], 0) for row in rows if row[4] % 2)


async def test_a_bad_value_fails_the_batch_and_leaves_the_rows(reporting: Database) -> None:
    day = date(2024, 3, 4)
    kept = [("team", day, "decision_working_hours", "T1", 5, 3)]
    async with reporting.unit_of_work() as session:
        await add_increments(session, TABLE, KEYS, COUNTS, kept)
    # A key missing: refused before it is sent on PostgreSQL, by the NOT NULL key on SQLite.
    bad = [("team", day, "decision_working_hours", "T1", 5, 1), ("team", day, "m", None, 6, 1)]
    with pytest.raises((TypeError, IntegrityError)):
        async with reporting.unit_of_work() as session:
            await add_increments(session, TABLE, KEYS, COUNTS, bad)
    assert await stored(reporting) == kept
