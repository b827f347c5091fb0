"""The front-door measures, read from the projections (never by replaying events).

Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the value at
rank ceil(p/100 x n) (1-based); the median is the 50th percentile by the same rule (for an even
count, the lower of the two middle values). Means are arithmetic. Figures are rounded to 2 places,
halves up (rounding.py).
"""

from __future__ import annotations

import functools
import itertools
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.reporting.projections.contact_days import (
    BAND,
    CONVERSION_COUNTS,
    DURATION_SUMS,
    OUTCOME_COLUMNS,
    OUTCOME_TIME_COUNTS,
    US_PER_HOUR,
    from_sum_units,
    step_value,
    week_of,
)
from services.reporting.projections.day_index import US_PER_DAY, day_index, microseconds
from services.reporting.projections.journey_months import (
    DAY_BAND,
    STANDARD_TRANSFER_DAYS,
    STANDARD_TRANSFER_WORKING_DAYS,
    UNALLOCATED_DAYS,
    VALUE_COLUMNS,
    hundredths_of_day,
)
from services.reporting.projections.models import (
    AWAITING_COLUMNS,
    CONTACT_GROUP_COLUMNS,
    JOURNEY_DAY_TABLES,
    JOURNEY_GROUP_COLUMNS,
    JOURNEY_MONTH_TABLES,
    JOURNEY_WEEK_TABLES,
    WHOLE,
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
    ContactFact,
    ContactMonth,
    FeedState,
    JourneyFact,
    JourneyLiveDay,
    JourneyMonth,
    JourneyMonthBand,
    JourneyMonthReason,
    JourneyMonthValue,
    SupervisionDay,
    SupervisionFact,
    SupervisionOverdueSpell,
    TimelineEntry,
    blank_group_key,
)
from services.reporting.reports.bands import band_flag, control_band
from services.reporting.reports.models import (
    BAND_RATES,
    DAY_OF_WEEK,
    AwaitingContact,
    AwaitingReport,
    AwaitingRow,
    ContactGrouping,
    ContactToOutcomeReport,
    ContactToOutcomeRow,
    ConversionBandMonth,
    ConversionBandSeries,
    ConversionBandsReport,
    ConversionReport,
    ConversionRow,
    FeedFreshness,
    Freshness,
    GroupBy,
    HandoverReason,
    HandoverReport,
    HandoverRow,
    JourneyHandovers,
    OverdueJourney,
    SupervisionReport,
    SupervisionRow,
    Timeline,
    TimelineItem,
)
from services.reporting.reports.value_ranges import InRanges
from services.reporting.rounding import half_up
from services.reporting.settings import Settings
from shared.dates import add_months
from shared.dates import london_window as window
from shared.db import on_postgresql
from shared.events.consumer import FeedConsumer
from shared.types import UTCDateTime
from shared.working_days import WorkingCalendar, calendar_for, london_date

ALL = "ALL"

DEFINITIONS_COMMON = {
    "date_range": "from/to are London dates, inclusive.",
    "percentiles": "Nearest rank: value at rank ceil(p/100 x n); median = 50th percentile (lower middle).",
    "rounding": "Figures to 2 decimal places unless stated otherwise, halves rounded up.",
}


# -- helpers ------------------------------------------------------------------------------------


# ISO order, Monday first; not calendar.day_name, which follows the process's locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def period_of(group_by: ContactGrouping, d: date) -> str:
    """The group of London date `d` for a grouping by the day (`DAY_GROUPS`)."""
    if group_by is DAY_OF_WEEK:
        return WEEKDAYS[d.weekday()]
    if group_by is GroupBy.week:
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    if group_by is GroupBy.month:
        return f"{d.year}-{d.month:02d}"
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


TIME_GROUPS = (GroupBy.week, GroupBy.month, GroupBy.quarter)
# The groupings whose key follows from the London date of received_at alone (`period_of`): the
# periods, and contact to outcome's day of the week.
DAY_GROUPS = (*TIME_GROUPS, DAY_OF_WEEK)


def group_order(group_by: ContactGrouping) -> Callable[[str], Any]:
    """The sort key of a grouping's rows: by key (time periods so come in time order), but the
    days of the week in ISO order, Monday first."""
    if group_by is DAY_OF_WEEK:
        return WEEKDAYS.index
    return lambda key: key


def months_of(from_date: date, to_date: date) -> list[date]:
    """The first days of the London months a range of dates touches, in order."""
    months, month = [], from_date.replace(day=1)
    while month <= to_date:
        months.append(month)
        month = add_months(month, 1)
    return months


def _r(value: float) -> float:
    return half_up(float(value), 2)


def _r_or_none(value: float | None) -> float | None:
    return None if value is None else _r(value)


def pct(part: int, whole: int) -> float | None:
    return _r(100 * part / whole) if whole else None


def count_if(condition: Any) -> Any:
    """SQL: how many rows of the group meet `condition`."""
    return func.sum(case((condition, 1), else_=0))


def nearest_rank(p: int, n: int) -> int:
    """The rank (1-based) of the nearest-rank percentile p of n values: ceil(p/100 x n), at least 1."""
    return max(1, math.ceil(p / 100 * n))


def nearest_rank_of(counts: Counter[int], p: int) -> int | None:
    """The nearest-rank percentile of values given as value -> how many."""
    n = sum(counts.values())
    if not n:
        return None
    return nearest_value(sorted(counts.items()), nearest_rank(p, n))


def value_at(counted: Iterable[tuple[int, int]], rank: int) -> tuple[int, int]:
    """(value, rank among that value's) at `rank` (1-based) of values given in order as (value, how
    many)."""
    seen = 0
    for value, n in counted:
        if seen + n >= rank:
            return value, rank - seen
        seen += n
    raise AssertionError("unreachable: rank <= n")


def nearest_value(counted: Iterable[tuple[int, int]], rank: int) -> int:
    """The value at `rank` (1-based) of values given in order as (value, how many)."""
    return value_at(counted, rank)[0]


async def freshness(session: AsyncSession, consumers: Sequence[FeedConsumer]) -> Freshness:
    feeds: list[FeedFreshness] = []
    for consumer in consumers:
        position_row = (
            await session.execute(
                select(consumer.positions.c.position).where(consumer.positions.c.feed == consumer.feed)
            )
        ).first()
        state = await session.get(FeedState, consumer.feed)
        feeds.append(
            FeedFreshness(
                feed=consumer.feed,
                position=int(position_row[0]) if position_row else 0,
                latest_event_recorded_at=state.latest_recorded_at if state else None,
                latest_event_occurred_at=state.latest_occurred_at if state else None,
                skipped_events=state.skipped if state else 0,
            )
        )
    times = [f.latest_event_recorded_at for f in feeds if f.latest_event_recorded_at is not None]
    return Freshness(latest_event_at=max(times) if times else None, feeds=feeds)


SUPERVISION_COUNTS = ("open_journeys", "supervised", "overdue")

# Percentiles of each metric: {metric: {p: value}}.
Ranks = dict[str, dict[int, Any]]


class _Tally:
    """One group's handover figures, added up from kept rows (and the live journeys read)."""

    def __init__(self) -> None:
        self.journeys = 0
        self.closed = 0
        self.sum_us = 0  # unallocated time, in whole microseconds: sums add up exactly
        self.max_days: float | None = None  # rounded per journey, as the report gives them
        self.values: dict[str, Counter[int]] = defaultdict(Counter)
        # The standard transfer's lag: the journeys with one, and its percentiles of each metric
        # (STANDARD_TRANSFER_WORKING_DAYS, STANDARD_TRANSFER_DAYS in hundredths), unrounded.
        self.standard_transfers = 0
        self.lag: Ranks = {}

    def top(self, days: float) -> None:
        self.max_days = days if self.max_days is None else max(self.max_days, days)


HUNDREDTH_US = US_PER_DAY // 100  # the unallocated days' unit, a hundredth of a day


def days_of(hundredths: int | None) -> float | None:
    """Days from a count of hundredths of a day, as kept (None stays None)."""
    return None if hundredths is None else hundredths / 100


LAG_PERCENTILES = ((50, "median"), (90, "p90"))  # the standard transfer lag's, and their fields' suffixes
ORIGIN_MARGIN_US = 1_000  # far above a float's error on hours, far below a hundredth of a day


@dataclass
class _LiveSpells:
    """What the handovers medians need of the live journeys, at `now_us`: the conditions reading the
    live journeys whose spell began before the day of `now`, those journeys counted by origin day,
    and the others' values (hundredths of a day), each by period and overall (None)."""

    conditions: list[Any]
    origins: dict[str | None, Counter[int]]
    recent: dict[str | None, Counter[int]]
    now_us: int


# Each table of journey counts kept per London month, and the same counts kept per London day
# (journey_months.py), from which a range's partial edge months (or weeks) take their days, and per
# ISO week, for the whole only, which handovers by week read. The contact counts (contact_days.py)
# are kept per month and day alike, and read through the same `_KeptGroups`.
_DAY_TABLE_OF: dict[type, type] = {
    **dict(zip(JOURNEY_MONTH_TABLES, JOURNEY_DAY_TABLES, strict=True)),
    ContactMonth: ContactDay,
}
_WEEK_TABLE_OF: dict[type, type] = dict(zip(JOURNEY_MONTH_TABLES, JOURNEY_WEEK_TABLES, strict=True))


@dataclass(frozen=True)
class _KeptPart:
    """Rows of one kind of kept counts that a handovers report reads: those of the periods taken
    whole (`span_start` None: the month table, or by week the week table, added) or those of one
    span of days of a period (the day table: its days added, sign 1, or taken off the month taken
    whole, sign -1)."""

    table: Any  # a Core table
    column: str  # the table's period column: month, week or day
    first: date
    last: date
    sign: int
    span_start: date | None  # a span's period: the first of its month, or its week's Monday

    @property
    def period(self) -> Any:
        """The table's column of the London month, week or day of the journeys' first contact."""
        return self.table.c[self.column]

    @property
    def start(self) -> Any:
        """The first day of the period its rows count in, as SQL: each row's, or the span's."""
        return self.period if self.span_start is None else literal(self.span_start, Date)

    @property
    def keyed(self) -> bool:
        """Whether its rows are kept per grouping key too; the week's are the whole's only."""
        return "dimension" in self.table.c


