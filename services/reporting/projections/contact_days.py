"""The conversion and contact-to-outcome figures, kept per London day and grouping key
(`ContactDay` rows) and per London month and grouping key (`ContactMonth`), and the
contact-to-outcome durations counted per London month
(`ContactDurationMonth` rows, and in bands of ten values, `ContactDurationBand`), per London day
(`ContactDurationDay`, `ContactDurationDayBand`), per ISO week (`ContactDurationWeek`,
`ContactDurationWeekBand`), per London month and weekday (`ContactDurationWeekdayMonth`,
`ContactDurationWeekdayBand`) and per London month and per London day and grouping key
(`ContactDurationKeyMonth`, `ContactDurationKeyBand`, `ContactDurationKeyDay`,
`ContactDurationKeyDayBand`).

A contact counts once in one row per dimension (the whole, and its area, team, source and outcome
keys) on the London date it was received, and each of its durations once in its month's, its
day's, its week's, its month and weekday's and its keys' rows (by month and by day) for that
duration. When a batch changes
contacts, each one's previous contribution is taken off and its new one added, and the net change
of every row touched is written as increments (an upsert), so the rows always equal counting the
contacts themselves.
A contact's re-referral flag depends on the child's other contacts, in any journey, so it is
recomputed for all of a child's contacts whenever one of them changes.
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, Table, bindparam, delete
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel.sql.sqltypes import AutoString

from services.reporting.projections.day_index import US_PER_HOUR
from services.reporting.projections.models import (
    CONTACT_GROUP_COLUMNS,
    ContactDay,
    ContactDurationBand,
    ContactDurationDay,
    ContactDurationDayBand,
    ContactDurationKeyBand,
    ContactDurationKeyDay,
    ContactDurationKeyDayBand,
    ContactDurationKeyMonth,
    ContactDurationMonth,
    ContactDurationWeek,
    ContactDurationWeekBand,
    ContactDurationWeekdayBand,
    ContactDurationWeekdayMonth,
    ContactMonth,
)
from services.reporting.projections.models import group_keys as keys_of
from services.reporting.rounding import half_up_units
from shared.codes import REFERRAL_OUTCOMES, DecisionOutcome
from shared.dates import within_twelve_months
from shared.db import on_postgresql
from shared.working_days import london_date

# Report column -> the national outcome code it counts.
OUTCOME_COLUMNS = {
    "nfa": DecisionOutcome.NFA,
    "info_advice": DecisionOutcome.INFO_ADVICE,
    "early_help": DecisionOutcome.EARLY_HELP,
    "cin_assessment": DecisionOutcome.CIN_ASSESSMENT,
    "strategy_s47": DecisionOutcome.STRATEGY_S47,
    "existing_open_case": DecisionOutcome.EXISTING_OPEN_CASE,
    "other": DecisionOutcome.OTHER,
}
CONVERSION_COUNTS = ("contacts", "repeat_contacts", "decided", *OUTCOME_COLUMNS, "referrals", "re_referrals")
REFERRAL_CODES = frozenset(str(o) for o in REFERRAL_OUTCOMES)

# The contact-to-outcome report's durations: its name for each -> the contact's column. Decision
# times are taken over decided contacts, authorisation times over authorised ones.
DURATIONS = {
    "decision_working_hours": "working_hours_to_decision",
    "decision_working_days": "working_days_to_decision",
    "decision_calendar_hours": "calendar_hours_to_decision",
    "authorisation_working_hours": "working_hours_to_authorisation",
    "authorisation_working_days": "working_days_to_authorisation",
    "authorisation_calendar_hours": "calendar_hours_to_authorisation",
}
HOUR_DURATIONS = frozenset(name for name in DURATIONS if name.endswith("_hours"))
# Taken over every decided contact; the others (authorisation) over the authorised ones only.
DECISION_DURATIONS = frozenset(name for name in DURATIONS if name.startswith("decision"))
# Each duration's sum, for the mean: hours in whole microseconds, so sums add and subtract exactly.
DURATION_SUMS = {name: f"sum_{name}_us" if name in HOUR_DURATIONS else f"sum_{name}" for name in DURATIONS}
OUTCOME_TIME_COUNTS = (
    "first_decided",
    "backdated",
    "with_superseded_decision",
    "decided_within_timescale",
    "authorised",
    "awaiting_authorisation",
    *DURATION_SUMS.values(),
)
COUNTS = (*CONVERSION_COUNTS, *OUTCOME_TIME_COUNTS)
_TABLE: Table = ContactDay.__table__  # type: ignore[attr-defined]  # Core upsert, no ORM bookkeeping
_MONTH_TABLE: Table = ContactMonth.__table__  # type: ignore[attr-defined]
_MONTHS: Table = ContactDurationMonth.__table__  # type: ignore[attr-defined]
_BANDS: Table = ContactDurationBand.__table__  # type: ignore[attr-defined]
_DAYS: Table = ContactDurationDay.__table__  # type: ignore[attr-defined]
_DAY_BANDS: Table = ContactDurationDayBand.__table__  # type: ignore[attr-defined]
_WEEKS: Table = ContactDurationWeek.__table__  # type: ignore[attr-defined]
_WEEK_BANDS: Table = ContactDurationWeekBand.__table__  # type: ignore[attr-defined]
_WEEKDAY_MONTHS: Table = ContactDurationWeekdayMonth.__table__  # type: ignore[attr-defined]
_WEEKDAY_BANDS: Table = ContactDurationWeekdayBand.__table__  # type: ignore[attr-defined]
_KEY_MONTHS: Table = ContactDurationKeyMonth.__table__  # type: ignore[attr-defined]
_KEY_BANDS: Table = ContactDurationKeyBand.__table__  # type: ignore[attr-defined]
_KEY_DAYS: Table = ContactDurationKeyDay.__table__  # type: ignore[attr-defined]
_KEY_DAY_BANDS: Table = ContactDurationKeyDayBand.__table__  # type: ignore[attr-defined]
# Each table of durations counted -> its key columns, in the order of its cells in a batch's changes.
_DURATION_TABLES = (
    (_MONTHS, ("month", "metric", "value")),
    (_BANDS, ("month", "metric", "band")),
    (_DAYS, ("day", "metric", "value")),
    (_DAY_BANDS, ("day", "metric", "band")),
    (_WEEKS, ("week", "metric", "value")),
    (_WEEK_BANDS, ("week", "metric", "band")),
    (_WEEKDAY_MONTHS, ("month", "weekday", "metric", "value")),
    (_WEEKDAY_BANDS, ("month", "weekday", "metric", "band")),
    (_KEY_MONTHS, ("dimension", "key", "month", "metric", "value")),
    (_KEY_BANDS, ("dimension", "key", "month", "metric", "band")),
    (_KEY_DAYS, ("dimension", "key", "day", "metric", "value")),
    (_KEY_DAY_BANDS, ("dimension", "key", "day", "metric", "band")),
)
BAND = 10  # counted values per band (the *Band tables)

Cell = tuple[date, str, str]
DurationCell = tuple[Any, ...]  # a duration table's key columns' values
# What places a contact's duration in every table of durations: (London day, the contact's keys but
# the whole's, duration, counted value).
Signature = tuple[date, tuple[tuple[str, str], ...], str, int]


def week_of(day: date) -> date:
    """The Monday of a London date's ISO week: the key of its week's rows."""
    return day - timedelta(days=day.weekday())


def duration_step(name: str, value: float | None) -> int:
    """A duration as it is counted: tenths of an hour (halves rounded up) for hours, whole days for
    working days. Rounding is monotone, so the nearest-rank percentile of the counted values is
    the counted value of the exact percentile (what the reports' scan gives, `step_value`d)."""
    v = value or 0
    return half_up_units(v, 1) if name in HOUR_DURATIONS else int(v)


def sum_units(name: str, value: float) -> int:
    """A duration as its sum column adds it up: whole microseconds for hours, working days as they are."""
    return round(value * US_PER_HOUR) if name in HOUR_DURATIONS else int(value)


def from_sum_units(name: str, total: int) -> float:
    """A sum column's total in the report's unit (hours or working days): `sum_units` undone."""
    return total / US_PER_HOUR if name in HOUR_DURATIONS else float(total)


def step_value(name: str, step: int) -> float:
    """The duration a counted step stands for, in the report's unit (hours or working days)."""
    return step / 10 if name in HOUR_DURATIONS else float(step)


# Decision times are taken over decided contacts, authorisation times over authorised ones.
_ALL_DURATIONS = tuple(DURATIONS.items())
_DECISION_DURATIONS = tuple((name, column) for name, column in _ALL_DURATIONS if name in DECISION_DURATIONS)


def durations(contact: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(name, value) of each duration the contact-to-outcome report takes over this contact; a
    missing value is 0, as the report's SQL coalesces it."""
    if contact["first_decided_at"] is None:
        return []
    taken = _DECISION_DURATIONS if contact["working_hours_to_authorisation"] is None else _ALL_DURATIONS
    return [(name, contact[column] or 0) for name, column in taken]


def group_keys(contact: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(dimension, key) of every row a contact counts in."""
    return keys_of(contact, CONTACT_GROUP_COLUMNS)


def counts(contact: Mapping[str, Any]) -> tuple[int, ...]:
    """A contact's contribution to each of `COUNTS`."""
    outcome = contact["current_outcome"]
    decided = contact["first_decided_at"] is not None
    sums = dict.fromkeys(DURATION_SUMS.values(), 0)
    for name, value in durations(contact):
        sums[DURATION_SUMS[name]] = sum_units(name, value)
    return (
        1,
        int(bool(contact["repeat_contact"])),
        int(outcome is not None and outcome != ""),
        *(int(outcome == code) for code in OUTCOME_COLUMNS.values()),
        int(outcome in REFERRAL_CODES),
        int(bool(contact["re_referral"])),
        int(decided),
        int(bool(contact["backdated"])),
        int(contact["decisions"] > 1),
        int(decided and contact["decided_within_timescale"] is True),
        int(decided and contact["working_hours_to_authorisation"] is not None),
        int(decided and bool(contact["requires_authorisation"]) and contact["authorised_at"] is None),
        *sums.values(),
    )


def mark_re_referrals(contacts: Sequence[Any]) -> None:
    """Set `re_referral` on every contact of one child: a referral (current outcome) with another
    referral of the child received before it on or after the same London date a year earlier (28
    February for 29 February), at any time of day, or at the same instant with a lower contact id.
    By date, as the national statistics count it: the CIN census holds referral dates only. Only
    the latest earlier referral need be looked at: if it is older than a year, every other one is
    too."""
    referrals = sorted(
        (c for c in contacts if c.current_outcome in REFERRAL_CODES),
        key=lambda c: (c.received_at, c.contact_id),
    )
    for contact in contacts:
        contact.re_referral = False
    for previous, contact in itertools.pairwise(referrals):
        contact.re_referral = within_twelve_months(previous.received_at, contact.received_at)


# What a contact's rows and counts depend on: a contact whose values of these are unchanged
# contributes exactly what it did.
_INPUTS = (
    "received_at",
    "area",
    "team_id",
    "source",
    "current_outcome",
    "repeat_contact",
    "re_referral",
    "backdated",
    "decisions",
    "first_decided_at",
    "decided_within_timescale",
    "requires_authorisation",
    "authorised_at",
    *DURATIONS.values(),
)


def unchanged(before: Mapping[str, Any], after: Mapping[str, Any], names: Sequence[str]) -> bool:
    """Whether a fact's inputs `names` are the same before and after a batch: then what it
    contributes to kept counts is too."""
    return all(before[name] == after[name] for name in names)


class ContactDayChanges:
    """The net change to each `ContactDay` row and each row of durations counted from one batch's
    contacts."""

    def __init__(self) -> None:
        self.net: dict[Cell, list[int]] = {}
        # Net contacts per signature: a contact taken off and added back with a duration unchanged
        # cancels here, before it is spread over the tables of durations (`duration_rows`).
        self.durations: defaultdict[Signature, int] = defaultdict(int)

    def add(self, contact: Mapping[str, Any], sign: int) -> None:
        """Count a contact in (sign 1) or out (sign -1) of its rows."""
        day, keys = london_date(contact["received_at"]), group_keys(contact)
        given = [(i, sign * v) for i, v in enumerate(counts(contact)) if v]
        for key in keys:
            self._add_counts((day, *key), given)
        self._add_durations(day, keys, contact, sign)

    def _add_counts(self, at: Cell, given: list[tuple[int, int]]) -> None:
        """Add (index, increment) pairs to the `ContactDay` row `at`."""
        cell = self.net.get(at)
        if cell is None:
            cell = self.net[at] = [0] * len(COUNTS)
        for i, v in given:
            cell[i] += v

    def _add_durations(
        self, day: date, keys: tuple[tuple[str, str], ...], contact: Mapping[str, Any], sign: int
    ) -> None:
        keyed = keys[1:]  # the whole's durations have tables of their own
        for name, value in durations(contact):
            self.durations[(day, keyed, name, duration_step(name, value))] += sign

    def duration_rows(self) -> tuple[dict[DurationCell, int], ...]:
        """The net change to each row of each table of `_DURATION_TABLES`, in its order."""
        tables: tuple[defaultdict[DurationCell, int], ...] = tuple(defaultdict(int) for _ in _DURATION_TABLES)
        months, bands, days, day_bands, weeks, week_bands, weekday_months, weekday_bands = tables[:8]
        key_months, key_bands, key_days, key_day_bands = tables[8:]
        for (day, keyed, name, step), n in self.durations.items():
            if not n:
                continue
            month, week, weekday, band = day.replace(day=1), week_of(day), day.weekday(), step // BAND
            months[(month, name, step)] += n
            bands[(month, name, band)] += n
            days[(day, name, step)] += n
            day_bands[(day, name, band)] += n
            weeks[(week, name, step)] += n
            week_bands[(week, name, band)] += n
            weekday_months[(month, weekday, name, step)] += n
            weekday_bands[(month, weekday, name, band)] += n
            for dimension, key in keyed:
                key_months[(dimension, key, month, name, step)] += n
                key_bands[(dimension, key, month, name, band)] += n
                key_days[(dimension, key, day, name, step)] += n
                key_day_bands[(dimension, key, day, name, band)] += n
        return tables

    def change(self, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
        """A contact as it was (None: new in this batch) and as it is now."""
        if before is None:
            self.add(after, 1)
            return
        if unchanged(before, after, _INPUTS):
            return
        day_before, day_after = london_date(before["received_at"]), london_date(after["received_at"])
        old, new = counts(before), counts(after)
        keys_before, keys_after = group_keys(before), group_keys(after)
        # A row the contact stays in takes only the counts that changed (a decision changes a few
        # of a contact's counts, and its outcome key only); it leaves the others, joins the new.
        changed = [(i, b - a) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        taken_off = [(i, -v) for i, v in enumerate(old) if v]
        added = [(i, v) for i, v in enumerate(new) if v]
        for key_before, key_after in zip(keys_before, keys_after, strict=True):
            if day_before == day_after and key_before == key_after:
                if changed:
                    self._add_counts((day_after, *key_after), changed)
            else:
                self._add_counts((day_before, *key_before), taken_off)
                self._add_counts((day_after, *key_after), added)
        self._add_durations(day_before, keys_before, before, -1)
        self._add_durations(day_after, keys_after, after, 1)

    def month_rows(self) -> list[tuple[Any, ...]]:
        """The net change to each `ContactMonth` row: its days' changes added up (a month's counts
        are the sum of its days'), so a contact's contribution is worked out once, per day."""
        months: dict[Cell, list[int]] = {}
        for (day, dimension, key), cell in self.net.items():
            at = (day.replace(day=1), dimension, key)
            month = months.get(at)
            if month is None:
                months[at] = list(cell)
            else:
                months[at] = [a + b for a, b in zip(month, cell, strict=True)]
        return [(*at, *cell) for at, cell in months.items() if any(cell)]

    def increments(self) -> list[Increments]:
        """The net changes, table by table, as `add_increments` adds them to the stored rows (by
        `write_increments`): worked out apart from writing them, so that a rebuild can do it while
        the previous batch is being written."""
        days = [(*at, *cell) for at, cell in self.net.items() if any(cell)]
        changes = [
            Increments(_TABLE, ("day", "dimension", "key"), COUNTS, days),
            Increments(_MONTH_TABLE, ("month", "dimension", "key"), COUNTS, self.month_rows()),
        ]
        for (table, columns), net in zip(_DURATION_TABLES, self.duration_rows(), strict=True):
            counted = [(*at, n) for at, n in net.items() if n]
            changes.append(Increments(table, columns, ("contacts",), counted))
        return changes


class Increments(NamedTuple):
    """A batch's net changes to one table of kept counts."""

    table: Table
    keys: tuple[str, ...]  # its key columns
    counts: tuple[str, ...]  # its count columns
    rows: list[tuple[Any, ...]]  # of increments: the key's values, then the counts'
    # Delete the rows the changes leave counting nothing, so the rows are those a recount gives
    # however the events were split into batches (for tables whose rows often empty).
    drop_zeroed: bool = False


async def write_increments(session: AsyncSession, changes: Sequence[Increments]) -> None:
    for table, keys, counts, rows, drop_zeroed in changes:
        await add_increments(session, table, keys, counts, rows, drop_zeroed=drop_zeroed)


@functools.cache
def upsert_increments(table: Table, counts: tuple[str, ...], postgres: bool) -> Any:
    """INSERT of a row's increments that adds them to the row when it exists (built once per
    table and backend, not per batch)."""
    insert = (pg_insert if postgres else sqlite_insert)(table)
    return insert.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={name: table.c[name] + insert.excluded[name] for name in counts},
    )


@functools.cache
def _delete_zeroed(table: Table, keys: tuple[str, ...], counts: tuple[str, ...]) -> Any:
    """DELETE of the row of a given key (parameters `key_<column>`) if its every count is 0."""
    return delete(table).where(
        *[table.c[k] == bindparam(f"key_{k}") for k in keys], *[table.c[c] == 0 for c in counts]
    )


def _text_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of text values: every element quoted, its backslashes and double
    quotes escaped. NUL, which no PostgreSQL text can hold, marks the elements' bounds while the
    whole is escaped in one pass."""
    if not values:
        return "{}"
    joined = "\x00".join(values)
    if joined.count("\x00") != len(values) - 1:
        raise ValueError("a text value holds NUL, which PostgreSQL text cannot store")
    joined = joined.replace("\\", "\\\\").replace('"', '\\"')
    return '{"' + joined.replace("\x00", '","') + '"}'


def _integer_array(values: Sequence[int]) -> str:
    """A PostgreSQL array literal of integers (`int.__repr__` refuses anything but an int)."""
    return "{" + ",".join(map(int.__repr__, values)) + "}"


def _array_literal_of(column: Any) -> Callable[[Sequence[Any]], str] | None:
    """How a column's values go to PostgreSQL as one array literal (text), or None for a list that
    asyncpg encodes. asyncpg encodes a list element by element, checking each against the
    collections.abc types; a literal built by `str.join` cost a fifteenth of that per text value and
    half per integer (bench/NOTES.md). Dates stay lists: their text form costs PostgreSQL more to
    read than it saves here. Only for columns that cannot be NULL, which a literal would spell out."""
    if column.nullable:
        return None
    # SQLModel's str columns are AutoString, a TypeDecorator of String that leaves values as they are.
    if isinstance(column.type, String | AutoString):
        return _text_array
    if isinstance(column.type, Integer):
        return _integer_array
    return None


class _UnnestUpsert(NamedTuple):
    """`upsert_increments` taking one array per column (in table order), and the DELETE of the rows
    of given keys (one array per key column), each with how to send every array."""

    upsert: str
    upsert_arrays: tuple[Callable[[Sequence[Any]], Any], ...]
    delete: str
    delete_arrays: tuple[Callable[[Sequence[Any]], Any], ...]


@functools.cache
def _unnest_upsert(table: Table, counts: tuple[str, ...], zeroed: bool) -> _UnnestUpsert:
    """PostgreSQL: `upsert_increments` taking one array per column (in table order), so a batch's
    rows are one execution, not one per row; with `zeroed`, it returns the keys of the rows it left
    with every count 0. And the DELETE of the rows of given keys (one array per key column)."""
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    columns = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    key_list = ", ".join(map(quote, keys))

    def unnest(names: list[str]) -> tuple[str, tuple[Callable[[Sequence[Any]], Any], ...]]:
        literals = [_array_literal_of(table.c[c]) for c in names]
        # A literal arrives as text, read as the column's array type.
        arrays = [
            f"${i}{'::text' if literal else ''}::{table.c[c].type.compile(dialect=dialect)}[]"
            for i, (c, literal) in enumerate(zip(names, literals, strict=True), 1)
        ]
        return "unnest(" + ", ".join(arrays) + ")", tuple(literal or list for literal in literals)

    added = ", ".join(f"{quote(c)} = {quote(table.name)}.{quote(c)} + excluded.{quote(c)}" for c in counts)
    column_list = ", ".join(map(quote, columns))
    given, upsert_arrays = unnest(columns)
    # In key order, so that two writers of one table lock its rows in the same order; sorted here
    # rather than in Python, where it cost more than building the rows.
    upsert = (
        f"INSERT INTO {quote(table.name)} ({column_list}) "
        f"SELECT * FROM {given} AS given ({column_list}) ORDER BY {key_list} "
        f"ON CONFLICT ({key_list}) DO UPDATE SET {added}"
    )
    if zeroed:
        returned = ", ".join(map(quote, (*keys, *counts)))
        all_zero = " AND ".join(f"{quote(c)} = 0" for c in counts)
        upsert = f"WITH added AS ({upsert} RETURNING {returned}) "
        upsert += f"SELECT {key_list} FROM added WHERE {all_zero}"
    of_keys, delete_arrays = unnest(keys)
    delete = f"DELETE FROM {quote(table.name)} WHERE ({key_list}) IN (SELECT * FROM {of_keys})"
    return _UnnestUpsert(upsert, upsert_arrays, delete, delete_arrays)


async def add_increments(
    session: AsyncSession,
    table: Table,
    keys: tuple[str, ...],
    counts: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    drop_zeroed: bool = False,
) -> None:
    """Add each row's increments (a tuple: the values of `keys`, then of `counts`) to the stored
    row of its key (created at zero when absent); with `drop_zeroed`, delete the rows that leaves
    with every count 0 (on PostgreSQL those the upsert returns; SQLite returns no rows from an
    executemany, so each row given is deleted if it is left at 0).

    On PostgreSQL the rows go as one array per column (`unnest`): an executemany runs the statement
    once per row on the server and builds SQLAlchemy's parameters per row, and was the largest
    part of writing the kept counts. Text and integer columns go as array literals
    (`_array_literal_of`). Rows come as tuples, turned into columns in one step, because
    a dictionary per row was a few percent of a rebuild. They are written in key order (on
    PostgreSQL the statement sorts them)."""
    if not rows:
        return
    columns = (*keys, *counts)
    if not on_postgresql(session):
        params = [dict(zip(columns, row, strict=True)) for row in sorted(rows)]
        await session.execute(upsert_increments(table, counts, False), params)
        if drop_zeroed:
            keyed = [{f"key_{k}": row[i] for i, k in enumerate(keys)} for row in rows]
            await session.execute(_delete_zeroed(table, keys, counts), keyed)
        return
    statements = _unnest_upsert(table, counts, drop_zeroed)
    given = dict(zip(columns, zip(*rows, strict=True), strict=True))
    arrays = tuple(
        array_of(given[c.name]) for c, array_of in zip(table.columns, statements.upsert_arrays, strict=True)
    )
    connection = await session.connection()
    result = await connection.exec_driver_sql(statements.upsert, arrays)
    if drop_zeroed and (zeroed := result.all()):
        of_keys = zip(zip(*zeroed, strict=True), statements.delete_arrays, strict=True)
        await connection.exec_driver_sql(statements.delete, tuple(array_of(c) for c, array_of in of_keys))
