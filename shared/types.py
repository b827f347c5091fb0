"""Column and field types shared by all services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints
from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from shared.working_days import LONDON


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on PostgreSQL and on SQLite (which has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# A simulated "now" for replaying history in-process (`frontdoor seed` sets it per step so that a
# seeded year is recorded as it would have been at the time); None, the default, means the real clock.
simulated_now: ContextVar[datetime | None] = ContextVar("simulated_now", default=None)


def utcnow() -> datetime:
    simulated = simulated_now.get()
    return simulated if simulated is not None else datetime.now(UTC)


@contextmanager
def now_is(at: datetime) -> Iterator[None]:
    """`utcnow()` is `at` inside the block (in this context only): history replayed in-process."""
    token = simulated_now.set(at)
    try:
        yield
    finally:
        simulated_now.reset(token)


def beyond_clock_skew(at: datetime, now: datetime, tolerance: timedelta) -> bool:
    """A time a client gave is in the future only beyond the clock skew allowed (`tolerance`): its
    clock may run a little ahead of ours."""
    return at > now + tolerance


def as_utc(value: datetime) -> datetime:
    """An aware time in UTC, for validators: a time near the ends of the calendar whose offset takes
    it past year 1 or 9999 cannot be converted, which is bad input (ValueError), not a server error."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


# Every character below 32 but tab, newline and carriage return; a regex, not a loop over characters
# in Python (a 4,000-character text cost ~0.2 ms).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def no_control_characters(value: str) -> str:
    """A validator for free text: PostgreSQL refuses NUL in text (a 500 if it got that far); other
    controls (terminal escapes, form feeds) are never meant."""
    if _CONTROL_CHARACTER.search(value):
        raise ValueError("control characters are not allowed")
    return value


# The calendar arithmetic done on a time or date (a statutory deadline, a supervision interval of up to
# 260 working days, the day after) looks up to a year or so beyond it, so the last year is out.
LAST_CALENDAR_YEAR = 9998


def on_the_calendar(value: date) -> date:
    """A validator for a date the working-day calendar counts on from: not in year 9999."""
    if value.year > LAST_CALENDAR_YEAR:
        raise ValueError(f"must be before the year {LAST_CALENDAR_YEAR + 1}")
    return value


def on_the_london_calendar(value: datetime) -> datetime:
    """A validator for an aware time placed on the London calendar: one within minutes of year 1
    cannot be (London kept its local mean time, 1 minute 15 seconds behind UTC, before 1847), nor one
    in year 9999 (`on_the_calendar`)."""
    try:
        london = value.astimezone(LONDON)
    except OverflowError:
        raise ValueError("is out of range") from None
    on_the_calendar(london.date())
    return value


# Values read from another service's journey feed, bounded to what the projections' columns hold
# (team and area ids of 80 characters, worker ids of 120, UTC times) and the calendar counts from
# (times and dates on the London calendar): a value beyond them would fail its batch's write on every
# retry (PostgreSQL: value too long; a NUL; a time before year 1 in UTC), stopping the feed, or fail
# every later read that counts working days from it, so it makes the payload unreadable, skipped and
# counted like any other.
FeedId = Annotated[str, StringConstraints(max_length=80), AfterValidator(no_control_characters)]
FeedWorkerId = Annotated[str, StringConstraints(max_length=120), AfterValidator(no_control_characters)]
FeedTime = Annotated[AwareDatetime, AfterValidator(as_utc), AfterValidator(on_the_london_calendar)]
FeedDate = Annotated[date, AfterValidator(on_the_calendar)]


def _written_as(pattern: re.Pattern[str], what: str) -> BeforeValidator:
    def check(value: object) -> object:
        # pydantic reads a number, or text of digits, as seconds since 1970: a partner's "20240301"
        # became 23 August 1970. Dates and times are ISO 8601 text, as the OpenAPI document says.
        if isinstance(value, int | float | str) and not (isinstance(value, str) and pattern.match(value)):
            raise ValueError(f"must be written as an ISO 8601 {what}")
        return value

    return BeforeValidator(check)


_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
IsoDate = Annotated[date, _written_as(re.compile(_DATE + "$"), "date, e.g. 2024-03-01")]
IsoDateTime = Annotated[
    AwareDatetime,
    _written_as(re.compile(_DATE + "[Tt ][0-9]{2}:[0-9]{2}"), "date-time, e.g. 2024-03-01T10:00:00Z"),
]
# A date a client gives that is published, or counted on from: one the feed's readers take (FeedDate).
CalendarDate = Annotated[IsoDate, AfterValidator(on_the_calendar)]