@dataclass
class _KeptGroups:
    """Which rows kept per month and key, per day and key, and per week (journey_months.py), count
    towards the whole and each group of a handovers report: the months the range covers whole, or
    more than half of, are read from the month rows, and a month's days in range, or those out of
    range of a month taken whole, from the day rows, added or taken off (`Reports._kept_months`), so
    that each count read, times its part's sign, nets to the journeys of the range's days. The
    whole's rows (dimension `all`) make the whole; grouped by month or quarter, a group is the
    whole's rows of its months (and of their spans), and grouped by a key, the rows of that key.
    Grouped by week, the range is its weeks instead: those it covers whole from the week rows, and
    its partial edge weeks' days in range from the day rows (`Reports._weeks_in`), the whole's alone.
    The contact counts kept per month and day are read through it too (`Reports._kept_month_sums`)."""

    from_date: date
    to_date: date
    group_by: GroupBy
    group: Any  # the journeys' group as SQL (`Reports._journey_group_sql`); None for contact counts

    def __post_init__(self) -> None:
        self.dimension = None if self.group_by in TIME_GROUPS else self.group_by.value
        self.by_week = self.group_by is GroupBy.week
        # The periods taken whole (contiguous), and the spans of days (first, last, sign, the first
        # day of the period they count in).
        self.whole: list[date]
        self.spans: list[tuple[date, date, int, date]]
        if self.by_week:
            self.whole, part_weeks = Reports._weeks_in(self.from_date, self.to_date)
            self.spans = [(first, last, 1, monday) for monday, (first, last) in part_weeks.items()]
            starts = sorted([*self.whole, *part_weeks])
        else:
            self.whole, spans = Reports._kept_months(self.from_date, self.to_date)
            self.spans = [(first, last, sign, first.replace(day=1)) for first, last, sign in spans]
            starts = months_of(self.from_date, self.to_date)
        # The time groupings' periods: {first day of a month or week: its period}, {period: those}.
        self.period_of_start: dict[date, str] = {}
        self.periods: dict[str, list[date]] = defaultdict(list)
        for start in starts:
            self.period_of_start[start] = period_of(self.group_by, start) if self.dimension is None else ""
            self.periods[self.period_of_start[start]].append(start)
        # The keys of the grouping's dimension found in the counts (`found`): a span of days is read
        # key by key, each a range of the day rows, not every day of the dimension's keys.
        self.keys: set[str] | None = None

    def parts(self, kept: type) -> list[_KeptPart]:
        """The parts of a kind of kept counts (its month table) that the range reads."""
        parts = []
        if self.whole:
            table = (_WEEK_TABLE_OF[kept] if self.by_week else kept).__table__  # type: ignore[attr-defined]
            column = "week" if self.by_week else "month"
            parts.append(_KeptPart(table, column, self.whole[0], self.whole[-1], 1, None))
        day_table = _DAY_TABLE_OF[kept].__table__  # type: ignore[attr-defined]
        parts += [_KeptPart(day_table, "day", first, last, sign, at) for first, last, sign, at in self.spans]
        return parts

    def days_of(self, period: str) -> tuple[date, date]:
        """The first and last London day of a time grouping's period (those of its months or week
        the range touches, not cut to the range)."""
        starts = self.periods[period]
        if self.by_week:
            return starts[0], starts[-1] + timedelta(days=6)
        return starts[0], add_months(starts[-1], 1) - timedelta(days=1)

    def found(self, keys: Iterable[str]) -> None:
        """The keys of the grouping's dimension that the range's counts hold (read first)."""
        self.keys = set(keys)

    def read(self, part: _KeptPart) -> list[Any]:
        """The conditions on a part's rows that the report reads: its months or days, of the whole
        and, grouped by a key, of that grouping's keys (those `found`, once they are)."""
        t = part.table
        in_range = part.period.between(part.first, part.last)
        if not part.keyed:
            return [in_range]  # the week's rows: the whole's alone
        if part.span_start is None:
            dimensions = [WHOLE[0]] if self.dimension is None else [WHOLE[0], self.dimension]
            return [t.c.dimension.in_(dimensions), in_range]
        # The day rows are keyed by key before day: the whole's key and each key found make a span's
        # rows a range of the index each, not a scan of every day of the dimension.
        whole = and_(t.c.dimension == WHOLE[0], t.c.key == WHOLE[1])
        if self.dimension is None:
            return [whole, in_range]
        keyed = t.c.dimension == self.dimension
        if self.keys is not None:
            keyed = and_(keyed, t.c.key.in_(sorted(self.keys))) if self.keys else false()
        return [or_(whole, keyed), in_range]

    def select(
        self,
        kept: type,
        columns: Sequence[str],
        counts: Sequence[str],
        where: Callable[[_KeptPart], list[Any]],
    ) -> Any:
        """(dimension, key, start, *columns, *counts) of the rows of every part of a kind of kept
        counts meeting `where(part)`, start being the first day of the period a row counts in, each
        count times its part's sign: one statement.

        Grouped by a key, the period a row counts in does not decide its groups (`of`), so the rows
        come summed per key and columns, start the range's first day: a year's twelve months (and
        its edge spans) are one row, not twelve. Every figure read from these rows is a sum of
        them, or linear in them (the live journeys' spells). Grouped by a time period, each row
        keeps its period."""
        selects = []
        for part in self.parts(kept):
            t = part.table
            signed = [t.c[c] if part.sign == 1 else (t.c[c] * part.sign).label(c) for c in counts]
            grouping = [t.c.dimension, t.c.key] if part.keyed else [literal(v, String) for v in WHOLE]
            selects.append(
                select(
                    grouping[0].label("dimension"),
                    grouping[1].label("key"),
                    part.start.label("start"),
                    *[t.c[c] for c in columns],
                    *signed,
                ).where(*where(part))
            )
        every = selects[0] if len(selects) == 1 else union_all(*selects)
        if self.dimension is None:
            return every
        rows = every.subquery()
        summed_by = [rows.c.dimension, rows.c.key, *[rows.c[c] for c in columns]]
        return select(
            rows.c.dimension,
            rows.c.key,
            literal(self.from_date, Date).label("start"),
            *summed_by[2:],
            *[func.sum(rows.c[c]).label(c) for c in counts],
        ).group_by(*summed_by)

    def of(self, dimension: str, key: str, start: date) -> tuple[str | None, ...]:
        """The groups (None: the whole) a kept row read counts towards."""
        if dimension != WHOLE[0]:
            return (key,)
        return (None,) if self.dimension is not None else (None, self.period_of_start[start])

    def rows_of(self, part: _KeptPart, wanted: Iterable[str | None]) -> Any | None:
        """The condition on a part's rows (those `read`) that count towards any of some groups (None:
        the whole), or None if none does: one term per kind of group (the whole, keys, periods),
        not one per group, as a report by week asks for 53 at once and building a condition per
        group cost more than the reading."""
        t = part.table
        wanted = set(wanted)

        def whole() -> Any:
            if part.keyed:
                return and_(t.c.dimension == WHOLE[0], t.c.key == WHOLE[1])
            # The week rows, the whole's alone, are keyed by week before value: naming the part's
            # weeks makes a band of values a range of the index per week. Without them PostgreSQL
            # scanned every week's values for it (55,000 rows, 7 ms, at 230,856 contacts).
            return part.period.in_([week for week in self.whole if part.first <= week <= part.last])

        if self.dimension is not None:
            keys = sorted(g for g in wanted if g is not None)
            terms = [whole()] if None in wanted else []
            if keys:
                terms.append(and_(t.c.dimension == self.dimension, t.c.key.in_(keys)))
            return or_(*terms)
        if None in wanted:
            return whole()  # grouped by a time period, every row read counts towards the whole
        if part.span_start is not None:  # a span counts in its period
            return whole() if any(part.span_start in self.periods[g] for g in wanted if g) else None
        starts = {start for g in wanted if g is not None for start in self.periods[g]}
        in_part = sorted(start for start in starts if part.first <= start <= part.last)
        if not in_part:
            return None
        return and_(whole(), part.period.in_(in_part)) if part.keyed else part.period.in_(in_part)


