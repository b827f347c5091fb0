"""Working-day arithmetic for front-door timescales (England & Wales).

A *working day* is Monday to Friday in Europe/London, excluding England & Wales
bank holidays (including one-off days such as the 2022 State Funeral and weekend
substitute days). A calendar may also know about local closure days (e.g. a
council's Christmas closure); those apply only to local measures, never to
statutory ones, so the default calendar ignores them.

Conventions (all tested in ``tests/shared/test_working_days.py``):

* Stored instants are timezone-aware UTC datetimes; every calculation is done on
  Europe/London wall-clock time and results are returned as UTC-aware datetimes.
  Naive datetimes are rejected with ``ValueError``.
* Office hours are the half-open interval ``[office_start, office_end)``; an event
  at exactly ``office_end`` is outside office hours.
* ``Counting.DAY_AFTER_IS_DAY_1`` (``"day_0"``, the default): the start date is
  day 0, so "1 working day" from a Monday is Tuesday.
  ``Counting.START_IS_DAY_1`` (``"day_1"``): the start date is day 1 when it is a
  working day (D2I's ``start + CustomBusinessDay(n - 1)``).
* The ``*_between`` functions never return a negative value: if ``end`` precedes
  ``start`` they return 0 and leave ordering validation to the caller.

Pure module: no database, no web framework.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "LONDON",
    "STATUTORY",
    "Counting",
    "WorkingCalendar",
    "bank_holidays",
    "london_date",
]

LONDON = ZoneInfo("Europe/London")


def london_date(at: datetime) -> date:
    """The date on the office calendar (Europe/London) at instant ``at``."""
    return at.astimezone(LONDON).date()


_ONE_DAY = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)


class Counting(StrEnum):
    """How "n working days" is counted from a start date."""

    # Day 0 is the start date: n working days *after* the start.
    DAY_AFTER_IS_DAY_1 = "day_0"
    # The start date is day 1 when it is a working day (D2I convention).
    START_IS_DAY_1 = "day_1"


@cache
def bank_holidays(year: int) -> tuple[date, ...]:
    """England & Wales bank holidays in ``year`` that fall on a weekday, sorted.

    This is the gov.uk "england-and-wales" list: weekend dates the package also
    reports (e.g. Christmas Day on a Sunday) are dropped because their weekday
    substitute is the day off, and weekends are excluded anyway.
    """
    # subdiv="ENG" matters: plain "GB" would mix in Scottish/NI days.
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=year)
    return tuple(sorted(d for d in calendar if d.year == year and d.weekday() < 5))


def _weekdays_through(ordinal: int) -> int:
    """Number of Mon-Fri days with proleptic ordinal in ``1..ordinal``.

    Ordinal 1 (0001-01-01) is a Monday, so whole weeks contribute 5 each.
    """
    weeks, rest = divmod(ordinal, 7)
    return weeks * 5 + min(rest, 5)


def _ordinal_of_weekday_number(k: int) -> int:
    """Inverse of ``_weekdays_through``: ordinal of the k-th weekday (k >= 1)."""
    weeks, rest = divmod(k - 1, 5)
    return weeks * 7 + rest + 1


def _weekdays_between(start: date, end: date) -> int:
    """Mon-Fri days d with start < d <= end (0 if end <= start)."""
    if end <= start:
        return 0
    return _weekdays_through(end.toordinal()) - _weekdays_through(start.toordinal())


def _add_weekdays(start: date, k: int) -> date:
    """The date that is the k-th Mon-Fri day after ``start`` (k >= 1)."""
    target = _weekdays_through(start.toordinal()) + k
    return date.fromordinal(_ordinal_of_weekday_number(target))


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (stored times are UTC)")


def _as_london(value: datetime, name: str) -> datetime:
    _require_aware(value, name)
    return value.astimezone(LONDON)


class WorkingCalendar:
    """England & Wales working-day calendar with optional local closures.

    ``extra_closures`` are remembered whatever ``include_local_closures`` says,
    so ``statutory()`` and ``local()`` can switch between the two views of the
    same configuration. Instances are immutable and safe to share across threads
    (the per-year and per-day caches may be filled twice in a race, with identical
    values).

    Results that depend only on a London date (is it a working day, its office
    opening and closing instants, the next working day, the n-th working day
    after it) are memoised per date: projections compute several durations per
    contact, and recomputing zone conversions and holiday look-ups for the same
    few hundred dates dominated their cost. The caches grow with the distinct
    dates seen (a few hundred a year), so they stay small.
    """

    __slots__ = (
        "_add_cache",
        "_cache",
        "_closures",
        "_counting",
        "_day_cache",
        "_include_local",
        "_next_cache",
        "_office_end",
        "_office_start",
    )

    def __init__(
        self,
        extra_closures: Iterable[date] = (),
        include_local_closures: bool = False,
        counting: Counting = Counting.DAY_AFTER_IS_DAY_1,
        office_start: time = time(9),
        office_end: time = time(17),
    ) -> None:
        closures = frozenset(extra_closures)
        for day in closures:
            # A datetime would silently never match a date in set lookups.
            if isinstance(day, datetime) or not isinstance(day, date):
                raise TypeError(f"extra_closures must contain dates, got {day!r}")
        if office_start.tzinfo is not None or office_end.tzinfo is not None:
            raise ValueError("office hours are London wall-clock times; pass naive times")
        if office_start >= office_end:
            raise ValueError("office_start must be before office_end")
        self._closures = closures
        self._include_local = include_local_closures
        self._counting = Counting(counting)
        self._office_start = office_start
        self._office_end = office_end
        # year -> (set for O(1) membership, sorted tuple for bisect range counts)
        self._cache: dict[int, tuple[frozenset[date], tuple[date, ...]]] = {}
        # date -> (working day?, office opening UTC, office closing UTC)
        self._day_cache: dict[date, tuple[bool, datetime, datetime]] = {}
        # date -> first working day strictly after it
        self._next_cache: dict[date, date] = {}
        # (start, n) -> add_working_days(start, n)
        self._add_cache: dict[tuple[date, int], date] = {}

    # -- configuration -------------------------------------------------------------

    @property
    def extra_closures(self) -> frozenset[date]:
        return self._closures

    @property
    def include_local_closures(self) -> bool:
        return self._include_local

    @property
    def counting(self) -> Counting:
        return self._counting

    @property
    def office_start(self) -> time:
        return self._office_start

    @property
    def office_end(self) -> time:
        return self._office_end

    def _with(self, include_local_closures: bool) -> WorkingCalendar:
        if include_local_closures == self._include_local:
            return self
        return WorkingCalendar(
            self._closures, include_local_closures, self._counting, self._office_start, self._office_end
        )

    def statutory(self) -> WorkingCalendar:
        """Same settings, bank holidays only: use for statutory timescales."""
        return self._with(include_local_closures=False)

    def local(self) -> WorkingCalendar:
        """Same settings, also closed on ``extra_closures``: local measures only."""
        return self._with(include_local_closures=True)

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(extra_closures={sorted(self._closures)!r}, "
            f"include_local_closures={self._include_local!r}, counting={self._counting.value!r}, "
            f"office_start={self._office_start!r}, office_end={self._office_end!r})"
        )

    # -- days ----------------------------------------------------------------------

    def _closed(self, year: int) -> tuple[frozenset[date], tuple[date, ...]]:
        """Weekdays in ``year`` that are not working days (sorted, de-duplicated)."""
        cached = self._cache.get(year)
        if cached is None:
            days = set(bank_holidays(year))
            if self._include_local:
                days.update(d for d in self._closures if d.year == year and d.weekday() < 5)
            cached = (frozenset(days), tuple(sorted(days)))
            self._cache[year] = cached
        return cached

    def _closed_between(self, start: date, end: date) -> int:
        """Closed weekdays d with start < d <= end; O(years) with bisect."""
        total = 0
        for year in range(start.year, end.year + 1):
            days = self._closed(year)[1]
            lo = bisect.bisect_right(days, start) if year == start.year else 0
            hi = bisect.bisect_right(days, end) if year == end.year else len(days)
            total += hi - lo
        return total

    def is_working_day(self, d: date) -> bool:
        """True for Mon-Fri days that are not bank holidays (or active closures)."""
        return d.weekday() < 5 and d not in self._closed(d.year)[0]

    def count_working_days(self, start: date, end: date) -> int:
        """Working days d with ``start < d <= end``; 0 if ``end <= start``."""
        if end <= start:
            return 0
        return _weekdays_between(start, end) - self._closed_between(start, end)

    def _nth_after(self, start: date, n: int) -> date:
        """The n-th working day strictly after ``start`` (n >= 1), arithmetically.

        Jump n weekdays ahead, then top up by however many working days are still
        missing. Each jump is the least the answer can be, so we never overshoot,
        and the loop runs about once per cluster of holidays crossed, not per day.
        """
        candidate = _add_weekdays(start, n)
        while (missing := n - self.count_working_days(start, candidate)) > 0:
            candidate = _add_weekdays(candidate, missing)
        return candidate

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        found = self._next_cache.get(d)
        if found is None:
            found = self._next_cache[d] = self._nth_after(d, 1)
        return found

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day counted from ``start`` under ``self.counting``.

        * ``day_0``: n working days after ``start``; ``n == 0`` returns ``start``
          unchanged (even if it is not a working day).
        * ``day_1``: ``n >= 1``; ``start`` is day 1 if it is a working day. If it
          is not, the next working day is day 1 (pandas' CustomBusinessDay would
          instead give the same date for n=1 and n=2 from a non-working start;
          clock starts are always working days, so deadlines never hit this).
        """
        key = (start, n)
        found = self._add_cache.get(key)
        if found is None:
            found = self._add_cache[key] = self._add_working_days(start, n)
        return found

    def _add_working_days(self, start: date, n: int) -> date:
        if self._counting is Counting.DAY_AFTER_IS_DAY_1:
            if n < 0:
                raise ValueError("n must be >= 0")
            return start if n == 0 else self._nth_after(start, n)
        if n < 1:
            raise ValueError("n must be >= 1 when the start day counts as day 1")
        if self.is_working_day(start):
            return start if n == 1 else self._nth_after(start, n - 1)
        return self._nth_after(start, n)

    # -- instants ------------------------------------------------------------------

    def _at_office(self, d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=LONDON).astimezone(UTC)

    def _day(self, d: date) -> tuple[bool, datetime, datetime]:
        """(working day?, office opening, office closing) of London date ``d``, memoised."""
        found = self._day_cache.get(d)
        if found is None:
            found = (
                self.is_working_day(d),
                self._at_office(d, self._office_start),
                self._at_office(d, self._office_end),
            )
            self._day_cache[d] = found
        return found

    def _clock(self, at: datetime) -> tuple[datetime, date]:
        """``clock_start(at)`` and its London date."""
        day = _as_london(at, "at").date()
        working, open_at, close_at = self._day(day)
        if working:
            # Comparing instants equals comparing London wall-clock times here: clocks change
            # on Sunday nights, never during a working day's office hours.
            if at < open_at:
                return open_at, day
            if at < close_at:
                return at.astimezone(UTC), day
        day = self.next_working_day(day)
        return self._day(day)[1], day

    def clock_start(self, at: datetime) -> datetime:
        """When a contact received at ``at`` starts its clock (UTC-aware).

        ``at`` itself if it is within office hours on a working day; that day's
        office start if earlier on a working day; otherwise the office start of
        the next working day.
        """
        return self._clock(at)[0]

    def deadline(self, received_at: datetime, n: int) -> datetime:
        """UTC instant at office close (London) on the n-th working day of the clock.

        The clock starts at ``clock_start(received_at)`` and days are counted from
        its London date under ``self.counting``. With the default ``day_0``, "within
        1 working day" of a Monday 10:00 contact is Tuesday 17:00; with ``day_1``
        it is Monday 17:00.
        """
        start_day = self._clock(received_at)[1]
        return self._day(self.add_working_days(start_day, n))[2]

    def within_working_days(self, received_at: datetime, decided_at: datetime, n: int) -> bool:
        """True if ``decided_at`` is at or before ``deadline(received_at, n)``."""
        _require_aware(decided_at, "decided_at")
        return decided_at <= self.deadline(received_at, n)

    def receipt_cutoff(self, due: datetime, n: int) -> datetime:
        """The earliest receipt instant whose ``deadline(·, n)`` is at or after ``due`` (UTC-aware).

        A contact received before it is due before ``due``; one received at or after it is due at or
        after ``due``. So a condition on a deadline, which is not stored, is a condition on the receipt
        time, which is: ``deadline(r, n) < due`` exactly when ``r < receipt_cutoff(due, n)``.

        That holds because the deadline never falls earlier for a contact received later: the clock's
        start day never goes back as the receipt moves on (out of hours and closed days move it to the
        next working day), the n-th working day from a later start day is never earlier under either
        counting convention (start days are always working days), and office close is later on a
        later day. The deadline is a step function that moves at each working day's office close, so
        the answer is one of those instants; it is found by bisection over microseconds (the resolution
        of datetimes and of both databases), which needs no more than that monotony.
        """
        _require_aware(due, "due")
        due = due.astimezone(UTC)
        # Every deadline is after its receipt (office close on or after the clock start's day), so a
        # contact received at `due` is due after it: the answer is at most `due`.
        late = due
        # Go back in doubling steps until a receipt is due before `due`: a couple of steps for a
        # deadline of days, about nine for a year's; local closures may stretch it, and the loop
        # goes as far as they do.
        step = _ONE_DAY
        early = due - step
        while self.deadline(early, n) >= due:
            late = early
            step *= 2
            early = due - step
        # deadline(early) < due <= deadline(late): the answer is in (early, late].
        while late - early > _ONE_MICROSECOND:
            middle = early + (late - early) // 2
            if self.deadline(middle, n) >= due:
                late = middle
            else:
                early = middle
        return late

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days d with London date(start) < d <= London date(end).

        0 on the same London day and 0 (not negative) if ``end`` precedes ``start``.
        Pass ``clock_start(...)`` values if the clock convention should apply.
        """
        start_day = _as_london(start, "start").date()
        end_day = _as_london(end, "end").date()
        return self.count_working_days(start_day, end_day)

    def _office_overlap_seconds(self, day: date, start: datetime, end: datetime) -> float:
        working, open_at, close_at = self._day(day)
        if not working:
            return 0.0
        open_at = max(open_at, start)
        close_at = min(close_at, end)
        return max((close_at - open_at).total_seconds(), 0.0)

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Hours inside office hours on working days between two instants (>= 0)."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        if end_utc <= start_utc:
            return 0.0
        first = start_utc.astimezone(LONDON).date()
        last = end_utc.astimezone(LONDON).date()
        seconds = self._office_overlap_seconds(first, start_utc, end_utc)
        if last > first:
            seconds += self._office_overlap_seconds(last, start_utc, end_utc)
            # Whole days in between are counted arithmetically. A full office day
            # is always office_end - office_start of real time, because UK clocks
            # change at 01:00 on a Sunday, never on a working day.
            full_days = self.count_working_days(first, last - _ONE_DAY)
            office_seconds = (
                datetime.combine(first, self._office_end) - datetime.combine(first, self._office_start)
            ).total_seconds()
            seconds += full_days * office_seconds
        return seconds / 3600.0

    @staticmethod
    def calendar_hours_between(start: datetime, end: datetime) -> float:
        """Elapsed real hours between two instants (>= 0).

        Converts to UTC first: subtracting two datetimes that share a ZoneInfo
        compares wall-clock times and would be an hour out across a clock change.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        seconds = (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()
        return max(seconds / 3600.0, 0.0)


# Shared default instance so hot paths reuse one per-year cache.
STATUTORY = WorkingCalendar()


def calendar_for(
    counting: Counting,
    local_closures: Iterable[date] = (),
    office_start: time = STATUTORY.office_start,
    office_end: time = STATUTORY.office_end,
) -> WorkingCalendar:
    """One shared calendar per counting convention, set of local closure days (closed days too) and
    office hours: settings that build their calendar per request keep its caches across requests."""
    return _calendar_for(Counting(counting), frozenset(local_closures), office_start, office_end)


@cache
def _calendar_for(
    counting: Counting, local_closures: frozenset[date], office_start: time, office_end: time
) -> WorkingCalendar:
    hours = (office_start, office_end)
    if (
        counting is STATUTORY.counting
        and not local_closures
        and hours == (STATUTORY.office_start, STATUTORY.office_end)
    ):
        return STATUTORY
    return WorkingCalendar(
        extra_closures=local_closures,
        include_local_closures=True,
        counting=counting,
        office_start=office_start,
        office_end=office_end,
    )
