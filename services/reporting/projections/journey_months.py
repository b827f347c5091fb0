"""The handovers report's figures of journeys, kept per London month of the journey's first contact
(`JourneyMonth`, `JourneyMonthValue`, `JourneyMonthBand`, `JourneyMonthReason` and `JourneyLiveDay`
rows), for the whole and per grouping key; and the same per London day of the first contact
(`JourneyDay`, `JourneyDayValue`, `JourneyDayBand`, `JourneyDayReason` and `JourneyLiveByDay`), so
that a range covering a month in part takes that month's days from counts too, as contact to
outcome does with its durations per day; and, for the whole only, per ISO week of the first contact
(`JourneyWeek`, `JourneyWeekValue`, `JourneyWeekBand`, `JourneyWeekReason` and `JourneyLiveByWeek`),
which handovers by week read.

A journey counts once in its month and once in its day, for the whole and under each of its keys
(area, team, source, first contact's outcome: a journey whose key changes moves to the new key's
rows), and once in its week for the whole: its journey and closure counts, the value of its team
transfers and worker changes, its handovers by reason, and, once it has one, its standard
transfer's lag (fixed from then on: it counts whether the journey is live or settled). Its
unallocated time is kept by value only when it is *settled*: a *live* journey (open and without a
named worker) has unallocated time that grows with the time of the request, so it is counted by
what that time follows from (the day its open spell began, its completed working days, the day of
its origin, and sums of its microseconds: `JourneyLiveDay`), and the report reads the live
journeys themselves only near a median or a maximum, through `ix_rpt_journeys_live`. As with
`ContactDay`, when a batch changes journeys, each one's previous contribution is taken off and its
new one added, and the net change of every row touched is written as increments
(`contact_days.add_increments`), so the rows always equal counting the journeys themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table

from services.reporting.projections.contact_days import Increments, unchanged, week_of
from services.reporting.projections.day_index import US_PER_DAY, closed_microseconds
from services.reporting.projections.models import (
    JOURNEY_DAY_TABLES,
    JOURNEY_GROUP_COLUMNS,
    JOURNEY_MONTH_TABLES,
    JOURNEY_WEEK_TABLES,
    blank_group_key,
    group_keys,
)
from services.reporting.rounding import half_up_units
from shared.codes import WorkerChangeReason
from shared.working_days import london_date

MONTH_COUNTS = ("journeys", "closed", "sum_settled_unallocated_us")
REASON_COUNTS = ("handovers", "team_transfers", "worker_changes")
LIVE_COUNTS = ("journeys", "sum_closed_us", "sum_since_offset_us")
# The value-counted figures: the report's name for each (its `counted` keys) -> the journey's column.
VALUE_COLUMNS = {
    "team_transfers": "team_transfers",
    "worker_changes": "worker_changes",
    "unallocated_working_days": "unallocated_working_days_closed",
}
UNALLOCATED_DAYS = "unallocated_days"  # the hundredths-of-a-day metric of values and bands
# The standard transfer's lag, counted over the journeys that have one: working days, and days in
# hundredths (in values and in bands, as UNALLOCATED_DAYS).
STANDARD_TRANSFER_WORKING_DAYS = "standard_transfer_working_days"
STANDARD_TRANSFER_DAYS = "standard_transfer_days"
DAY_BAND = 100  # hundredths of a day per band: whole days

# What a journey's contribution depends on: a journey whose values of these are unchanged (and
# whose handovers are then the same ones) contributes exactly what it did.
_INPUTS = (
    "opened_at",
    "closed_at",
    "transfers",
    "team_transfers",
    "worker_changes",
    "unallocated_since",
    "unallocated_hours_closed",
    "unallocated_working_days_closed",
    "standard_transfer_working_days",
    "standard_transfer_hundredths",
    *JOURNEY_GROUP_COLUMNS.values(),
)


def is_live(journey: Mapping[str, Any]) -> bool:
    """Open and without a named worker: its unallocated time is still growing."""
    return journey["unallocated_since"] is not None and journey["closed_at"] is None


def live_key(journey: Mapping[str, Any]) -> tuple[int, int, int]:
    """A live journey's `JourneyLiveDay` row in its month (and `JourneyLiveByDay` row in its day):
    (since_day, closed_days, origin_day)."""
    origin_day = journey["unallocated_origin_us"] // US_PER_DAY
    return journey["unallocated_since_day"], journey["unallocated_working_days_closed"], origin_day


def hundredths_of_day(hours: float) -> int:
    """Unallocated hours as the report gives them, days to 2 places (halves up), in hundredths."""
    return half_up_units(hours / 24, 2)


def is_standard_transfer(handover: Any) -> bool:
    """A standard transfer: a TSPROC handover (front door to a long-term team, say) that changed the
    team; a TSPROC change of worker within the team is not one."""
    return handover.reason == WorkerChangeReason.TSPROC and bool(handover.team_changed)


def _add_to(cell: list[int], counts: Sequence[int], sign: int) -> None:
    cell[:] = [a + sign * b for a, b in zip(cell, counts, strict=True)]


def reason_key(reason: str | None) -> str:
    """A handover's reason as the report groups it (blank: `unknown`, as its SQL does)."""
    return blank_group_key("reason") if reason is None or reason == "" else reason