class Reports:
    """The measures over one session, with the service's calendar settings."""

    def __init__(self, session: AsyncSession, settings: Settings, fresh: Freshness) -> None:
        self.session = session
        self.settings = settings
        # Shared calendars (`calendar_for`), not new ones per request: their caches, and day_index's
        # (keyed by calendar), then last across requests; a day index of today counted from 2000
        # anew took about 17 ms of every handovers report.
        hours = (settings.office_start, settings.office_end)
        self.statutory: WorkingCalendar = calendar_for(settings.counting, (), *hours)
        self.local: WorkingCalendar = calendar_for(settings.counting, settings.local_closure_days, *hours)
        self.fresh = fresh
        # PostgreSQL has ordered-set aggregates and grouping sets; SQLite gets window functions.
        self.postgres = on_postgresql(session)

    @staticmethod
    async def configure_transaction(session: AsyncSession, settings: Settings) -> None:
        """Set up a report's transaction before it reads anything (PostgreSQL; SET LOCAL ends with
        it): one snapshot for all its statements, the configured memory for sorts, and a plan made
        for each query's own values.

        A report reads counts kept by the projection and then some of the rows they count (the
        contacts of the day where a median falls, say): under PostgreSQL's default READ COMMITTED
        each statement would see the commits made since the last, so a batch committing between
        the two could leave a figure from neither state. (SQLite's read transaction is a snapshot.)

        The driver prepares each statement once per connection, and from a statement's sixth run
        PostgreSQL may switch to a generic plan made without the parameter values. For the reports'
        date ranges that plan was worse: measured at 231,080 contacts, awaiting-decision went from
        15 to 75 ms per call from the sixth call on, supervision from 164 to 214. Planning each
        time costs about a millisecond."""
        if on_postgresql(session):
            await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            mb = int(settings.report_work_mem_mb)  # an int, validated: safe to inline
            await session.execute(text(f"SET LOCAL work_mem = '{mb}MB'"))
            await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def _rows(self, statement: Any) -> Sequence[Any]:
        """Every row of a statement, fetched at once: iterating the result instead fetches each row
        through three layers of calls, which thousands of kept rows make a measurable part of a
        report."""
        return (await self.session.execute(statement)).all()

    def _base(
        self, measure: str, from_date: date, to_date: date, group_by: ContactGrouping
    ) -> dict[str, Any]:
        return {
            "measure": measure,
            "from_date": from_date,
            "to_date": to_date,
            "group_by": group_by,
            "freshness": self.fresh,
        }

    # -- SQL aggregation ------------------------------------------------------------------------

    @staticmethod
    def _group_sql(
        group_by: ContactGrouping, from_date: date, to_date: date, at: Any, attributes: dict[GroupBy, Any]
    ) -> Any:
        """The grouping key as a SQL expression: the London period (or weekday) of `at` for the
        groupings by the day, else the first non-blank of the attribute's column(s), or 'unknown'
        ('undecided' for outcome).

        Day keys are a CASE over the UTC instants where the key changes, worked out here with
        `period_of`, so both backends agree with Python exactly (DST included) for rows in the range:
        a branch per period, so per day for the weekday (callers keep its range to a few days)."""
        if group_by is DAY_OF_WEEK or group_by in TIME_GROUPS:  # DAY_GROUPS, spelled out for mypy
            return Reports._period_sql(group_by, from_date, to_date, lambda day: at < window(day, day)[0])
        column = attributes[group_by]
        columns = column if isinstance(column, tuple) else (column,)
        default = literal(blank_group_key(group_by))
        return case(*[(and_(c.is_not(None), c != ""), c) for c in columns], else_=default)

    @staticmethod
    def _period_sql(
        group_by: ContactGrouping, from_date: date, to_date: date, before: Callable[[date], Any]
    ) -> Any:
        """The time period (`period_of`) of the days from..to as a SQL CASE: `before(day)` is the
        condition that a row falls before London day `day`, tested at each day a period begins."""
        day, key = from_date, period_of(group_by, from_date)
        whens: list[tuple[Any, str]] = []
        while day < to_date:
            day += timedelta(days=1)
            next_key = period_of(group_by, day)
            if next_key != key:
                whens.append((before(day), key))
                key = next_key
        return case(*whens, else_=literal(key)) if whens else literal(key)

    @classmethod
    def _contact_group_sql(
        cls, group_by: ContactGrouping, from_date: date, to_date: date, contacts: Any = None
    ) -> Any:
        """The grouping key of contacts: over rpt_contacts' columns (built once for each grouping
        and range, `_contact_fact_group_sql`), or over `contacts`, a subquery's columns of the same
        names (those it lacks cannot be grouped by)."""
        if contacts is None:
            return cls._contact_fact_group_sql(group_by, from_date, to_date)
        c = contacts
        attributes = {GroupBy(group): c[name] for group, name in CONTACT_GROUP_COLUMNS.items() if name in c}
        return cls._group_sql(group_by, from_date, to_date, c.received_at, attributes)

    # A grouping key over the facts' own columns depends only on the grouping and the range, so it
    # is built once for each and kept: a year by week is a CASE of 53 branches worked out from each
    # of its 365 days, about 5% of handovers by week's samples when built per request. SQL
    # expressions are not changed by compiling or running them, so one serves every statement and
    # request. A client asks for few ranges at a time; the least recently used are let go.
    @staticmethod
    @functools.lru_cache(maxsize=128)
    def _contact_fact_group_sql(group_by: ContactGrouping, from_date: date, to_date: date) -> Any:
        return Reports._contact_group_sql(group_by, from_date, to_date, sa_inspect(ContactFact).columns)

    async def _figures(
        self,
        where: list[Any],
        group: Any,
        counts: list[Any],
        metrics: dict[str, tuple[Any, Any]],
        ps: Sequence[int] = (),
        descending: bool = False,
    ) -> tuple[Any, dict[str, Any], dict[str, dict[int, Any]], dict[str, dict[str, dict[int, Any]]]]:
        """The labelled aggregates `counts` and the nearest-rank percentiles `ps` of each metric
        (value, condition or None: the rows it is taken over), over the rows meeting `where`, as
        (overall row, {group: row}, overall percentiles, {group: percentiles}); no groups when
        `group` is None. Percentiles are unrounded and only computed when some row meets `where`.

        PostgreSQL does it in one scan: GROUPING SETS ((group), ()) gives the groups and the whole,
        and percentile_disc(p/100) takes the value at row ceil(p/100 x n) of the sorted values (the
        same float8 arithmetic as nearest_rank_of), a metric's percentiles sharing one sort per group
        (percentile_disc's state is shareable). SQLite runs the aggregates, then `_nearest_ranks`
        once per condition."""
        if self.postgres:
            return await self._figures_pg(where, group, counts, metrics, ps, descending)
        rows = func.count().label("_rows")
        overall = (await self.session.execute(select(*counts, rows).where(*where))).mappings().one()
        totals: dict[str, Any] = {}
        whole: dict[str, dict[int, Any]] = {}
        ranks: dict[str, dict[str, dict[int, Any]]] = {}
        if not overall["_rows"]:
            return overall, totals, whole, ranks
        if group is not None:
            query = select(group.label("grp"), *counts).where(*where).group_by(group)
            totals = {row["grp"]: row for row in (await self.session.execute(query)).mappings()}
        by_condition: dict[int, tuple[Any, dict[str, Any]]] = {}
        for name, (value, condition) in metrics.items():
            by_condition.setdefault(id(condition), (condition, {}))[1][name] = value
        for condition, values in by_condition.values():
            scope = where if condition is None else [*where, condition]
            some, by_group = await self._nearest_ranks(scope, group, values, ps, descending)
            whole.update(some)
            for key, figures in by_group.items():
                ranks.setdefault(key, {}).update(figures)
        return overall, totals, whole, ranks

    async def _figures_pg(
        self,
        where: list[Any],
        group: Any,
        counts: list[Any],
        metrics: dict[str, tuple[Any, Any]],
        ps: Sequence[int],
        descending: bool,
    ) -> tuple[Any, dict[str, Any], dict[str, dict[int, Any]], dict[str, dict[str, dict[int, Any]]]]:
        percentiles: list[Any] = []
        for name, (value, condition) in metrics.items():
            for p in ps:
                ranked = func.percentile_disc(p / 100).within_group(value.desc() if descending else value)
                percentiles.append(
                    (ranked if condition is None else ranked.filter(condition)).label(f"p{p}_{name}")
                )
        columns = [*counts, *percentiles]
        if group is None:
            query = select(literal(1).label("_whole"), *columns).where(*where)
        else:
            query = (
                select(group.label("grp"), func.grouping(group).label("_whole"), *columns)
                .where(*where)
                .group_by(func.grouping_sets(tuple_(group), tuple_()))
            )
        overall: Any = None
        totals: dict[str, Any] = {}
        whole: dict[str, dict[int, Any]] = {}
        ranks: dict[str, dict[str, dict[int, Any]]] = {}
        for row in (await self.session.execute(query)).mappings():
            into: dict[str, dict[int, Any]] = defaultdict(dict)
            for name in metrics:
                for p in ps:
                    if row[f"p{p}_{name}"] is not None:
                        into[name][p] = row[f"p{p}_{name}"]
            if row["_whole"]:
                overall, whole = row, dict(into)
            else:
                totals[row["grp"]] = row
                if into:
                    ranks[row["grp"]] = dict(into)
        return overall, totals, whole, ranks

    async def _nearest_ranks(
        self,
        where: list[Any],
        group: Any,
        metrics: dict[str, Any],
        ps: Sequence[int],
        descending: bool = False,
    ) -> tuple[dict[str, dict[int, Any]], dict[str, dict[str, dict[int, Any]]]]:
        """Nearest-rank percentiles of each metric (unrounded), overall and per group (none when
        `group` is None), in one SQL scan: rank ceil(p/100 x n) is (p*n + 99) / 100 in integer
        arithmetic (equal to the float ceil for every n tested up to 3 million), and only the rows
        at those ranks are returned. `descending` ranks from the largest value."""
        if self.postgres:
            _, _, whole, ranks = await self._figures_pg(
                where, group, [], {name: (value, None) for name, value in metrics.items()}, ps, descending
            )
            return whole, ranks
        scopes: dict[str, list[Any]] = {"all": []} if group is None else {"all": [], "grp": [group]}
        inner_cols: list[Any] = [] if group is None else [group.label("grp")]
        for scope, partition in scopes.items():
            inner_cols.append(func.count().over(partition_by=partition).label(f"n_{scope}"))
            for name, value in metrics.items():
                order = value.desc() if descending else value
                inner_cols.append(
                    func.row_number().over(partition_by=partition, order_by=order).label(f"rn_{scope}_{name}")
                )
        inner_cols += [value.label(f"v_{name}") for name, value in metrics.items()]
        inner = select(*inner_cols).where(*where).subquery()
        conditions = [
            inner.c[f"rn_{scope}_{name}"] == (p * inner.c[f"n_{scope}"] + 99) // 100
            for scope in scopes
            for name in metrics
            for p in ps
        ]
        rows = (await self.session.execute(select(inner).where(or_(*conditions)))).mappings()
        overall: dict[str, dict[int, Any]] = defaultdict(dict)
        groups: dict[str, dict[str, dict[int, Any]]] = defaultdict(lambda: defaultdict(dict))
        for row in rows:
            for scope in scopes:
                into = overall if scope == "all" else groups[row["grp"]]
                n = int(row[f"n_{scope}"])
                for name in metrics:
                    rn = int(row[f"rn_{scope}_{name}"])
                    for p in ps:
                        if rn == nearest_rank(p, n):
                            into[name][p] = row[f"v_{name}"]
        return overall, groups

    # -- a. contact to outcome ------------------------------------------------------------------

    async def contact_to_outcome(
        self, from_date: date, to_date: date, group_by: ContactGrouping, now: datetime
    ) -> ContactToOutcomeReport:
        # Counts and sums are read from the rows kept per London day and key (contact_days.py).
        totals = await self._day_totals(from_date, to_date, group_by, ("contacts", *OUTCOME_TIME_COUNTS))
        # Overdue (undecided and past the deadline) depends on `now`. Every contact received before
        # `settled` is past its deadline, so there it is the undecided count kept per day; only the
        # undecided contacts received since are read.
        settled = self._past_deadline_before(now)
        if from_date < settled:
            last = min(to_date, settled - timedelta(days=1))
            undecided = await self._day_totals(from_date, last, group_by, ("contacts", "first_decided"))
            for key, t in undecided.items():
                totals[key]["overdue"] += t["contacts"] - t["first_decided"]
        first_recent, last_recent, grouped_over = max(from_date, settled), to_date, (from_date, to_date)
        if group_by is DAY_OF_WEEK:
            # The weekday's CASE has a branch per day (`_group_sql`): it spans only the days read
            # here, to today at the latest (a few days). No contact received after today can be
            # overdue: its deadline comes after its receipt, so after now.
            last_recent = min(to_date, london_date(now))
            grouped_over = (first_recent, last_recent)
        if settled <= to_date and first_recent <= last_recent:
            recent, end = window(first_recent, last_recent)
            group = self._contact_group_sql(group_by, *grouped_over)
            overdue = (
                select(group.label("grp"), func.count().label("n"))
                .where(
                    col(ContactFact.received_at) >= recent,
                    col(ContactFact.received_at) < end,
                    col(ContactFact.first_decided_at).is_(None),
                    col(ContactFact.decision_due_at) < now,
                )
                .group_by(group)
            )
            for found in (await self.session.execute(overdue)).mappings():
                totals[found["grp"]]["overdue"] += int(found["n"])
        overall: Counter[str] = sum(totals.values(), Counter())
        whole: Ranks = {}
        ranks: dict[str, Ranks] = {}
        if overall["first_decided"]:
            whole, ranks = await self._kept_percentiles(from_date, to_date, group_by, (50, 90))
        n = self.settings.decision_within_working_days
        ordered = sorted(totals, key=group_order(group_by))
        return ContactToOutcomeReport(
            **self._base("contact-to-outcome", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Contacts received (received_at, London) in the range.",
                "decision": "Time from received_at to the FIRST threshold decision: a decision later "
                "superseded still ended the wait; the outcome shown is the CURRENT (non-superseded) one.",
                "authorisation": "Time from received_at to the authorisation of the current decision.",
                "working_hours": "Office hours on England & Wales working days (statutory calendar).",
                "working_days": "Working days from the clock start (the next office opening when received "
                "out of hours) to the decision.",
                "hour_percentiles": "Medians and 90th percentiles of hours are given to a tenth of an "
                "hour (the exact nearest-rank value, halves rounded up); means to 2 places.",
                "decided_within_timescale": f"Decided by office close on working day {n} of the clock "
                f"({self.settings.counting.value} counting), statutory calendar.",
                "due": "Denominator of the percentage: decided contacts plus undecided ones already past "
                "their deadline.",
                "backdated": f"Recorded more than {self.settings.backdate_threshold_hours:g} hours after "
                "received_at; still measured from received_at.",
                **(
                    {
                        "day_of_week": "The weekday of received_at's London date (the day the week "
                        "grouping counts it on), Monday first; only days with contacts in the range."
                    }
                    if group_by is DAY_OF_WEEK
                    else {}
                ),
            },
            overall=self._c2o_row(ALL, overall, whole),
            groups=[self._c2o_row(k, totals[k], ranks.get(k, {})) for k in ordered],
        )

    def _past_deadline_before(self, now: datetime) -> date:
        """The first London day not all of whose contacts are past their decision deadline at `now`:
        deadlines never fall earlier for a contact received later, so every contact received
        before that day is past its deadline. That day holds the earliest receipt not yet past it
        (`receipt_cutoff`, which the referrals work list's queues filter by too)."""
        return london_date(self.statutory.receipt_cutoff(now, self.settings.decision_within_working_days))

    @staticmethod
    def _kept_months(from_date: date, to_date: date) -> tuple[list[date], list[tuple[date, date, int]]]:
        """The months whose kept counts are taken whole, and the spans of days (first, last, sign)
        whose durations counted per day are added (1) to them or taken off (-1), so that together
        they count the range's days. Only a month the range covers in part has a span: either its days
        in range are added, or it is taken whole and its days outside the range taken off,
        whichever reads fewer days (at most about half a month at each edge)."""
        kept: list[date] = []
        spans: list[tuple[date, date, int]] = []
        for month in months_of(from_date, to_date):
            following = add_months(month, 1)
            first, last = max(from_date, month), min(to_date, following - timedelta(days=1))
            inside = (last - first).days + 1
            if inside * 2 <= (following - month).days:
                spans.append((first, last, 1))
            else:
                kept.append(month)
                if month < first:
                    spans.append((month, first - timedelta(days=1), -1))
                if last < following - timedelta(days=1):
                    spans.append((last + timedelta(days=1), following - timedelta(days=1), -1))
        return kept, spans

    @staticmethod
    def _weeks_in(from_date: date, to_date: date) -> tuple[list[date], dict[date, tuple[date, date]]]:
        """The ISO weeks of a range, by their Mondays: those it covers whole, and those it covers in
        part (at most one at each end) with their first and last day in range."""
        whole: list[date] = []
        part: dict[date, tuple[date, date]] = {}
        monday = week_of(from_date)
        while monday <= to_date:
            sunday = monday + timedelta(days=6)
            if from_date <= monday and sunday <= to_date:
                whole.append(monday)
            else:
                part[monday] = (max(from_date, monday), min(to_date, sunday))
            monday += timedelta(days=7)
        return whole, part

    @staticmethod
    def _counted_days(
        spans: Sequence[tuple[date, date, int]],
        table: type[ContactDurationDay | ContactDurationDayBand]
        | type[ContactDurationKeyDay | ContactDurationKeyDayBand],
        column: str,
        group_by: ContactGrouping | None = None,
    ) -> Any:
        """(grp, metric, `column`, n) of the durations counted on each span's days, n negative for a
        span taken off: `table` holds the values or the bands counted per day, grp being the span's
        month, or with `group_by` day of the week, the day's weekday (its number in WEEKDAYS); or,
        with another `group_by`, per day and key, grp being the key of that dimension."""
        t = table.__table__  # type: ignore[union-attr]
        dimension = None if group_by is None or group_by is DAY_OF_WEEK else group_by.value
        keyed = dimension is not None
        of_dimension = [t.c.dimension == dimension] if keyed else []

        def parts(first: date, last: date) -> list[tuple[Any, Any]]:
            """(grp, condition on the day) of a span's rows."""
            if group_by is not DAY_OF_WEEK:
                grp = t.c.key if keyed else literal(first.replace(day=1), Date)
                return [(grp, t.c.day.between(first, last))]
            # A part per weekday, its grp a constant and its days named: no weekday arithmetic in
            # SQL (each database has its own), and a condition on grp is settled when planning.
            on_weekday: dict[int, list[date]] = defaultdict(list)
            for day in (first + timedelta(days=i) for i in range((last - first).days + 1)):
                on_weekday[day.weekday()].append(day)
            return [
                (literal(weekday, Integer), t.c.day.in_(days)) for weekday, days in sorted(on_weekday.items())
            ]

        return union_all(
            *[
                select(grp.label("grp"), t.c.metric, t.c[column], (t.c.contacts * sign).label("n")).where(
                    *of_dimension, on_days, t.c.contacts != 0
                )
                for first, last, sign in spans
                for grp, on_days in parts(first, last)
            ]
        ).subquery()

    @staticmethod
    def _in_months(month: Any, kept_months: Sequence[date]) -> Any:
        """SQL: a month column is one of `kept_months` (consecutive months, in order)."""
        return month.between(kept_months[0], kept_months[-1]) if kept_months else false()

    def _apart(
        self,
        group_by: ContactGrouping,
        column: str,
        kept_months: Sequence[date],
        spans: Sequence[tuple[date, date, int]],
        of_groups: Callable[[Any, Any, Any], Any] | None = None,
    ) -> Any:
        """(grp, metric, `column` (value or band), n) of the durations of a grouping counted apart
        from the whole's months (a key's, or a weekday's): the counts kept per month of
        `kept_months`, and the spans' days added or taken off (`_counted_days`); with `of_groups`
        (given the metric, `column` and grp columns: an SQL condition), only the rows it takes."""
        by_weekday = group_by is DAY_OF_WEEK
        values = column == "value"
        kept: Any
        days: Any
        if by_weekday:
            kept = (ContactDurationWeekdayMonth if values else ContactDurationWeekdayBand).__table__  # type: ignore[union-attr]
            days = ContactDurationDay if values else ContactDurationDayBand
            grp, of_dimension = kept.c.weekday, []
        else:
            kept = (ContactDurationKeyMonth if values else ContactDurationKeyBand).__table__  # type: ignore[union-attr]
            days = ContactDurationKeyDay if values else ContactDurationKeyDayBand
            grp, of_dimension = kept.c.key, [kept.c.dimension == group_by.value]
        wanted = [] if of_groups is None else [of_groups(kept.c.metric, kept.c[column], grp)]
        in_months = self._in_months(kept.c.month, kept_months)
        cells: Any = select(
            grp.label("grp"), kept.c.metric, kept.c[column], kept.c.contacts.label("n")
        ).where(*of_dimension, in_months, kept.c.contacts > 0, *wanted)
        if spans:
            edges = self._counted_days(spans, days, column, group_by)
            of_edges = [] if of_groups is None else [of_groups(edges.c.metric, edges.c[column], edges.c.grp)]
            cells = union_all(cells, select(edges).where(*of_edges))
        return cells

    async def _kept_percentiles(
        self, from_date: date, to_date: date, group_by: ContactGrouping, ps: Sequence[int]
    ) -> tuple[Ranks, dict[str, Ranks]]:
        """Contact to outcome's percentiles `ps` of each duration, overall and per group, each the
        counted value (`duration_step`) of the exact nearest-rank percentile, from the durations
        counted (a row per value that occurs, whatever the number of contacts), reading neither
        every contact nor every value: first the bands of ten values (a running total over them,
        per group and for the whole, in SQL; only the band where it first reaches rank
        ceil(p/100 x n) comes back), then the values of those bands alone.

        The whole is the range's months; a month the range covers in part has the durations counted
        on some of its days added or taken off (`_kept_months`: at most about half a month at each
        edge), per band in the first step and per value in the second. Grouped by month or quarter,
        a group is the whole's months of its period (and their edges); by week, its week's counts
        (or, for a week the range covers in part, its days' in range); by day of the week, its
        weekday's counts kept per month and its edge days of that weekday; by a key (area, team,
        source, outcome), its key's months and edge days: both counted apart (`_apart`).
        """
        b = ContactDurationBand
        kept_months, spans = self._kept_months(from_date, to_date)
        by_weekday = group_by is DAY_OF_WEEK
        keyed = group_by not in DAY_GROUPS
        # The groups are not made of the whole's months.
        apart = keyed or by_weekday or group_by is GroupBy.week
        # Each month of the range -> the first month of its period (the month, or its quarter's).
        period_of_month = {
            month: month if group_by is GroupBy.month else month.replace(month=(month.month - 1) // 3 * 3 + 1)
            for month in [*kept_months, *(first.replace(day=1) for first, _, _ in spans)]
        }

        kept = [self._in_months(col(b.month), kept_months), col(b.contacts) > 0]
        cells: Any = select(col(b.month), col(b.metric), col(b.band), col(b.contacts).label("n")).where(*kept)
        if not spans:
            c = cells.subquery()
        else:
            edge_bands = self._counted_days(spans, ContactDurationDayBand, "band")
            c = union_all(cells, select(edge_bands)).subquery()
        month, metric, band, counted_n = c.c.month, c.c.metric, c.c.band, func.sum(c.c.n).label("n")
        groups_of: Any
        whole_weeks, part_weeks = self._weeks_in(from_date, to_date) if group_by is GroupBy.week else ([], {})
        if group_by is GroupBy.week:
            # A week is its Monday here: the weeks the range covers whole, from their kept counts;
            # those it covers in part (at most one at each end), from their days' in range.
            wb, d = ContactDurationWeekBand, ContactDurationDayBand
            weekly: Any = select(
                col(wb.week).label("grp"), col(wb.metric), col(wb.band), col(wb.contacts).label("n")
            ).where(col(wb.week).in_(whole_weeks), col(wb.contacts) > 0)
            parts = [
                select(
                    literal(monday, Date).label("grp"),
                    col(d.metric),
                    col(d.band),
                    func.sum(col(d.contacts)).label("n"),
                )
                .where(col(d.day).between(first, last), col(d.contacts) > 0)
                .group_by(col(d.metric), col(d.band))
                for monday, (first, last) in part_weeks.items()
            ]
            groups_of = union_all(weekly, *parts)
        elif apart:  # by a key or by day of the week
            kc = self._apart(group_by, "band", kept_months, spans).subquery()
            groups_of = select(kc.c.grp, kc.c.metric, kc.c.band, func.sum(kc.c.n).label("n")).group_by(
                kc.c.grp, kc.c.metric, kc.c.band
            )
        elif group_by is GroupBy.month and not spans:
            # A row per month, duration and band already: in key order, the running totals need no sort.
            groups_of = select(month.label("grp"), metric, band, c.c.n)
        else:
            period = month if group_by is GroupBy.month else case(period_of_month, value=month)
            groups_of = select(period.label("grp"), metric, band, counted_n).group_by(period, metric, band)
        nothing = cast(null(), String if keyed else Integer if by_weekday else Date).label("grp")
        whole = select(nothing, metric, band, counted_n).group_by(metric, band)

        def ranked(cells: Any) -> Any:
            """The rows of `cells` where a running total over the bands first reaches a rank."""
            c = cells.subquery()
            within = (c.c.grp, c.c.metric)
            # Summed as integers (a band's count in one group fits one): PostgreSQL sums the bigints
            # a union of sums gives as numeric, about a tenth of this statement by week.
            n = cast(c.c.n, Integer)
            totals = select(
                c,
                cast(func.sum(n).over(partition_by=within, order_by=c.c.band), BigInteger).label("upto"),
                cast(func.sum(n).over(partition_by=within), BigInteger).label("total"),
            ).subquery()
            rank = [(p * totals.c.total + 99) // 100 for p in ps]
            return select(totals).where(
                or_(*[and_(totals.c.upto >= k, totals.c.upto - totals.c.n < k) for k in rank])
            )

        # (group: its period's first month or its key, None for the whole; duration; band)
        # -> [(p, rank within the band)]
        wanted: dict[tuple[date | str | int | None, str, int], list[tuple[int, int]]] = defaultdict(list)
        ranking = union_all(ranked(groups_of), ranked(whole))
        for row in (await self.session.execute(ranking)).mappings():
            total, below = int(row["total"]), int(row["upto"]) - int(row["n"])
            for p in ps:
                rank = nearest_rank(p, total)
                if below < rank <= int(row["upto"]):
                    wanted[(row["grp"], row["metric"], int(row["band"]))].append((p, rank - below))
        overall: Ranks = defaultdict(dict)
        groups: dict[str, Ranks] = defaultdict(lambda: defaultdict(dict))
        if not wanted:
            return overall, groups

        def in_bands(
            metric: Any,
            value: Any,
            groups: Iterable[date | str | int | None],
            of_groups: Callable[[list[Any]], Any] | None = None,
        ) -> Any:
            """The values of the bands wanted for any of `groups`; with `of_groups`, only of the rows
            it says are of the groups wanting each band (its SQL condition, given them)."""
            # A band wanted by several groups is read once.
            bands: dict[tuple[str, int], set[Any]] = defaultdict(set)
            for g, name, k in wanted:
                if g in groups:
                    bands[(name, k)].add(g)
            ranges = []
            for name, k in sorted(bands):
                rows = metric == name
                if of_groups is not None:
                    rows = and_(rows, of_groups(sorted(bands[(name, k)])))
                ranges.append((rows, k * BAND, k * BAND + BAND - 1))
            return InRanges(value, ranges)

        v = ContactDurationMonth
        values: Any = select(col(v.month), col(v.metric), col(v.value), col(v.contacts)).where(
            self._in_months(col(v.month), kept_months),
            col(v.contacts) > 0,
            in_bands(col(v.metric), col(v.value), {None} if apart else {None, *period_of_month.values()}),
        )
        if spans:
            # An edge's days count only in the whole and in their own period.
            edge_periods = (
                {None} if apart else {None, *(period_of_month[first.replace(day=1)] for first, _, _ in spans)}
            )
            edges = self._counted_days(spans, ContactDurationDay, "value")
            values = union_all(
                values, select(edges).where(in_bands(edges.c.metric, edges.c.value, edge_periods))
            )
        in_band: dict[tuple[date | str | int | None, str, int], Counter[int]] = defaultdict(Counter)

        def count(found_in: Iterable[date | str | int | None], name: str, value: int, n: int) -> None:
            for g in found_in:
                if (at := (g, name, value // BAND)) in wanted:
                    in_band[at][value] += n

        for found_month, name, value, n in await self._rows(values):
            count((None,) if apart else (None, period_of_month[found_month]), name, value, n)
        wanted_groups = {g for g, _, _ in wanted if g is not None}
        if wanted_weeks := wanted_groups & set(whole_weeks):
            wv = ContactDurationWeek
            of_weeks = select(col(wv.week), col(wv.metric), col(wv.value), col(wv.contacts)).where(
                col(wv.contacts) > 0, in_bands(col(wv.metric), col(wv.value), wanted_weeks, col(wv.week).in_)
            )
            for monday, name, value, n in await self._rows(of_weeks):
                count((monday,), name, value, n)
        if wanted_parts := wanted_groups & set(part_weeks):
            dv = ContactDurationDay

            def of_parts(mondays: list[Any]) -> Any:
                return or_(*[col(dv.day).between(*part_weeks[monday]) for monday in mondays])

            of_days = select(col(dv.day), col(dv.metric), col(dv.value), col(dv.contacts)).where(
                col(dv.contacts) > 0, in_bands(col(dv.metric), col(dv.value), wanted_parts, of_parts)
            )
            for day, name, value, n in await self._rows(of_days):
                count((week_of(day),), name, value, n)
        if (keyed or by_weekday) and wanted_groups:

            def of_wanted(metric: Any, value: Any, grp: Any) -> Any:
                return in_bands(metric, value, wanted_groups, grp.in_)

            for grp, name, value, n in await self._rows(
                self._apart(group_by, "value", kept_months, spans, of_wanted)
            ):
                count((grp,), name, value, n)
        for at, targets in wanted.items():
            g, name, _ = at
            into = overall if g is None else groups[self._group_key(group_by, g)]
            ordered = sorted((value, n) for value, n in in_band[at].items() if n)
            for p, rank in targets:
                into[name][p] = step_value(name, nearest_value(ordered, rank))
        return overall, groups

    @staticmethod
    def _group_key(group_by: ContactGrouping, g: date | str | int) -> str:
        """A group's key from the percentiles' grouping column: a key as it is, a weekday's number
        (its index in WEEKDAYS), or a period's first day."""
        if isinstance(g, str):
            return g
        return WEEKDAYS[g] if isinstance(g, int) else period_of(group_by, g)

    @staticmethod
    def _c2o_row(group: str, t: Counter[str], ranks: dict[str, dict[int, Any]]) -> ContactToOutcomeRow:
        contacts = t["contacts"]
        decided = t["first_decided"]
        authorised = t["authorised"]
        due = decided + t["overdue"]
        within = t["decided_within_timescale"]

        def figures(prefix: str, count: int) -> dict[str, float | None]:
            if not count:
                return {f"{prefix}_median": None, f"{prefix}_p90": None, f"{prefix}_mean": None}
            metric = ranks.get(prefix, {})
            return {
                f"{prefix}_median": _r_or_none(metric.get(50)),
                f"{prefix}_p90": _r_or_none(metric.get(90)),
                f"{prefix}_mean": _r(from_sum_units(prefix, t[DURATION_SUMS[prefix]]) / count),
            }

        return ContactToOutcomeRow(
            group=group,
            contacts=contacts,
            backdated=t["backdated"],
            decided=decided,
            undecided=contacts - decided,
            with_superseded_decision=t["with_superseded_decision"],
            due=due,
            decided_within_timescale=within,
            pct_decided_within_timescale=pct(within, due),
            **figures("decision_working_hours", decided),
            **figures("decision_working_days", decided),
            **figures("decision_calendar_hours", decided),
            authorised=authorised,
            awaiting_authorisation=t["awaiting_authorisation"],
            **figures("authorisation_working_hours", authorised),
            **figures("authorisation_working_days", authorised),
            **figures("authorisation_calendar_hours", authorised),
        )

    # -- b. awaiting decision -------------------------------------------------------------------

    async def awaiting(
        self, from_date: date, to_date: date, group_by: GroupBy, as_of: datetime, limit: int
    ) -> AwaitingReport:
        start, end = window(from_date, to_date)
        received = col(ContactFact.received_at)
        decided_at = col(ContactFact.first_decided_at)
        arrived = [received >= start, received < end, received <= as_of]
        # Undecided at as_of: not decided yet, or decided after as_of. The figures read the two as
        # disjoint parts, not one OR, so PostgreSQL reads the first from ix_rpt_contacts_undecided
        # alone; they read only the columns that index covers.
        read = [sa_inspect(ContactFact).columns[name] for name in AWAITING_COLUMNS]
        waiting = union_all(
            select(*read).where(*arrived, decided_at.is_(None)),
            select(*read).where(*arrived, decided_at > as_of),
        ).subquery("waiting")
        counts = [
            func.count().label("waiting"),
            count_if(waiting.c.decision_due_at < as_of).label("breached"),
            func.min(waiting.c.received_at).label("oldest"),
        ]
        # Every contact in the queue was undecided at as_of, whatever was decided later.
        by_outcome = group_by is GroupBy.outcome
        group: Any = None if by_outcome else self._contact_group_sql(group_by, from_date, to_date, waiting.c)
        kept = await self._kept_awaiting(from_date, to_date, group_by, as_of)
        if kept is not None:
            overall, totals, whole, ranks = kept
        else:
            # A contact's age falls as its received_at rises, so the median age is the age of the
            # contact at the median rank by received_at, newest first, and the oldest is the max.
            overall, totals, whole, ranks = await self._figures(
                [], group, counts, {"received": (waiting.c.received_at, None)}, (50,), descending=True
            )
        if by_outcome:
            totals = {"undecided": overall} if overall["waiting"] else {}
            ranks = {"undecided": whole}

        def age(at: datetime | None) -> float | None:
            return None if at is None else _r(self.statutory.working_hours_between(at, as_of))

        def row(key: str, t: Any, figures: dict[str, dict[int, Any]]) -> AwaitingRow:
            return AwaitingRow(
                group=key,
                waiting=int(t["waiting"] or 0),
                breached=int(t["breached"] or 0),
                age_working_hours_median=age(figures.get("received", {}).get(50)),
                age_working_hours_max=age(t["oldest"]),
            )

        queue = (
            await self.session.execute(
                select(ContactFact)
                .where(*arrived, or_(decided_at.is_(None), decided_at > as_of))
                .order_by(received, col(ContactFact.contact_id))
                .limit(limit)
            )
        ).scalars()
        return AwaitingReport(
            **self._base("awaiting-decision", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Contacts received in the range and by as_of with no decision by as_of.",
                "age": "Working hours (statutory calendar) from received_at to as_of.",
                "breached": "as_of is after the statutory decision deadline.",
                "contacts": "The oldest `limit` contacts of the queue; contacts_total counts them all.",
            },
            as_of=as_of,
            overall=row(ALL, overall, whole),
            groups=[row(k, totals[k], ranks.get(k, {})) for k in sorted(totals)],
            contacts=[
                AwaitingContact(
                    contact_id=c.contact_id,
                    child_id=c.child_id,
                    journey_id=c.journey_id,
                    received_at=c.received_at,
                    source=c.source,
                    urgency=c.urgency,
                    team_id=c.team_id,
                    area=c.area,
                    decision_due_at=c.decision_due_at,
                    age_working_hours=_r(self.statutory.working_hours_between(c.received_at, as_of)),
                    age_calendar_hours=_r(self.statutory.calendar_hours_between(c.received_at, as_of)),
                    breached=as_of > c.decision_due_at,
                )
                for c in queue
            ],
            contacts_total=int(overall["waiting"] or 0),
            limit=limit,
        )

    async def _kept_awaiting(
        self, from_date: date, to_date: date, group_by: GroupBy, as_of: datetime
    ) -> tuple[dict[str, Any], dict[str, Any], Ranks, dict[str, Ranks]] | None:
        """The awaiting figures as `_figures` gives them, from the undecided counts kept per London
        day and key (contact_days.py), when no contact was decided after `as_of` (so the queue is
        the contacts undecided now, as it is when as_of is now); None otherwise, or when no day can
        be taken from the counts.

        A contact received on a day before as_of's day and before the first day whose contacts are
        not all past their deadline (`_past_deadline_before`) is waiting and breached: those days
        are counted, not read. The undecided contacts received since are read; of the earlier days,
        only the contact at each group's median rank (newest first: a later contact is younger) is
        picked from its day, and the first of its oldest day, through the undecided contacts' index."""
        cut = min(self._past_deadline_before(as_of), london_date(as_of), to_date + timedelta(days=1))
        if cut <= from_date:
            return None
        decided = col(ContactFact.first_decided_at)
        if (await self.session.execute(select(literal(1)).where(decided > as_of).limit(1))).first():
            return None
        by_time = group_by in TIME_GROUPS
        by_key = not by_time and group_by is not GroupBy.outcome
        d = ContactDay
        undecided = col(d.contacts) - col(d.first_decided)
        kept = select(col(d.day), col(d.key), undecided).where(
            col(d.dimension) == (group_by.value if by_key else "all"),
            col(d.day) >= from_date,
            col(d.day) < cut,
            undecided > 0,
        )

        def keys(day: date, key: str | None) -> tuple[str | None, ...]:
            """The whole (None) and the group a contact of `day` and `key` counts in."""
            if by_time:
                return None, period_of(group_by, day)
            return (None, key) if by_key else (None,)

        # {group or None for the whole: {day: undecided contacts}}
        days: dict[str | None, Counter[date]] = defaultdict(Counter)
        for day, key, n in await self._rows(kept):
            for k in keys(day, key):
                days[k][day] += n
        group = self._contact_group_sql(group_by, from_date, to_date) if by_key else literal(None)
        received = col(ContactFact.received_at)
        end = window(from_date, to_date)[1]
        recent_from = window(cut, cut)[0]
        # {group or None: [(received_at, breached)]} of the contacts received since the cut
        recent: dict[str | None, list[tuple[datetime, bool]]] = defaultdict(list)
        since = select(group, received, col(ContactFact.decision_due_at)).where(
            decided.is_(None), received >= recent_from, received < end, received <= as_of
        )
        for key, at, due in await self._rows(since):
            for k in keys(london_date(at), key):
                recent[k].append((at, due < as_of))
        # The day (before the cut) each figure reads: the oldest, and the median's rank's, with
        # that rank counted from the day's newest contact.
        figures: dict[str | None, dict[str, Any]] = {}
        wanted: dict[str | None, dict[str, tuple[date, int]]] = defaultdict(dict)
        for k in {*days, *recent}:
            newest = sorted((at for at, _ in recent[k]), reverse=True)
            waiting = days[k].total() + len(newest)
            figures[k] = {
                "waiting": waiting,
                "breached": days[k].total() + sum(1 for _, breached in recent[k] if breached),
                "oldest": newest[-1] if newest else None,
                "received": None,
            }
            rank = nearest_rank(50, waiting)
            if days[k]:
                wanted[k]["oldest"] = (min(days[k]), days[k][min(days[k])])
            if rank <= len(newest):
                figures[k]["received"] = newest[rank - 1]
            else:
                rank -= len(newest)
                for day in sorted(days[k], reverse=True):
                    if rank <= days[k][day]:
                        wanted[k]["received"] = (day, rank)
                        break
                    rank -= days[k][day]
        # One statement: per figure, the contact at its rank in its day (newest first), or the
        # day's first, through the undecided contacts' index, which is ordered by received_at.
        picks: list[Any] = []
        cells = [
            (k, name, day, rank) for k, by_name in wanted.items() for name, (day, rank) in by_name.items()
        ]
        for i, (k, name, day, rank) in enumerate(cells):
            day_start, day_end = window(day, day)
            pick: Any = select(literal(i).label("cell"), received.label("at")).where(
                decided.is_(None), received >= day_start, received < day_end
            )
            if k is not None and by_key:
                pick = pick.where(group == k)
            if name == "received":
                pick = pick.order_by(received.desc()).offset(rank - 1)
            else:
                pick = pick.order_by(received)
            picks.append(select(pick.limit(1).subquery()))
        if picks:
            for i, at in await self._rows(union_all(*picks)):
                k, name, _, _ = cells[i]
                figures[k][name] = at
        overall = figures.pop(None, {"waiting": 0, "breached": 0, "oldest": None, "received": None})
        whole = {"received": {50: overall["received"]}} if overall["waiting"] else {}
        ranks = {k: {"received": {50: f["received"]}} for k, f in figures.items() if k is not None}
        totals = {k: f for k, f in figures.items() if k is not None}
        return overall, totals, whole, ranks

    # -- c. handovers ---------------------------------------------------------------------------

    @staticmethod
    @functools.lru_cache(maxsize=128)  # built once for each grouping and range, as `_contact_fact_group_sql`
    def _journey_group_sql(group_by: GroupBy, from_date: date, to_date: date) -> Any:
        # The same columns as the counts kept per key (journey_months.py).
        attributes = {GroupBy(d): col(getattr(JourneyFact, c)) for d, c in JOURNEY_GROUP_COLUMNS.items()}
        return Reports._group_sql(group_by, from_date, to_date, col(JourneyFact.opened_at), attributes)

    def _unallocated(self, j: JourneyFact, now: datetime) -> tuple[float, int]:
        """Hours and working days without a named worker up to `now` (Python, for listed rows)."""
        hours, days = j.unallocated_hours_closed, j.unallocated_working_days_closed
        if j.unallocated_since is not None and j.closed_at is None:
            hours += self.local.calendar_hours_between(j.unallocated_since, now)
            days += self.local.working_days_between(j.unallocated_since, now)
        return hours, days

    def _unallocated_sql(self, now: datetime) -> tuple[Any, Any, Any]:
        """`_unallocated` as SQL expressions (hours, working days, and the hours in whole
        microseconds) for rows known to be live, whose reading then needs no column outside
        ix_rpt_journeys_live: the open spell is the difference of two stored positions
        (microseconds, day indices) and the same ones of `now`, in the same floating-point
        operations as Python, so the figures agree exactly. The microseconds are summed for the
        mean, exactly, as the kept sums of settled journeys are (journey_months.py)."""
        since_us: Any = JourneyFact.unallocated_since_us  # nullable: col() won't type them
        since_day: Any = JourneyFact.unallocated_since_day
        now_us = literal(microseconds(now), BigInteger)
        now_day = literal(day_index(self.local, london_date(now)), Integer)
        seconds = cast(now_us - since_us, Float) / literal(1_000_000.0, Float)
        closed_hours = col(JourneyFact.unallocated_hours_closed)
        hours = closed_hours + case(
            (since_us < now_us, seconds / literal(3600.0, Float)), else_=literal(0.0, Float)
        )
        days = col(JourneyFact.unallocated_working_days_closed) + case(
            (since_day < now_day, now_day - since_day), else_=literal(0, Integer)
        )
        us = cast(func.round(closed_hours * literal(float(US_PER_HOUR), Float)), BigInteger) + case(
            (since_us < now_us, now_us - since_us), else_=literal(0, BigInteger)
        )
        return hours, days, us

    async def handovers(
        self, from_date: date, to_date: date, group_by: GroupBy, now: datetime, limit: int
    ) -> HandoverReport:
        start, end = window(from_date, to_date)
        in_range = [col(JourneyFact.opened_at) >= start, col(JourneyFact.opened_at) < end]
        group = self._journey_group_sql(group_by, from_date, to_date)
        # {group or None for the whole: median unallocated days, rounded}
        medians: dict[str | None, float] = {}
        # {(group or None for the whole, reason): [handovers, team transfers, worker changes]}: the
        # whole apart from a group keyed ALL (a team may be coded so), which would add into it.
        by_reason: dict[tuple[str | None, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        groups = _KeptGroups(from_date, to_date, group_by, group)
        overall, totals = await self._kept_handovers(groups, in_range, now, medians, by_reason)

        def row(key: str, t: _Tally, days_median: float | None) -> HandoverRow:
            n = t.journeys
            result: dict[str, Any] = {"group": key, "journeys": n, "closed": t.closed}
            for name in VALUE_COLUMNS:
                values = t.values[name]
                if name != "unallocated_working_days":
                    for bucket in range(5):
                        result[f"{name}_{bucket}"] = values[bucket]
                    result[f"{name}_5_plus"] = sum(c for v, c in values.items() if v >= 5)
                result[f"{name}_mean"] = _r(sum(v * c for v, c in values.items()) / n) if n else None
                result[f"{name}_median"] = _r_or_none(nearest_rank_of(values, 50))
                result[f"{name}_max"] = max(values) if values else None
            result["unallocated_days_mean"] = _r(t.sum_us / US_PER_HOUR / 24 / n) if n else None
            result["unallocated_days_median"] = days_median
            result["unallocated_days_max"] = t.max_days
            result["standard_transfers"] = t.standard_transfers
            working_days = t.lag.get(STANDARD_TRANSFER_WORKING_DAYS, {})
            days = t.lag.get(STANDARD_TRANSFER_DAYS, {})
            for p, suffix in LAG_PERCENTILES:
                result[f"standard_transfer_working_days_{suffix}"] = _r_or_none(working_days.get(p))
                result[f"standard_transfer_days_{suffix}"] = days_of(days.get(p))
            return HandoverRow(**result)

        reasons = [
            HandoverReason(
                group=ALL if g is None else g,
                reason=reason,
                handovers=c[0],
                team_transfers=c[1],
                worker_changes=c[2],
            )
            for (g, reason), c in sorted(
                by_reason.items(), key=lambda kv: (kv[0][0] is not None, kv[0][0] or "", kv[0][1])
            )
        ]

        listed = (
            await self.session.execute(
                select(JourneyFact)
                .where(*in_range)
                .order_by(col(JourneyFact.opened_at), col(JourneyFact.journey_id))
                .limit(limit)
            )
        ).scalars()
        journeys = []
        for j in listed:
            spell_hours, spell_days = self._unallocated(j, now)
            journeys.append(
                JourneyHandovers(
                    journey_id=j.journey_id,
                    child_id=j.child_id,
                    opened_at=j.opened_at,
                    closed_at=j.closed_at,
                    handovers=j.transfers,
                    team_transfers=j.team_transfers,
                    worker_changes=j.worker_changes,
                    unallocated_days=_r(spell_hours / 24),
                    unallocated_working_days=spell_days,
                    standard_transfer_at=j.standard_transfer_at,
                    standard_transfer_working_days=j.standard_transfer_working_days,
                    standard_transfer_days=days_of(j.standard_transfer_hundredths),
                )
            )
        return HandoverReport(
            **self._base("handovers", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Journeys whose first contact was received in the range.",
                "team_transfers": "Handovers that changed the team, first contact to closure (or now).",
                "worker_changes": "Handovers that changed the worker; the first allocation is not one.",
                "unallocated": "Time without a named worker: from the first contact to the first "
                "allocation to a worker, plus any later spell a handover left without one, up to "
                "closure or now. Working days use the local calendar (closure days excluded). Days "
                "are rounded per journey; the mean is of the unrounded values.",
                "standard_transfer": "A journey's standard transfer is its first handover coded TSPROC "
                "that changed the team (front door to a long-term team); a TSPROC change of worker "
                "within the team is not one, nor is any later TSPROC transfer. standard_transfers "
                "counts the journeys with one. Its lag runs from the first contact to the transfer "
                "(none if dated before it): working days on the local calendar, as unallocated "
                "(London days after the first contact's, up to and including the transfer's), and "
                "calendar days rounded "
                "per journey. The median and 90th percentile are over those journeys only; journeys "
                "without a standard transfer are not in them (null when none has one).",
                "journeys": "The first `limit` journeys by first contact; journeys_total counts them all.",
            },
            overall=row(ALL, overall, medians.get(None)),
            groups=[row(k, totals[k], medians.get(k)) for k in sorted(totals)],
            reasons=reasons,
            journeys=journeys,
            journeys_total=overall.journeys,
            limit=limit,
        )

    async def _kept_handovers(
        self,
        groups: _KeptGroups,
        in_range: list[Any],
        now: datetime,
        medians: dict[str | None, float],
        by_reason: dict[tuple[str | None, str], list[int]],
    ) -> tuple[_Tally, dict[str, _Tally]]:
        """The handovers figures and reasons of the whole and each group, for any range and grouping:
        settled journeys' figures from the rows kept per month (and key) or per week, and per day for
        a partial edge month or week (`_KeptGroups`: every count read times its part's sign), live
        journeys' from the rows kept per period (and key) and origin day (journey_months.py),
        reading only the live journeys at a median or a maximum, and those whose spell began on the
        day of `now` or later. A table's rows of every part are one statement.

        The counts read net to the range's journeys; a row of one part may be taken off by another,
        so maxima (a value, a band, an origin day) are those whose net count is above 0, not SQL's
        max() over rows."""
        overall = _Tally()
        totals: dict[str, _Tally] = defaultdict(_Tally)

        # {(dimension, key, start): the tallies its rows count in}: thousands of rows, few of these.
        counted_in: dict[tuple[str, str, date], list[tuple[str | None, _Tally]]] = {}

        def tallies(dimension: str, key: str, start: date) -> list[tuple[str | None, _Tally]]:
            if (at := (dimension, key, start)) not in counted_in:
                counted_in[at] = [(g, overall if g is None else totals[g]) for g in groups.of(*at)]
            return counted_in[at]

        def add_up(
            rows: Iterable[Any], counters_of: Callable[[str, str, date, str], list[Counter[int]]]
        ) -> None:
            """Add each kept row (dimension, key, start, metric, value or band, journeys) into the
            counters `counters_of` names for its (dimension, key, start, metric): looked up once for
            each of those, not for each of thousands of rows and each group it counts in."""
            into_of: dict[tuple[str, str, date, str], list[Counter[int]]] = {}
            for dimension, kept_key, start, name, counted_at, n in rows:
                if (into := into_of.get(at := (dimension, kept_key, start, name))) is None:
                    into = into_of[at] = counters_of(*at)
                for counted in into:
                    counted[counted_at] += n

        counts = groups.select(
            JourneyMonth,
            (),
            ("journeys", "closed", "sum_settled_unallocated_us"),
            lambda p: [*groups.read(p), p.table.c.journeys > 0],
        )
        keys: set[str] = set()
        for dimension, kept_key, start, journeys, closed, sum_us in await self._rows(counts):
            if dimension != WHOLE[0]:
                keys.add(kept_key)
            for _, t in tallies(dimension, kept_key, start):
                t.journeys += journeys
                t.closed += closed
                t.sum_us += int(sum_us)
        groups.found(keys)
        values = groups.select(
            JourneyMonthValue,
            ("metric", "value"),
            ("journeys",),
            lambda p: [
                p.table.c.metric.in_([*VALUE_COLUMNS, STANDARD_TRANSFER_WORKING_DAYS]),
                *groups.read(p),
                p.table.c.journeys > 0,
            ],
        )
        add_up(
            await self._rows(values),
            lambda dimension, kept_key, start, name: [
                t.values[name] for _, t in tallies(dimension, kept_key, start)
            ],
        )
        hours, working_days, us = self._unallocated_sql(now)
        live = [
            col(JourneyFact.unallocated_since_us).is_not(None),
            col(JourneyFact.closed_at).is_(None),
            *in_range,
        ]
        now_us, now_day = microseconds(now), day_index(self.local, london_date(now))
        # The live journeys whose open spell began before the day of `now`: their working days,
        # sums and origin days follow from the rows kept per period (JourneyLiveDay and the day's
        # and week's alike), whatever `now`.
        # {group or None for the whole: {origin day: journeys}}
        origins: dict[str | None, Counter[int]] = defaultdict(Counter)
        kept_live = groups.select(
            JourneyLiveDay,
            ("since_day", "closed_days", "origin_day"),
            ("journeys", "sum_closed_us", "sum_since_offset_us"),
            lambda p: [*groups.read(p), p.table.c.journeys > 0, p.table.c.since_day < now_day],
        )
        for row in await self._rows(kept_live):
            (
                dimension,
                kept_key,
                start,
                since_day,
                closed_days,
                origin_day,
                n,
                sum_closed_us,
                sum_offset_us,
            ) = row
            spells_us = int(sum_closed_us) + n * (now_us - origin_day * US_PER_DAY) - int(sum_offset_us)
            for g, t in tallies(dimension, kept_key, start):
                t.values["unallocated_working_days"][closed_days + now_day - since_day] += n
                t.sum_us += spells_us
                origins[g][origin_day] += n
        # Values and origin days a part took off entirely count nothing.
        origins = defaultdict(Counter, {g: +days for g, days in origins.items()})
        for t in (overall, *totals.values()):
            for name in list(t.values):
                t.values[name] = +t.values[name]
        # The others (a spell begun since the last working day, or after `now`): read, few.
        # {group or None: their unallocated days in hundredths}
        recent: dict[str | None, Counter[int]] = defaultdict(Counter)
        spells = select(groups.group.label("grp"), working_days, hours, us).where(
            *live, col(JourneyFact.unallocated_since_day) >= now_day
        )
        for grp, days, spell_hours, spell_us in await self._rows(spells):
            for key, t in ((None, overall), (grp, totals[grp])):
                t.values["unallocated_working_days"][int(days)] += 1
                t.sum_us += int(spell_us)
                t.top(_r(float(spell_hours) / 24))
                recent[key][hundredths_of_day(float(spell_hours))] += 1
        live_before_today = [*live, col(JourneyFact.unallocated_since_day) < now_day]
        # Each group's longest live spell is that of its earliest origin, in its oldest origin day
        # (kept): one microsecond later is far more than a float's error on the hours (journeys with
        # the same origin may differ by one, so each is read). Each group's earliest origin is an
        # index probe from the start of that day (ix_rpt_journeys_live); the journeys at any group's
        # earliest are read, a row per group and origin, and no group has a journey at an origin
        # earlier than its own, so a group's least origin read is its earliest. The probe is one
        # subquery over a row per group (its key and oldest day), not one subquery per group: PostgreSQL
        # planned 53 of them (a year by week) in about 14 ms, four times what running them took.
        # (A condition per group on the journeys read cost 160 ms for those 53 weeks at 300 k contacts.)
        oldest = {key: min(days) for key, days in origins.items() if key is not None and days}
        if oldest:
            origin = col(JourneyFact.unallocated_origin_us)
            opened = col(JourneyFact.opened_at)
            by_time = groups.dimension is None

            def oldest_day(g: str, day: int) -> Any:
                """A group's row: its key and oldest origin day, and a time period's span of opened_at."""
                row: list[Any] = [
                    literal(g, String).label("grp"),
                    literal(day * US_PER_DAY, BigInteger).label("at"),
                ]
                if by_time:
                    opened_from, opened_to = window(*groups.days_of(g))
                    row += [
                        literal(opened_from, UTCDateTime).label("opened_from"),
                        literal(opened_to, UTCDateTime).label("opened_to"),
                    ]
                return select(*row)

            oldest_days = union_all(*[oldest_day(g, day) for g, day in oldest.items()]).subquery(
                "oldest_days"
            )
            # A time period is a span of opened_at: two comparisons for each journey the probe passes
            # over, not the period's CASE of a branch per period (by week, ~10 ms of ~35,000
            # journeys' CASEs at 923,424 contacts).
            of_group = (
                [opened >= oldest_days.c.opened_from, opened < oldest_days.c.opened_to]
                if by_time
                else [groups.group == oldest_days.c.grp]
            )
            probe = (
                select(func.min(origin))
                .where(
                    *live_before_today,
                    *of_group,
                    origin >= oldest_days.c.at,
                    origin < oldest_days.c.at + US_PER_DAY,
                )
                .correlate(oldest_days)
                .scalar_subquery()
            )
            # Joined, not `IN (probes)`: PostgreSQL ran each probe twice for that, once to hash it and
            # once to return it.
            earliest = select(probe.label("origin")).select_from(oldest_days).subquery("earliest")
            longest = (
                select(groups.group.label("grp"), origin, func.max(hours))
                .join_from(earliest, JourneyFact, origin == earliest.c.origin)
                .where(*live_before_today)
                .group_by(groups.group, origin)
            )
            first: dict[str, tuple[int, float]] = {}
            for grp, at, max_hours in await self._rows(longest):
                if grp not in first or at < first[grp][0]:
                    first[grp] = (at, float(max_hours))
            for grp, (_, max_hours) in first.items():
                for t in (overall, totals[grp]):
                    t.top(_r(max_hours / 24))
        totals = defaultdict(_Tally, {key: t for key, t in totals.items() if t.journeys})
        if not overall.journeys:
            return overall, totals
        # The whole-day bands of settled journeys' unallocated days and of the standard transfer's
        # lag in days, each group's net count per band.
        # {metric: {group or None: {band: journeys}}}
        bands: dict[str, dict[str | None, Counter[int]]] = {
            UNALLOCATED_DAYS: defaultdict(Counter),
            STANDARD_TRANSFER_DAYS: defaultdict(Counter),
        }
        kept_bands = groups.select(
            JourneyMonthBand,
            ("metric", "band"),
            ("journeys",),
            lambda p: [p.table.c.metric.in_(list(bands)), *groups.read(p), p.table.c.journeys > 0],
        )
        add_up(
            await self._rows(kept_bands),
            lambda dimension, kept_key, start, name: [
                bands[name][g] for g in groups.of(dimension, kept_key, start)
            ],
        )
        await self._kept_standard_transfer_lag(groups, overall, totals, bands[STANDARD_TRANSFER_DAYS])
        settled = bands[UNALLOCATED_DAYS]
        # The settled maxima: each group's top band, then the top value in it.
        tops = {g: max(counted) for g, c in settled.items() if (counted := +c)}
        if tops:
            in_top = await self._values_in_bands(groups, UNALLOCATED_DAYS, tops.items())
            for (g, _), counted in in_top.items():
                if counted := +counted:
                    (overall if g is None else totals[g]).top(max(counted) / 100)
        await self._kept_day_medians(
            groups,
            overall,
            totals,
            _LiveSpells(live_before_today, origins, recent, now_us),
            hours,
            settled,
            medians,
        )
        reasons = groups.select(
            JourneyMonthReason,
            ("reason",),
            ("handovers", "team_transfers", "worker_changes"),
            lambda p: [*groups.read(p), p.table.c.handovers > 0],
        )
        counted_reasons: dict[tuple[str | None, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for reason_row in await self._rows(reasons):
            dimension, kept_key, start, reason, *handovers = reason_row
            for g in groups.of(dimension, kept_key, start):
                counts = counted_reasons[(g, reason)]
                counts[:] = [a + b for a, b in zip(counts, handovers, strict=True)]
        # A reason whose handovers were all taken off is not one of the range's.
        by_reason.update({at: counts for at, counts in counted_reasons.items() if counts[0]})
        return overall, totals

    async def _kept_standard_transfer_lag(
        self,
        groups: _KeptGroups,
        overall: _Tally,
        totals: dict[str, _Tally],
        bands: dict[str | None, Counter[int]],
    ) -> None:
        """The standard transfer's lag of the whole and each group from the counts kept: working
        days from their values (read with the other figures'); days from their whole-day bands
        (`bands`, each group's net count per band), then only the values of the band each
        percentile falls in. The lag is fixed once a journey has one, so no journey is read."""
        tallies: dict[str | None, _Tally] = {None: overall}
        tallies.update(totals)
        for t in tallies.values():
            working_days = t.values[STANDARD_TRANSFER_WORKING_DAYS]
            t.standard_transfers = working_days.total()
            if t.standard_transfers:
                t.lag[STANDARD_TRANSFER_WORKING_DAYS] = {
                    p: nearest_rank_of(working_days, p) for p, _ in LAG_PERCENTILES
                }
        # {(group or None, p): (band, rank within the band)}
        wanted: dict[tuple[str | None, int], tuple[int, int]] = {}
        for key, t in tallies.items():
            if t.standard_transfers:
                counted = sorted(bands[key].items())
                for p, _ in LAG_PERCENTILES:
                    wanted[(key, p)] = value_at(counted, nearest_rank(p, t.standard_transfers))
        if not wanted:
            return
        read = {(key, band) for (key, _), (band, _) in wanted.items()}
        in_band = await self._values_in_bands(groups, STANDARD_TRANSFER_DAYS, read)
        for (key, p), (band, rank) in wanted.items():
            tallies[key].lag.setdefault(STANDARD_TRANSFER_DAYS, {})[p] = nearest_value(
                sorted(in_band[(key, band)].items()), rank
            )

    async def _values_in_bands(
        self, groups: _KeptGroups, metric: str, bands: Iterable[tuple[str | None, int]]
    ) -> dict[tuple[str | None, int], Counter[int]]:
        """The kept values of `metric` (in hundredths of a day) of each (group or None for the whole,
        whole-day band) given, net journeys per value, read in one statement."""
        wanted = set(bands)
        by_band: dict[int, set[str | None]] = defaultdict(set)
        for g, band in wanted:
            by_band[band].add(g)
        query = groups.select(
            JourneyMonthValue,
            ("value",),
            ("journeys",),
            lambda part: [
                part.table.c.metric == metric,
                *groups.read(part),
                part.table.c.journeys > 0,
                InRanges(
                    part.table.c.value,
                    [
                        (rows, band * DAY_BAND, band * DAY_BAND + DAY_BAND - 1)
                        for band, of_band in sorted(by_band.items(), key=lambda kv: kv[0])
                        if (rows := groups.rows_of(part, of_band)) is not None
                    ],
                ),
            ],
        )
        found: dict[tuple[str | None, int], Counter[int]] = defaultdict(Counter)
        for dimension, kept_key, start, value, n in await self._rows(query):
            for g in groups.of(dimension, kept_key, start):
                if (g, value // DAY_BAND) in wanted:
                    found[(g, value // DAY_BAND)][value] += n
        return found

    @staticmethod
    def _origin_days(first: int, last: int) -> Any:
        """The journeys whose unallocated time's origin falls on the UTC days `first` to `last`."""
        origin = col(JourneyFact.unallocated_origin_us)
        return and_(origin >= first * US_PER_DAY, origin < (last + 1) * US_PER_DAY)

    @staticmethod
    def _origin_band(now_us: int, origin_day: int) -> int:
        """The whole-day band of unallocated days now of a live journey whose origin is mid-day on
        `origin_day`: a first guess for the journeys of that day, which span two bands."""
        mid_day = now_us - origin_day * US_PER_DAY - US_PER_DAY // 2
        return (mid_day + HUNDREDTH_US // 2) // (DAY_BAND * HUNDREDTH_US)

    @staticmethod
    def _band_origin_days(now_us: int, band: int) -> tuple[int, int]:
        """The origin days of the live journeys whose unallocated days now may fall in `band`: a
        journey of an earlier day has more, of a later day fewer. A value is the nearest hundredth
        of a day to now minus the origin; a millisecond either side covers the floating-point
        operations that give it."""
        first = now_us - (band + 1) * DAY_BAND * HUNDREDTH_US + HUNDREDTH_US // 2 - ORIGIN_MARGIN_US
        last = now_us - band * DAY_BAND * HUNDREDTH_US + HUNDREDTH_US // 2 + ORIGIN_MARGIN_US
        return first // US_PER_DAY, last // US_PER_DAY

    async def _live_values(
        self, live: _LiveSpells, group: Any, hours: Any, where: Any
    ) -> list[tuple[str, int, int, int]]:
        """(period, origin day, unallocated days in hundredths, journeys) of the live journeys meeting
        `where` (before the day of `now`), counted in SQL: a journey's value is now less its origin
        in hundredths of a day, to the nearest, so whole numbers give it exactly (a quotient and a
        remainder) unless the remainder lies within a millisecond of a half, where the hours are
        read and rounded as the report rounds them."""
        since_origin = literal(live.now_us, BigInteger) - col(JourneyFact.unallocated_origin_us)
        whole, rest = since_origin // HUNDREDTH_US, since_origin % HUNDREDTH_US
        half = HUNDREDTH_US // 2
        value = whole + case((rest > half, 1), else_=0)
        origin_day = col(JourneyFact.unallocated_origin_us) // US_PER_DAY
        clear = or_(rest < half - ORIGIN_MARGIN_US, rest > half + ORIGIN_MARGIN_US)
        counted = (
            select(group, origin_day, value, func.count())
            .where(*live.conditions, where, clear)
            .group_by(group, origin_day, value)
        )
        found = [(grp, int(day), int(v), int(n)) for grp, day, v, n in await self._rows(counted)]
        at_half = select(group, origin_day, hours).where(*live.conditions, where, not_(clear))
        for grp, day, spell_hours in await self._rows(at_half):
            found.append((grp, int(day), hundredths_of_day(float(spell_hours)), 1))
        return found

    async def _kept_day_medians(
        self,
        groups: _KeptGroups,
        overall: _Tally,
        totals: dict[str, _Tally],
        live: _LiveSpells,
        hours: Any,
        settled: dict[str | None, Counter[int]],
        medians: dict[str | None, float],
    ) -> None:
        """The median unallocated days of the whole and of each group, over the settled journeys'
        kept values and the live journeys' values now, reading few of either.

        Both are counted in whole-day bands: the settled exactly (kept); the live journeys read
        (recent spells) exactly, the others by origin day, a day's journeys in one of two bands. A
        first guess of the median's band is read: the settled values in it, and the live journeys
        of the origin days that may fall in it, counted per value (`_live_values`; those of later
        days fall below it, of earlier days above). If the median's rank turns out to fall outside
        the band, the next band that way is read instead. `settled` holds each group's settled
        journeys' net count per band (kept)."""
        # (group or None for the whole) -> (rank of the median, band read)
        wanted: dict[str | None, tuple[int, int]] = {}
        for key, t in [(None, overall), *totals.items()]:
            rank = nearest_rank(50, t.journeys)
            guess = settled[key] + Counter({k // DAY_BAND: n for k, n in live.recent[key].items()})
            for origin_day, n in live.origins[key].items():
                guess[self._origin_band(live.now_us, origin_day)] += n
            wanted[key] = (rank, nearest_value(sorted(guess.items()), rank))
        while wanted:
            # The live journeys of every band's origin days, whatever their group: the index on the
            # origin reads the same entries either way, and each group takes its band's days below.
            near = [
                self._origin_days(*self._band_origin_days(live.now_us, band))
                for band in sorted({band for _, band in wanted.values()})
            ]
            # {group or None: [(origin day, value in hundredths, journeys)]}
            live_values: dict[str | None, list[tuple[int, int, int]]] = defaultdict(list)
            for grp, origin_day, value, n in await self._live_values(live, groups.group, hours, or_(*near)):
                for key in (None, grp):
                    live_values[key].append((origin_day, value, n))
            found = await self._values_in_bands(
                groups, UNALLOCATED_DAYS, [(key, band) for key, (_, band) in wanted.items()]
            )
            in_band: dict[str | None, Counter[int]] = defaultdict(Counter)
            in_band.update({key: found[(key, band)] for key, (_, band) in wanted.items()})
            for key, (rank, band) in list(wanted.items()):
                first, last = self._band_origin_days(live.now_us, band)
                below = sum(n for k, n in settled[key].items() if k < band)
                below += sum(n for day, n in live.origins[key].items() if day > last)
                # The live values known exactly: the recent spells', and those of this band's days.
                window_values = ((value, n) for day, value, n in live_values[key] if first <= day <= last)
                for value, n in itertools.chain(live.recent[key].items(), window_values):
                    if value // DAY_BAND < band:
                        below += n
                    elif value // DAY_BAND == band:
                        in_band[key][value] += n
                if rank <= below:
                    wanted[key] = (rank, band - 1)
                elif rank > below + in_band[key].total():
                    wanted[key] = (rank, band + 1)
                else:
                    medians[key] = nearest_value(sorted(in_band[key].items()), rank - below) / 100
                    del wanted[key]

    # -- d. supervision -------------------------------------------------------------------------

    async def _supervision_counts(
        self, group_by: GroupBy, days: Sequence[date]
    ) -> dict[str, dict[date, Any]]:
        """The supervision counts at each of `days` (ascending), per key of `group_by` (time
        groupings: the whole, under ALL): the sums of the changes kept per day and key
        (supervision_days.py) up to each day, read a row per day and key."""
        by_time = group_by in TIME_GROUPS
        k = SupervisionDay
        changes = [func.sum(col(getattr(k, c))).label(c) for c in SUPERVISION_COUNTS]
        query: Any = (
            select(col(k.key), col(k.day), *changes)
            .where(col(k.dimension) == ("all" if by_time else group_by.value), col(k.day) <= days[-1])
            .group_by(col(k.key), col(k.day))
            .order_by(col(k.day))
        )
        running: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        found: dict[str, dict[date, Any]] = defaultdict(dict)
        at = iter(days)
        next_day: date | None = next(at)

        def read_off(until: date | None) -> date | None:
            """Record the running counts at every snapshot day before `until` (None: all left)."""
            nonlocal next_day
            while next_day is not None and (until is None or next_day < until):
                for key, values in running.items():
                    found[key][next_day] = dict(zip(SUPERVISION_COUNTS, values, strict=True))
                next_day = next(at, None)
            return next_day

        for change in (await self.session.execute(query)).mappings():
            read_off(change["day"])
            cell = running[change["key"]]
            for i, name in enumerate(SUPERVISION_COUNTS):
                cell[i] += int(change[name] or 0)
        read_off(None)
        return found

    async def supervision(
        self, from_date: date, to_date: date, group_by: GroupBy, today: date, limit: int
    ) -> SupervisionReport:
        # The last snapshot is the range's last day, but never in the future.
        last_day = min(to_date, today)
        definitions = {
            **DEFINITIONS_COMMON,
            "population": "Journeys open at the end of the day counted (the range's last day, or "
            "each period's last day when grouped by time), today at the latest; team and area are "
            "the allocated ones. A range wholly after today counts nothing (as_of null): no day of "
            "it has been reached.",
            "due_on": "next_due_on of the latest supervision; else the policy interval "
            "(working days, local calendar, per service type) after the latest supervision, or "
            "after the first contact when never supervised (the newly-qualified interval, when "
            "shorter, if the current worker's entry on the supervision service's register covers "
            "that day).",
            "within_interval": "Open journeys whose due date has not passed.",
            "overdue": "The first `limit` overdue journeys by due date; overdue_total counts them all.",
        }

        def row(group: str, day: date | None, t: Any) -> SupervisionRow:
            n = int(t["open_journeys"] or 0) if t else 0
            overdue = int(t["overdue"] or 0) if t else 0
            return SupervisionRow(
                group=group,
                as_of=day,
                open_journeys=n,
                supervised=int(t["supervised"] or 0) if t else 0,
                within_interval=n - overdue,
                overdue=overdue,
                pct_within_interval=pct(n - overdue, n),
            )

        if last_day < from_date:
            # Counting a day not yet reached would show the journeys expected to be open and
            # overdue then as fact.
            return SupervisionReport(
                **self._base("supervision", from_date, to_date, group_by),
                definitions=definitions,
                overall=row(ALL, None, None),
                groups=[],
                overdue=[],
                overdue_total=0,
                limit=limit,
            )

        groups: list[SupervisionRow] = []
        if group_by in TIME_GROUPS:
            # One snapshot per period, at the period's last day (or the end of the range).
            day = from_date
            seen: dict[str, date] = {}
            while day <= last_day:
                seen[period_of(group_by, day)] = day
                day += timedelta(days=1)
            counted = (await self._supervision_counts(group_by, sorted(seen.values()))).get(ALL, {})
            groups = [row(label, d, counted.get(d)) for label, d in seen.items()]
            final: Any = counted.get(last_day)
        else:
            by_key = await self._supervision_counts(group_by, [last_day])
            # A key whose journeys all closed or moved keeps rows adding up to zero: left out, as
            # counting the open journeys would not find it.
            by_group = {k: t[last_day] for k, t in by_key.items() if t[last_day]["open_journeys"]}
            groups = [row(k, last_day, by_group[k]) for k in sorted(by_group)]
            # The groups partition the open journeys, so their counts add up to the whole.
            final = {name: sum(int(t[name] or 0) for t in by_group.values()) for name in SUPERVISION_COUNTS}

        spell = SupervisionOverdueSpell
        until: Any = spell.overdue_until  # nullable: col() won't type it
        tie: Any = spell.due_tie
        listed = await self.session.execute(
            select(
                col(spell.journey_id),
                col(spell.due_on),
                col(spell.held_at),
                col(JourneyFact.child_id),
                col(JourneyFact.current_team_id),
                col(JourneyFact.team_id),
                col(JourneyFact.current_service_type),
            )
            .join(JourneyFact, col(JourneyFact.journey_id) == col(spell.journey_id))
            .where(col(spell.overdue_from) <= last_day, or_(until.is_(None), until > last_day))
            .order_by(col(spell.due_half), tie, col(spell.journey_id))
            .limit(limit)
        )
        overdue = [
            OverdueJourney(
                journey_id=j.journey_id,
                child_id=j.child_id,
                team_id=j.current_team_id or j.team_id,
                service_type=j.current_service_type,  # None while unallocated: the default interval
                last_supervised_at=j.held_at,
                due_on=j.due_on,
                working_days_overdue=self.local.count_working_days(j.due_on, last_day),
            )
            for j in listed
        ]
        return SupervisionReport(
            **self._base("supervision", from_date, to_date, group_by),
            definitions=definitions,
            overall=row(ALL, last_day, final),
            groups=groups,
            overdue=overdue,
            overdue_total=int(final["overdue"] or 0) if final else 0,
            limit=limit,
        )

    # -- e. conversion and repeats --------------------------------------------------------------

    @staticmethod
    def _kept_day_sums(from_date: date, to_date: date, dimension: str, names: Sequence[str]) -> Any:
        """SQL: (day, *names) of the counts `names` kept per London day and key (contact_days.py)
        of `dimension` over the range, summed per day."""
        day = col(ContactDay.day)
        sums = [func.sum(col(getattr(ContactDay, c))).label(c) for c in names]
        return (
            select(day, *sums)
            .where(col(ContactDay.dimension) == dimension, day >= from_date, day <= to_date)
            .group_by(day)
        )

    def _kept_month_sums(
        self,
        from_date: date,
        to_date: date,
        group_by: GroupBy,
        dimensions: Sequence[str],
        names: Sequence[str],
    ) -> Any:
        """SQL: (dimension, key, start, *names) of the counts `names` kept per London month and key
        (`ContactMonth`) of `dimensions` over the range, read as handovers reads its counts
        (`_KeptGroups`): the months the range covers whole, or more than half of, from the month
        rows, and the days in range of its other edge months added, or those out of range of a
        month taken whole taken off, from the day rows; grouped by a key, summed per key. A year
        reads some 12 rows per key, not 365."""
        groups = _KeptGroups(from_date, to_date, group_by, None)
        return groups.select(
            ContactMonth,
            (),
            names,
            lambda p: [p.table.c.dimension.in_(dimensions), p.period.between(p.first, p.last)],
        )

    async def _day_totals(
        self, from_date: date, to_date: date, group_by: ContactGrouping, names: Sequence[str]
    ) -> dict[str, Counter[str]]:
        """The counts `names` kept per London day or month and key (contact_days.py), added up per
        group; no contact is read. Grouped by week or day of the week, the whole's days are read, a
        row per day (366 a year at most), and folded into their groups here by `period_of`; grouped
        by month, quarter or a key, the months' rows and the edge months' days (`_kept_month_sums`).
        A key whose contacts all moved to another (an outcome changed) keeps a row of zeros, and is
        left out."""
        by_time = group_by in DAY_GROUPS
        dimension = "all" if by_time else group_by.value
        totals: dict[str, Counter[str]] = defaultdict(Counter)
        if group_by in (GroupBy.week, DAY_OF_WEEK):
            found = await self.session.execute(self._kept_day_sums(from_date, to_date, dimension, names))
            for row in found.mappings():
                totals[period_of(group_by, row["day"])].update({c: int(row[c] or 0) for c in names})
        else:
            query = self._kept_month_sums(from_date, to_date, group_by, (dimension,), names)
            for row in (await self.session.execute(query)).mappings():
                key = period_of(group_by, row["start"]) if by_time else row["key"]
                totals[key].update({c: int(row[c] or 0) for c in names})
        return defaultdict(Counter, {key: t for key, t in totals.items() if t["contacts"]})

    async def conversion(self, from_date: date, to_date: date, group_by: GroupBy) -> ConversionReport:
        totals = await self._day_totals(from_date, to_date, group_by, CONVERSION_COUNTS)
        overall: Counter[str] = sum(totals.values(), Counter())

        def row(group: str, t: Counter[str]) -> ConversionRow:
            contacts, referrals, re = t["contacts"], t["referrals"], t["re_referrals"]
            return ConversionRow(
                group=group,
                contacts=contacts,
                repeat_contacts=t["repeat_contacts"],
                decided=t["decided"],
                **{name: t[name] for name in OUTCOME_COLUMNS},
                referrals=referrals,
                pct_contacts_to_referral=pct(referrals, contacts),
                re_referrals=re,
                pct_re_referrals=pct(re, referrals),
            )

        return ConversionReport(
            **self._base("conversion", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Contacts received in the range, by their CURRENT decision's outcome.",
                "referral": "A contact whose current decision is CIN_ASSESSMENT or STRATEGY_S47, dated by "
                "received_at.",
                "re_referral": "A referral of a child with another referral received in the 12 months "
                "before it, in any journey: by London date, from the same date a year earlier (28 "
                "February for 29 February) inclusive, at any time of day.",
                "repeat_contacts": "Contacts received while the child's journey was already open.",
            },
            overall=row(ALL, overall),
            groups=[row(k, totals[k]) for k in sorted(totals)],
        )

    async def conversion_bands(
        self, from_date: date, to_date: date, sd_multiple: float
    ) -> ConversionBandsReport:
        """Per contact source (and ALL) and London month of the range (whole months: the route
        refuses others), the NFA, information and advice, and contact-to-referral rates, each with
        its control band over the months (bands.py), from the counts kept per month and source
        (`_kept_month_sums`): a row per month and source is read, not a row per day, nor any contact."""
        months = [period_of(GroupBy.month, month) for month in months_of(from_date, to_date)]
        names = ("contacts", "nfa", "info_advice", "referrals")
        query = self._kept_month_sums(from_date, to_date, GroupBy.month, ("all", "source"), names)
        counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        for found in (await self.session.execute(query)).mappings():
            key = ALL if found["dimension"] == "all" else found["key"]
            month = period_of(GroupBy.month, found["start"])
            counts[key][month].update({c: int(found[c] or 0) for c in names})

        def series(group: str, by_month: dict[str, Counter[str]]) -> ConversionBandSeries:
            counted = [by_month[m] for m in months]
            rates = {
                rate: [pct(t[part], t["contacts"]) for t in counted] for rate, part in BAND_RATES.items()
            }
            bands = {rate: control_band(values, sd_multiple) for rate, values in rates.items()}
            return ConversionBandSeries(
                group=group,
                months=[
                    ConversionBandMonth(
                        month=m,
                        **{c: t[c] for c in names},
                        **{rate: values[i] for rate, values in rates.items()},
                        **{
                            f"{rate}_flag": band_flag(values[i], bands[rate])
                            for rate, values in rates.items()
                        },
                    )
                    for i, (m, t) in enumerate(zip(months, counted, strict=True))
                ],
                **bands,
            )

        # A source whose contacts were all taken off its rows keeps rows of zeros: not a series.
        sources = sorted(
            k for k, by_month in counts.items() if k != ALL and any(t["contacts"] for t in by_month.values())
        )
        return ConversionBandsReport(
            measure="conversion-control-bands",
            from_date=from_date,
            to_date=to_date,
            sd_multiple=sd_multiple,
            freshness=self.fresh,
            definitions={
                "date_range": DEFINITIONS_COMMON["date_range"],
                "rounding": DEFINITIONS_COMMON["rounding"],
                "months": "Each London month of the range, every one listed (the range must be whole "
                "months: from the first day of one to the last day of one, at most 600).",
                "population": "Contacts received in the month (by the London date of received_at), by "
                "their CURRENT decision's outcome, per contact source code (unknown when blank) and for "
                "ALL.",
                "rates": "pct_nfa = NFA / contacts, pct_info_advice = INFO_ADVICE (contact only: "
                "information, advice, signposting) / contacts, pct_contacts_to_referral = referrals "
                "(CIN_ASSESSMENT or STRATEGY_S47) / contacts, x 100; null in a month without contacts "
                "(an undecided contact counts in contacts only).",
                "band": "Per rate and series, over the months with a rate (as given, to 2 places): "
                "their mean, and lower = max(0, mean - sd_multiple x SD), upper = min(100, mean + "
                "sd_multiple x SD); SD and limits null with fewer than 2 months with a rate.",
                "sd": "The sample standard deviation (divisor n - 1) of the monthly rates, as for a "
                "control chart of a series.",
                "flag": "A month's rate against its band's limits as given: above (over upper), below "
                "(under lower) or within (a rate equal to a limit is within); null without a rate or "
                "without a band.",
            },
            overall=series(ALL, counts[ALL]),
            groups=[series(k, counts[k]) for k in sources],
        )

    # -- f. timeline ----------------------------------------------------------------------------

    async def timeline(self, child_id: uuid.UUID) -> Timeline | None:
        journey_ids: set[uuid.UUID] = set()
        owners: list[tuple[Any, Any]] = [
            (TimelineEntry.journey_id, TimelineEntry.child_id),
            (JourneyFact.journey_id, JourneyFact.child_id),
            (SupervisionFact.journey_id, SupervisionFact.child_id),
        ]
        for journey_column, child_column in owners:
            rows = await self.session.execute(
                select(col(journey_column)).where(col(child_column) == child_id).distinct()
            )
            journey_ids.update(rows.scalars())
        if not journey_ids:
            return None
        entries = (
            await self.session.execute(
                select(TimelineEntry)
                .where(col(TimelineEntry.journey_id).in_(journey_ids))
                .order_by(
                    col(TimelineEntry.occurred_at), col(TimelineEntry.feed), col(TimelineEntry.position)
                )
            )
        ).scalars()
        return Timeline(
            child_id=child_id,
            journeys=sorted(journey_ids, key=str),
            events=[
                TimelineItem(
                    feed=e.feed,
                    position=e.position,
                    journey_id=e.journey_id,
                    type=e.type,
                    occurred_at=e.occurred_at,
                    recorded_at=e.recorded_at,
                    codes=e.codes,
                )
                for e in entries
            ],
            freshness=self.fresh,
        )
