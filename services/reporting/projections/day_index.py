"""Working-day positions stored in projection rows, so reports can do calendar arithmetic in SQL.

A date's *day index* is the number of working days d with EPOCH < d <= date (negative before
EPOCH), so `count_working_days(a, b)` is `day_index(b) - day_index(a)` for a <= b: a report
subtracts two integers instead of walking a calendar. The *half index* 2 x day_index - [working
day] orders dates as they fall, telling a working day from the closed days after it (ties only
between closed days in the same gap), so due dates of both kinds can be compared and sorted in SQL.

Indices use the local calendar (supervision and unallocated time are local measures) and, like
every stored duration, are computed when an event is applied: after changing a calendar setting,
rebuild.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from shared.working_days import Counting, WorkingCalendar, london_date

EPOCH = date(2000, 1, 1)
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR


@lru_cache(maxsize=8192)  # a feed's events fall on few distinct days
def day_index(calendar: WorkingCalendar, d: date) -> int:
    if d >= EPOCH:
        return calendar.count_working_days(EPOCH, d)
    return -calendar.count_working_days(d, EPOCH)


def half_index(calendar: WorkingCalendar, d: date) -> int:
    return 2 * day_index(calendar, d) - (1 if calendar.is_working_day(d) else 0)


def due_base(calendar: WorkingCalendar, start: date) -> int:
    """The day index b such that `add_working_days(start, n)` is the working day of index b + n
    (n >= 1): under day_1 counting a working start day is itself day 1."""
    base = day_index(calendar, start)
    if calendar.counting is Counting.START_IS_DAY_1 and calendar.is_working_day(start):
        base -= 1
    return base


def microseconds(at: datetime) -> int:
    """Microseconds since the Unix epoch: exact, so SQL differences equal Python's timedeltas."""
    delta = at.astimezone(UTC) - _UNIX
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def index_supervision(calendar: WorkingCalendar, row: Any) -> None:
    """Set a supervision row's due base (from the day it was held) and next-due half index."""
    row.due_base_day = due_base(calendar, london_date(row.held_at))
    row.next_due_half_day = None if row.next_due_on is None else half_index(calendar, row.next_due_on)


def index_journey(calendar: WorkingCalendar, row: Any) -> None:
    """Set a journey's due base (from its first contact, for a journey never supervised) and the
    position of its open unallocated spell, if any, with the origin of its unallocated time."""
    opened, since = row.opened_at, row.unallocated_since
    row.due_base_day = None if opened is None else due_base(calendar, london_date(opened))
    row.unallocated_since_day = None if since is None else day_index(calendar, london_date(since))
    since_us = row.unallocated_since_us = None if since is None else microseconds(since)
    row.unallocated_origin_us = (
        None if since_us is None else since_us - closed_microseconds(row.unallocated_hours_closed)
    )


def closed_microseconds(hours: float) -> int:
    """Completed unallocated hours in whole microseconds, as the kept sums count them."""
    return round(hours * US_PER_HOUR)