@dataclass(frozen=True)
class _KeptTables:
    """The five tables of one period of the first contact (London month, day or ISO week), and the
    name of their period column."""

    journeys: Table
    values: Table
    bands: Table
    reasons: Table
    live: Table
    period: str

    @property
    def keyed(self) -> bool:
        """Whether their rows are kept per grouping key too (dimension and key columns), or for the
        whole only (the week's)."""
        return "dimension" in self.journeys.c


def _kept(models: tuple[type, ...], period: str) -> _KeptTables:
    journeys, values, bands, reasons, live = (m.__table__ for m in models)  # type: ignore[attr-defined]
    return _KeptTables(journeys, values, bands, reasons, live, period)


MONTH_TABLES = _kept(JOURNEY_MONTH_TABLES, "month")
DAY_TABLES = _kept(JOURNEY_DAY_TABLES, "day")
WEEK_TABLES = _kept(JOURNEY_WEEK_TABLES, "week")


class _PeriodChanges:
    """The net change to each row of one period's tables, each keyed by its key columns in the
    table's order (`_KeptTables`)."""

    def __init__(self, tables: _KeptTables) -> None:
        self.tables = tables
        self.journeys: dict[tuple[Any, ...], list[int]] = {}
        self.values: dict[tuple[Any, ...], int] = {}
        self.bands: dict[tuple[Any, ...], int] = {}
        self.reasons: dict[tuple[Any, ...], list[int]] = {}
        self.live: dict[tuple[Any, ...], list[int]] = {}

    def increments(self) -> list[Increments]:
        t, period = self.tables, self.tables.period
        grouping = ("dimension", "key") if t.keyed else ()
        # The values per month are keyed by value before month, per day or week by the period
        # before value (models.JourneyDayValue): the rows are kept in either order as (..., value,
        # period).
        if period == "month":
            value_keys: tuple[str, ...] = ("metric", *grouping, "value", period)
            values = [(*at, n) for at, n in self.values.items() if n]
        else:
            value_keys = ("metric", *grouping, period, "value")
            values = [(*at[:-2], at[-1], at[-2], n) for at, n in self.values.items() if n]
        return [
            Increments(
                t.journeys,
                (*grouping, period),
                MONTH_COUNTS,
                [(*at, *cell) for at, cell in self.journeys.items() if any(cell)],
                drop_zeroed=True,
            ),
            Increments(t.values, value_keys, ("journeys",), values, drop_zeroed=True),
            Increments(
                t.bands,
                ("metric", *grouping, period, "band"),
                ("journeys",),
                [(*at, n) for at, n in self.bands.items() if n],
                drop_zeroed=True,
            ),
            Increments(
                t.reasons,
                (*grouping, period, "reason"),
                REASON_COUNTS,
                [(*at, *cell) for at, cell in self.reasons.items() if any(cell)],
                drop_zeroed=True,
            ),
            Increments(
                t.live,
                (*grouping, period, "since_day", "closed_days", "origin_day"),
                LIVE_COUNTS,
                [(*at, *cell) for at, cell in self.live.items() if any(cell)],
                drop_zeroed=True,
            ),
        ]


