"""Calendar dates on the office calendar (Europe/London): months back and forth, and the instants a
range of London dates covers. Working days are in `shared.working_days`."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta

from shared.errors import Unprocessable
from shared.working_days import LONDON, london_date

# Windows and reports cover the working lives of front doors, not all of time: this also keeps date
# arithmetic (a year back, a month on) in range.
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2099, 12, 31)


def require_dates_in_range(*dates: tuple[date | None, str]) -> None:
    """422 naming the first query parameter (given as `(value, name)`) whose date lies outside
    EARLIEST_DATE..LATEST_DATE; a missing date is not checked."""
    for value, name in dates:
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise Unprocessable(
                f"Dates must lie between {EARLIEST_DATE} and {LATEST_DATE}.", field=name, location="query"
            )


def add_months(d: date, months: int) -> date:
    """The same day `months` calendar months later (earlier when negative), or the month's last day
    when it is shorter (31 August less 6 months is 28 or 29 February)."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, calendar.monthrange(year, month + 1)[1]))


def one_year_before(d: date) -> date:
    """The same date a year earlier (28 February for 29 February)."""
    return add_months(d, -12)


def london_window(from_date: date, to_date: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC for London dates from..to inclusive."""
    start = datetime.combine(from_date, time(0), tzinfo=LONDON).astimezone(UTC)
    end = datetime.combine(to_date + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(UTC)
    return start, end


def within_twelve_months(previous: datetime, later: datetime) -> bool:
    """Whether a contact or referral received at `previous` (not later) lies within the 12 months
    before one received at `later`, as DfE counts re-referrals: the earlier one's London date on or
    after the same date a year before the later one's (28 February for 29 February), whatever the
    times of day. Reporting's re-referrals, the referrals service's history at the point of decision
    and the seed's summary all count with this."""
    return london_date(previous) >= one_year_before(london_date(later))