class JourneyMonthChanges:
    """The net change to each kept row from one batch's journeys. Every row is kept for the whole
    (dimension `all`) and for each grouping key (`JOURNEY_GROUP_COLUMNS`), so a report grouped by
    a key reads rows as one grouped by month does; and per London month of the first contact and,
    alike, per London day (`JourneyDay` and the rest), from which a report takes the days of a
    range's partial edge months (or weeks). Per ISO week (`JourneyWeek` and the rest) for the whole
    only, which handovers by week read."""

    def __init__(self) -> None:
        self.by_month = _PeriodChanges(MONTH_TABLES)
        self.by_day = _PeriodChanges(DAY_TABLES)
        self.by_week = _PeriodChanges(WEEK_TABLES)

    def add(self, journey: Mapping[str, Any], handovers: Iterable[Mapping[str, Any]], sign: int) -> None:
        """Count a journey (with its transferred allocations) in (sign 1) or out (sign -1)."""
        if journey["opened_at"] is None:
            return  # no first contact yet: in no report's range
        day = london_date(journey["opened_at"])
        settled = not is_live(journey)
        hours = journey["unallocated_hours_closed"]
        closed_us = closed_microseconds(hours)
        added = (1, int(journey["closed_at"] is not None), closed_us if settled else 0)
        values = [(name, journey[column]) for name, column in VALUE_COLUMNS.items()]
        bands: list[tuple[str, int]] = []
        live: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None
        if not settled:
            values = values[:2]  # a live journey's working days grow: derived at request time
            at = live_key(journey)
            live = at, (1, closed_us, journey["unallocated_since_us"] - at[2] * US_PER_DAY)
        else:
            k = hundredths_of_day(hours)
            values.append((UNALLOCATED_DAYS, k))
            bands.append((UNALLOCATED_DAYS, k // DAY_BAND))
        if (lag_days := journey["standard_transfer_working_days"]) is not None:
            k = journey["standard_transfer_hundredths"]
            values += [(STANDARD_TRANSFER_WORKING_DAYS, lag_days), (STANDARD_TRANSFER_DAYS, k)]
            bands.append((STANDARD_TRANSFER_DAYS, k // DAY_BAND))
        reasons: dict[str, list[int]] = {}
        for handover in handovers:
            counts = reasons.setdefault(reason_key(handover["reason"]), [0, 0, 0])
            counts[0] += 1
            counts[1] += int(bool(handover["team_changed"]))
            counts[2] += int(bool(handover["worker_changed"]))
        keys = group_keys(journey, JOURNEY_GROUP_COLUMNS)
        # The same contribution in the journey's month's rows, its day's (each under every key) and
        # its week's (the whole's: no grouping columns).
        for period, kept, groupings in (
            (day.replace(day=1), self.by_month, keys),
            (day, self.by_day, keys),
            (week_of(day), self.by_week, ((),)),
        ):
            for grouping in groupings:
                _add_to(kept.journeys.setdefault((*grouping, period), [0, 0, 0]), added, sign)
                for name, value in values:
                    at_value = (name, *grouping, int(value), period)
                    kept.values[at_value] = kept.values.get(at_value, 0) + sign
                for name, band in bands:
                    at_band = (name, *grouping, period, band)
                    kept.bands[at_band] = kept.bands.get(at_band, 0) + sign
                if live is not None:
                    _add_to(kept.live.setdefault((*grouping, period, *live[0]), [0, 0, 0]), live[1], sign)
                for reason, counts in reasons.items():
                    _add_to(kept.reasons.setdefault((*grouping, period, reason), [0, 0, 0]), counts, sign)

    def change(
        self,
        before: Mapping[str, Any] | None,
        handovers_before: Iterable[Mapping[str, Any]],
        after: Mapping[str, Any],
        handovers_after: Iterable[Mapping[str, Any]],
    ) -> None:
        """A journey as it was (None: new in this batch) and as it is now, each with its handovers."""
        if before is not None:
            if unchanged(before, after, _INPUTS):
                return
            self.add(before, handovers_before, -1)
        self.add(after, handovers_after, 1)

    def batch(
        self,
        loaded: Iterable[tuple[Any, Mapping[str, Any]]],
        new: Iterable[Any],
        allocations_before: Iterable[Mapping[str, Any]],
        allocations: Mapping[Any, Sequence[Any]],
    ) -> None:
        """Every journey of a batch: those loaded as (row, values before), the new rows, the
        allocations as they were before, and every allocation now by journey id."""
        before: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for a in allocations_before:
            if a["kind"] == "transferred":
                before[a["journey_id"]].append(a)

        def handovers(journey_id: Any) -> list[Mapping[str, Any]]:
            return [a.__dict__ for a in allocations.get(journey_id, ()) if a.kind == "transferred"]

        for row, values in loaded:
            self.change(values, before[row.journey_id], row.__dict__, handovers(row.journey_id))
        for row in new:
            self.change(None, (), row.__dict__, handovers(row.journey_id))

    def increments(self) -> list[Increments]:
        """The net changes, table by table, as `add_increments` takes them (see
        `ContactDayChanges.increments`). Rows left counting nothing are deleted: a journey moves
        between keys' rows as its outcome or team changes, and out of its live row when allocated."""
        return [*self.by_month.increments(), *self.by_day.increments(), *self.by_week.increments()]
