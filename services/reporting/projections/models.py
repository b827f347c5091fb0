"""Reporting's projections of the two journey feeds: facts keyed by ids, joined at query time.

Every row is coded and pseudonymous (ids, codes, times, team ids, areas). Durations are computed
when an event is applied, so reports read rows and never replay events.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, text
from sqlmodel import Field, SQLModel

from services.reporting.db import Base
from shared.types import UTCDateTime

# What the awaiting-decision figures read of a waiting contact: ix_rpt_contacts_undecided is on the
# first and covers the rest, so those figures need no visit to the table (PostgreSQL).
AWAITING_COLUMNS = ("received_at", "team_id", "area", "source", "decision_due_at")

# The column each grouping of contacts reads, for the reports' SQL (`Reports._contact_group_sql`)
# and for the conversion counts kept per day (`contact_days.group_keys`): one rule for both.
CONTACT_GROUP_COLUMNS = {"area": "area", "team": "team_id", "source": "source", "outcome": "current_outcome"}
# ... and each grouping of journeys (`Reports._journey_group_sql`, `journey_months.JourneyMonthChanges`).
JOURNEY_GROUP_COLUMNS = {"area": "area", "team": "team_id", "source": "source", "outcome": "outcome"}
WHOLE = ("all", "ALL")  # the (dimension, key) of kept rows that count every contact or journey


# A journey whose unallocated time depends on the time of the request (Reports._unallocated_sql).
LIVE_JOURNEY = "unallocated_since_us IS NOT NULL AND closed_at IS NULL"
LIVE_JOURNEY_COLUMNS = (
    "opened_at",
    "unallocated_since_us",
    "unallocated_since_day",
    "unallocated_hours_closed",
    "unallocated_working_days_closed",
)


def blank_group_key(dimension: str) -> str:
    """The group of rows with no value for a grouping (the reports' rule, in SQL and in Python)."""
    return "undecided" if dimension == "outcome" else "unknown"


def group_keys(
    row: Mapping[str, Any], columns: Mapping[str, str | tuple[str, ...]]
) -> tuple[tuple[str, str], ...]:
    """(dimension, key) of every kept row a contact or journey counts in: the whole's, then one per
    grouping in `columns` (dimension -> the row's column, or columns of which the first non-blank
    wins), blank values grouped as the reports' SQL groups them (`Reports._group_sql`)."""
    keys = [WHOLE]
    for dimension, column in columns.items():
        names = column if isinstance(column, tuple) else (column,)
        value = next((v for c in names if (v := row[c]) is not None and v != ""), None)
        keys.append((dimension, blank_group_key(dimension) if value is None else value))
    return tuple(keys)


class ContactFact(Base, table=True):
    """One row per contact: when it arrived, its decisions summarised, and precomputed durations."""

    __tablename__ = "rpt_contacts"
    __table_args__ = (
        # The awaiting-decision queue (contacts not decided yet) by arrival, holding every column its
        # figures read: an index-only scan of the queue on PostgreSQL instead of a visit to each
        # waiting contact's row, scattered across the table.
        Index(
            "ix_rpt_contacts_undecided",
            AWAITING_COLUMNS[0],
            postgresql_include=list(AWAITING_COLUMNS[1:]),
            postgresql_where=text("first_decided_at IS NULL"),
            sqlite_where=text("first_decided_at IS NULL"),
        ),
    )

    contact_id: uuid.UUID = Field(primary_key=True)
    journey_id: uuid.UUID = Field(index=True)
    child_id: uuid.UUID = Field(index=True)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    backdated: bool = False
    source: str | None = Field(default=None, max_length=10)
    channel: str | None = Field(default=None, max_length=40)
    urgency: str | None = Field(default=None, max_length=20)
    team_id: str | None = Field(default=None, max_length=80)
    area: str | None = Field(default=None, max_length=80)
    opens_journey: bool = False
    repeat_contact: bool = False
    decision_due_at: datetime = Field(sa_type=UTCDateTime, description="Statutory decision deadline.")
    # Decisions, recomputed from rpt_decisions whenever one of them changes.
    decisions: int = 0
    first_decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    current_decision_id: uuid.UUID | None = None
    current_outcome: str | None = Field(default=None, max_length=40)
    current_decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    requires_authorisation: bool = False
    authorised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    working_hours_to_decision: float | None = None
    working_days_to_decision: int | None = None
    calendar_hours_to_decision: float | None = None
    decided_within_timescale: bool | None = None
    working_hours_to_authorisation: float | None = None
    working_days_to_authorisation: int | None = None
    calendar_hours_to_authorisation: float | None = None
    # Recomputed for all of a child's contacts whenever one of them changes (contact_days.py).
    re_referral: bool = Field(
        default=False, description="A referral with another referral of the child in the 12 months before."
    )


class ContactCounts(SQLModel):
    """The conversion and contact-to-outcome counts kept for the contacts received in one London
    period (a day, a month) for one grouping key: counts and whole-number sums, so they add up
    exactly, and a period's are the sum of its days'."""

    contacts: int = 0
    repeat_contacts: int = 0
    decided: int = 0
    nfa: int = 0
    info_advice: int = 0
    early_help: int = 0
    cin_assessment: int = 0
    strategy_s47: int = 0
    existing_open_case: int = 0
    other: int = 0
    referrals: int = 0
    re_referrals: int = 0
    # Contact to outcome: contacts with a first decision, and the other counts it shows.
    first_decided: int = 0
    backdated: int = 0
    with_superseded_decision: int = 0
    decided_within_timescale: int = 0
    authorised: int = 0
    awaiting_authorisation: int = 0
    # Sums of the durations behind the means: hours in microseconds, so that taking a contact off
    # restores the sum exactly (floats would drift).
    sum_decision_working_hours_us: int = Field(0, sa_type=BigInteger)
    sum_decision_working_days: int = 0
    sum_decision_calendar_hours_us: int = Field(0, sa_type=BigInteger)
    sum_authorisation_working_hours_us: int = Field(0, sa_type=BigInteger)
    sum_authorisation_working_days: int = 0
    sum_authorisation_calendar_hours_us: int = Field(0, sa_type=BigInteger)


class ContactDay(ContactCounts, Base, table=True):
    """The conversion and contact-to-outcome counts (`ContactCounts`) of the contacts received on
    one London day, for one grouping key.

    Kept by the projection as it applies events (a contact's old contribution taken off, its new
    one added), so those reports read a row per day and key, not every contact. `dimension` is
    `all` (key `ALL`) or the attribute grouped by (area, team, source, outcome) with the key the
    report shows for it.
    """

    __tablename__ = "rpt_contact_days"

    day: date = Field(primary_key=True, description="London date of received_at.")
    dimension: str = Field(primary_key=True, max_length=10)
    key: str = Field(primary_key=True, max_length=80)


class ContactMonth(ContactCounts, Base, table=True):
    """`ContactDay` per London month: kept with the day rows, from the same changes, so that a range
    reads a row per month and key for the months it covers whole, or more than half of, and the
    day rows only for the rest of its edge months (`Reports._kept_months`): a year by source is
    some 12 rows per source, not 365."""

    __tablename__ = "rpt_contact_months"

    month: date = Field(primary_key=True, description="First day of the London month of received_at.")
    dimension: str = Field(primary_key=True, max_length=10)
    key: str = Field(primary_key=True, max_length=80)


class ContactDurationMonth(Base, table=True):
    """How many contacts received in one London month took each duration to decision or to
    authorisation, over all contacts (no grouping key).

    The contact-to-outcome percentiles by month or quarter are read from these counts (corrected by
    the contacts of the range's partial edge months) instead of sorting every contact. Hours are
    counted in tenths of an hour (the precision the report gives its hour percentiles), working days
    in whole days; so the number of rows is bounded by the durations that occur in a month, not by
    the number of contacts."""

    __tablename__ = "rpt_contact_duration_months"

    # Keyed by duration and value first: a percentile reads the values of one band in every month.
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    value: int = Field(primary_key=True, description="Tenths of an hour, or whole working days.")
    month: date = Field(primary_key=True, description="First day of the London month of received_at.")
    contacts: int = 0


class ContactDurationBand(Base, table=True):
    """`ContactDurationMonth` counted in bands of ten values (whole hours, or ten working days), so
    that a percentile is found by reading the bands, then the values of the one band it falls in,
    not every value that occurs."""

    __tablename__ = "rpt_contact_duration_bands"

    month: date = Field(primary_key=True, description="First day of the London month of received_at.")
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    band: int = Field(primary_key=True, description="value // 10 of the values counted.")
    contacts: int = 0


class ContactDurationKeyMonth(Base, table=True):
    """`ContactDurationMonth` per grouping key: how many contacts of one key (`dimension` area, team,
    source or outcome, as in `ContactDay`) received in one London month took each duration, so that
    the percentiles by key over whole months are read from counts, not by sorting the contacts."""

    __tablename__ = "rpt_contact_duration_key_months"

    # Keyed by key before value: a percentile reads the values of one band of one key.
    dimension: str = Field(primary_key=True, max_length=10)
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    key: str = Field(primary_key=True, max_length=80)
    value: int = Field(primary_key=True, description="Tenths of an hour, or whole working days.")
    month: date = Field(primary_key=True, description="First day of the London month of received_at.")
    contacts: int = 0


class ContactDurationKeyBand(Base, table=True):
    """`ContactDurationKeyMonth` counted in bands of ten values, as `ContactDurationBand`."""

    __tablename__ = "rpt_contact_duration_key_bands"

    dimension: str = Field(primary_key=True, max_length=10)
    month: date = Field(primary_key=True, description="First day of the London month of received_at.")
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    key: str = Field(primary_key=True, max_length=80)
    band: int = Field(primary_key=True, description="value // 10 of the values counted.")
    contacts: int = 0


class ContactDurationKeyDay(Base, table=True):
    """`ContactDurationKeyMonth` per London day: by a key, a range that covers a month in part takes
    that month's days from these rows (as the whole takes them from `ContactDurationDay`), not from
    the contacts, so reading an edge does not grow with the contacts received on its days."""

    __tablename__ = "rpt_contact_duration_key_days"

    # Keyed by day before the rest: an edge's rows of one dimension are one range of the key.
    dimension: str = Field(primary_key=True, max_length=10)
    day: date = Field(primary_key=True, description="London date of received_at.")
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    key: str = Field(primary_key=True, max_length=80)
    value: int = Field(primary_key=True, description="Tenths of an hour, or whole working days.")
    contacts: int = 0


class ContactDurationKeyDayBand(Base, table=True):
    """`ContactDurationKeyDay` counted in bands of ten values, as `ContactDurationBand` per month."""

    __tablename__ = "rpt_contact_duration_key_day_bands"

    dimension: str = Field(primary_key=True, max_length=10)
    day: date = Field(primary_key=True, description="London date of received_at.")
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    key: str = Field(primary_key=True, max_length=80)
    band: int = Field(primary_key=True, description="value // 10 of the values counted.")
    contacts: int = 0


class ContactDurationDay(Base, table=True):
    """`ContactDurationMonth` per London day: a range that covers a month in part takes that
    month's days from these rows (at most about half a month at each edge), not from the contacts."""

    __tablename__ = "rpt_contact_duration_days"

    # Keyed by day first: every reading takes a few days (an edge, a partial week), and a band's
    # values on those days are then one range of the key per day, where keyed by value first they
    # were a range over every day of the table.
    day: date = Field(primary_key=True, description="London date of received_at.")
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    value: int = Field(primary_key=True, description="Tenths of an hour, or whole working days.")
    contacts: int = 0


class ContactDurationDayBand(Base, table=True):
    """`ContactDurationDay` counted in bands of ten values, as `ContactDurationBand` per month."""

    __tablename__ = "rpt_contact_duration_day_bands"

    day: date = Field(primary_key=True, description="London date of received_at.")
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    band: int = Field(primary_key=True, description="value // 10 of the values counted.")
    contacts: int = 0


class ContactDurationWeek(Base, table=True):
    """`ContactDurationMonth` per ISO week (Monday to Sunday, London dates): contact to outcome by
    week reads a whole week's counts here, not its seven days' (`ContactDurationDay`), whose rows
    and reading grow seven times as fast."""

    __tablename__ = "rpt_contact_duration_weeks"

    # Keyed by week before value: only the report by week reads these rows, each week the values of
    # its own band, and those are then one short range of the key per week. Keyed by value first,
    # each band's range held every week's values of it (about 8 of 12 ms of the reading, at 923,424
    # contacts).
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    week: date = Field(primary_key=True, description="The Monday of the ISO week of received_at (London).")
    value: int = Field(primary_key=True, description="Tenths of an hour, or whole working days.")
    contacts: int = 0


class ContactDurationWeekBand(Base, table=True):
    """`ContactDurationWeek` counted in bands of ten values, as `ContactDurationBand` per month."""

    __tablename__ = "rpt_contact_duration_week_bands"

    week: date = Field(primary_key=True, description="The Monday of the ISO week of received_at (London).")
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    band: int = Field(primary_key=True, description="value // 10 of the values counted.")
    contacts: int = 0


class ContactDurationWeekdayMonth(Base, table=True):
    """`ContactDurationMonth` per London weekday of the month: contact to outcome by day of the week
    reads a whole month's counts of each weekday here (seven rows' worth a month), not every day's
    (`ContactDurationDay`), whose reading grows with the days and the values met on each."""

    __tablename__ = "rpt_contact_duration_weekday_months"

    # As the month rows: a percentile reads the values of one band in every month and weekday.
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    value: int = Field(primary_key=True, description="Tenths of an hour, or whole working days.")
    month: date = Field(primary_key=True, description="First day of the London month of received_at.")
    weekday: int = Field(primary_key=True, description="London weekday of received_at: 0 Monday .. 6 Sunday.")
    contacts: int = 0


class ContactDurationWeekdayBand(Base, table=True):
    """`ContactDurationWeekdayMonth` counted in bands of ten values, as `ContactDurationBand`."""

    __tablename__ = "rpt_contact_duration_weekday_bands"

    month: date = Field(primary_key=True, description="First day of the London month of received_at.")
    weekday: int = Field(primary_key=True, description="London weekday of received_at: 0 Monday .. 6 Sunday.")
    metric: str = Field(primary_key=True, max_length=40, description="e.g. decision_working_hours.")
    band: int = Field(primary_key=True, description="value // 10 of the values counted.")
    contacts: int = 0


class JourneyMonth(Base, table=True):
    """The handover counts of the journeys opened (first contact received) in one London month, over
    all journeys (no grouping key): kept like `ContactDay` (journey_months.py).

    The unallocated sum is over *settled* journeys only: those not live (a live journey is open
    and without a named worker now, so its unallocated time grows with the time of the request
    and is counted in `JourneyLiveDay` instead)."""

    __tablename__ = "rpt_journey_months"

    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    month: date = Field(primary_key=True, description="First day of the London month of opened_at.")
    journeys: int = 0
    closed: int = 0
    sum_settled_unallocated_us: int = Field(0, sa_type=BigInteger)


class JourneyMonthValue(Base, table=True):
    """How many journeys opened in one London month had each value of a handover figure: team
    transfers and worker changes over every journey, unallocated working days and unallocated
    days (in hundredths of a day, as the report rounds them) over settled journeys, and the standard
    transfer's lag (working days, and days in hundredths) over the journeys that have one."""

    __tablename__ = "rpt_journey_month_values"

    # Keyed by figure first (a report reads the small-valued figures whole), then by grouping and
    # value: the values of one band are read across the months.
    metric: str = Field(primary_key=True, max_length=40)
    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    value: int = Field(primary_key=True)
    month: date = Field(primary_key=True, description="First day of the London month of opened_at.")
    journeys: int = 0


class JourneyMonthBand(Base, table=True):
    """Settled journeys' unallocated days, and the standard transfer's lag in days, counted in bands
    of whole days (100 hundredths), so a median or maximum reads the bands, then the values of one
    band."""

    __tablename__ = "rpt_journey_month_bands"

    metric: str = Field(primary_key=True, max_length=40)
    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    month: date = Field(primary_key=True, description="First day of the London month of opened_at.")
    band: int = Field(primary_key=True, description="value // 100 of the values counted.")
    journeys: int = 0


class JourneyLiveDay(Base, table=True):
    """The live journeys (open, without a named worker) opened in one London month, counted by the
    day index their open spell began, their completed working days, and the UTC day of their
    origin (`JourneyFact.unallocated_origin_us`). At any time `now` after the spell began's day,
    the journeys of one row have the same unallocated working days, unallocated hours within one
    day of each other, and unallocated microseconds summing to
    sum_closed_us + journeys x now - (journeys x origin_day x 86,400,000,000 + sum_since_offset_us).

    Kept like `JourneyMonth` (journey_months.py), so the handovers report reads these rows, not
    every live journey, and only the live journeys of the origin days at a median or maximum."""

    __tablename__ = "rpt_journey_live_days"

    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    month: date = Field(primary_key=True, description="First day of the London month of opened_at.")
    since_day: int = Field(primary_key=True, description="unallocated_since_day.")
    closed_days: int = Field(primary_key=True, description="unallocated_working_days_closed.")
    origin_day: int = Field(primary_key=True, description="unallocated_origin_us // 86,400,000,000.")
    journeys: int = 0
    sum_closed_us: int = Field(
        0, sa_type=BigInteger, description="Sum of the completed spells' hours in whole microseconds."
    )
    sum_since_offset_us: int = Field(
        0, sa_type=BigInteger, description="Sum of unallocated_since_us - origin_day x 86,400,000,000."
    )


class JourneyMonthReason(Base, table=True):
    """The handovers of journeys opened in one London month, by reason (RIIA code or `unknown`)."""

    __tablename__ = "rpt_journey_month_reasons"

    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    month: date = Field(primary_key=True, description="First day of the London month of opened_at.")
    reason: str = Field(primary_key=True, max_length=20)
    handovers: int = 0
    team_transfers: int = 0
    worker_changes: int = 0


class JourneyDay(Base, table=True):
    """`JourneyMonth` per London day of the first contact: a handovers report over a range that
    covers a month in part takes that month's days from these rows (at most about half a month at
    each edge: `Reports._kept_months`), not from the journeys opened on them. Kept with the month
    rows, from the same contribution of each journey (journey_months.py).

    Keyed by key before day, as the month rows by key before month: a report reads the keys of a
    dimension it has found in the counts (`_KeptGroups`), each key's span of days one range."""

    __tablename__ = "rpt_journey_days"

    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    day: date = Field(primary_key=True, description="London date of opened_at.")
    journeys: int = 0
    closed: int = 0
    sum_settled_unallocated_us: int = Field(0, sa_type=BigInteger)


class JourneyDayValue(Base, table=True):
    """`JourneyMonthValue` per London day of the first contact, for a range's partial edge months."""

    __tablename__ = "rpt_journey_day_values"

    # Day before value, unlike the month rows: an edge reads a span of days of a key (every value
    # of the small-valued figures, or one whole-day band of values), one range of the index.
    metric: str = Field(primary_key=True, max_length=40)
    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    day: date = Field(primary_key=True, description="London date of opened_at.")
    value: int = Field(primary_key=True)
    journeys: int = 0


class JourneyDayBand(Base, table=True):
    """`JourneyMonthBand` per London day of the first contact, for a range's partial edge months."""

    __tablename__ = "rpt_journey_day_bands"

    metric: str = Field(primary_key=True, max_length=40)
    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    day: date = Field(primary_key=True, description="London date of opened_at.")
    band: int = Field(primary_key=True, description="value // 100 of the values counted.")
    journeys: int = 0


class JourneyLiveByDay(Base, table=True):
    """`JourneyLiveDay` per London day of the first contact (not of the open spell: `since_day`
    and `origin_day` say when that began), for a range's partial edge months."""

    __tablename__ = "rpt_journey_live_by_day"

    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    day: date = Field(primary_key=True, description="London date of opened_at.")
    since_day: int = Field(primary_key=True, description="unallocated_since_day.")
    closed_days: int = Field(primary_key=True, description="unallocated_working_days_closed.")
    origin_day: int = Field(primary_key=True, description="unallocated_origin_us // 86,400,000,000.")
    journeys: int = 0
    sum_closed_us: int = Field(
        0, sa_type=BigInteger, description="Sum of the completed spells' hours in whole microseconds."
    )
    sum_since_offset_us: int = Field(
        0, sa_type=BigInteger, description="Sum of unallocated_since_us - origin_day x 86,400,000,000."
    )


class JourneyDayReason(Base, table=True):
    """`JourneyMonthReason` per London day of the first contact, for a range's partial edge months."""

    __tablename__ = "rpt_journey_day_reasons"

    dimension: str = Field(primary_key=True, max_length=10, description="all, area, team, source or outcome.")
    key: str = Field(primary_key=True, max_length=80, description="The grouping's key (ALL for all).")
    day: date = Field(primary_key=True, description="London date of opened_at.")
    reason: str = Field(primary_key=True, max_length=20)
    handovers: int = 0
    team_transfers: int = 0
    worker_changes: int = 0


class JourneyWeek(Base, table=True):
    """`JourneyMonth` per ISO week (Monday to Sunday, London dates) of the first contact, for the
    whole only: handovers by week read a whole week's counts here, and a range's partial edge weeks
    their days' (`JourneyDay`), not every journey in range. No key: no report groups by week and by a
    key at once. Kept with the month and day rows, from the same contribution of each journey."""

    __tablename__ = "rpt_journey_weeks"

    week: date = Field(primary_key=True, description="The Monday of the ISO week of opened_at (London).")
    journeys: int = 0
    closed: int = 0
    sum_settled_unallocated_us: int = Field(0, sa_type=BigInteger)


class JourneyWeekValue(Base, table=True):
    """`JourneyMonthValue` per ISO week of the first contact, for the whole only."""

    __tablename__ = "rpt_journey_week_values"

    # Week before value, as the day rows: a week's every value of the small-valued figures, or one
    # whole-day band of values, is one range of the index.
    metric: str = Field(primary_key=True, max_length=40)
    week: date = Field(primary_key=True, description="The Monday of the ISO week of opened_at (London).")
    value: int = Field(primary_key=True)
    journeys: int = 0


class JourneyWeekBand(Base, table=True):
    """`JourneyMonthBand` per ISO week of the first contact, for the whole only."""

    __tablename__ = "rpt_journey_week_bands"

    metric: str = Field(primary_key=True, max_length=40)
    week: date = Field(primary_key=True, description="The Monday of the ISO week of opened_at (London).")
    band: int = Field(primary_key=True, description="value // 100 of the values counted.")
    journeys: int = 0


class JourneyLiveByWeek(Base, table=True):
    """`JourneyLiveDay` per ISO week of the first contact, for the whole only."""

    __tablename__ = "rpt_journey_live_by_week"

    week: date = Field(primary_key=True, description="The Monday of the ISO week of opened_at (London).")
    since_day: int = Field(primary_key=True, description="unallocated_since_day.")
    closed_days: int = Field(primary_key=True, description="unallocated_working_days_closed.")
    origin_day: int = Field(primary_key=True, description="unallocated_origin_us // 86,400,000,000.")
    journeys: int = 0
    sum_closed_us: int = Field(
        0, sa_type=BigInteger, description="Sum of the completed spells' hours in whole microseconds."
    )
    sum_since_offset_us: int = Field(
        0, sa_type=BigInteger, description="Sum of unallocated_since_us - origin_day x 86,400,000,000."
    )


class JourneyWeekReason(Base, table=True):
    """`JourneyMonthReason` per ISO week of the first contact, for the whole only."""

    __tablename__ = "rpt_journey_week_reasons"

    week: date = Field(primary_key=True, description="The Monday of the ISO week of opened_at (London).")
    reason: str = Field(primary_key=True, max_length=20)
    handovers: int = 0
    team_transfers: int = 0
    worker_changes: int = 0


# The handovers' kept counts of journeys per period of the first contact, each kind in the same
# order (journeys, values, bands, reasons, live): the month's, the day's and the week's tables.
JOURNEY_MONTH_TABLES = (JourneyMonth, JourneyMonthValue, JourneyMonthBand, JourneyMonthReason, JourneyLiveDay)
JOURNEY_DAY_TABLES = (JourneyDay, JourneyDayValue, JourneyDayBand, JourneyDayReason, JourneyLiveByDay)
JOURNEY_WEEK_TABLES = (JourneyWeek, JourneyWeekValue, JourneyWeekBand, JourneyWeekReason, JourneyLiveByWeek)


class SupervisionDay(Base, table=True):
    """The change, on one London day, in the supervision report's counts for one grouping key.

    A journey is open, supervised and overdue on whole London days (supervision_days.py), so it adds
    1 to a count on the first day of each such spell and -1 on the day after its last: a count at a
    day is the sum of its key's changes up to that day. Kept by the projection as journeys and their
    supervisions change (a journey's old changes taken off, its new ones added), so the report reads
    a row per day and key, not every journey. `dimension` is `all` (key `ALL`) or the attribute
    grouped by (area, team, source, outcome) with the key the report shows for it.
    """

    __tablename__ = "rpt_supervision_days"

    # The dimension first: the whole's rows, read for the time groupings, lie together.
    dimension: str = Field(primary_key=True, max_length=10)
    day: date = Field(primary_key=True, description="London date the change takes effect.")
    key: str = Field(primary_key=True, max_length=80)
    open_journeys: int = 0
    supervised: int = 0
    overdue: int = 0


class SupervisionOverdueSpell(Base, table=True):
    """A whole-day spell in which an open journey is overdue for supervision: the days from
    `overdue_from` to the day before `overdue_until` (none: still overdue), with the due date of its
    latest supervision then. The supervision report's `overdue` list reads the spells covering its
    day in due order, not every open journey."""

    __tablename__ = "rpt_supervision_overdue"
    __table_args__ = (
        # The list's order, holding every other column it reads: an index-only scan in due order
        # that passes over the spells not covering the day without visiting the table (PostgreSQL).
        Index(
            "ix_rpt_supervision_overdue_due",
            "due_half",
            "due_tie",
            "journey_id",
            postgresql_include=["overdue_from", "overdue_until", "due_on", "held_at"],
        ),
    )

    journey_id: uuid.UUID = Field(primary_key=True)
    overdue_from: date = Field(primary_key=True, description="First London day overdue.")
    overdue_until: date | None = Field(default=None, description="First London day no longer overdue.")
    due_half: int = Field(description="Half index of the due date (day_index.py).")
    due_tie: date | None = Field(default=None, description="The due date when it is a closed day.")
    due_on: date
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime, description="Latest supervision.")


class DecisionFact(Base, table=True):
    __tablename__ = "rpt_decisions"

    decision_id: uuid.UUID = Field(primary_key=True)
    contact_id: uuid.UUID = Field(index=True)
    outcome: str = Field(max_length=40)
    decided_at: datetime = Field(sa_type=UTCDateTime)
    requires_authorisation: bool = False
    authorised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    supersedes_decision_id: uuid.UUID | None = None
    superseded_by_decision_id: uuid.UUID | None = None
    team_id: str | None = Field(default=None, max_length=80)
    area: str | None = Field(default=None, max_length=80)


class JourneyFact(Base, table=True):
    """One row per journey (first contact to closure): handovers and unallocated time."""

    __tablename__ = "rpt_journeys"
    __table_args__ = (
        # The live journeys (open and without a named worker: their unallocated time grows with
        # `now`) by the origin of their unallocated time, holding what the handovers report reads
        # of them: their counts are kept per month and origin day (JourneyLiveDay), and the report
        # reads the few live journeys whose origin puts them at a median or maximum, index-only on
        # PostgreSQL.
        Index(
            "ix_rpt_journeys_live",
            "unallocated_origin_us",
            postgresql_include=list(LIVE_JOURNEY_COLUMNS),
            postgresql_where=text(LIVE_JOURNEY),
            sqlite_where=text(LIVE_JOURNEY),
        ),
        # ... and those whose open spell began on or after the day of the request (their time is
        # read, not derived from the kept counts: the spell may not have begun by `now`).
        Index(
            "ix_rpt_journeys_live_since",
            "unallocated_since_day",
            postgresql_where=text(LIVE_JOURNEY),
            sqlite_where=text(LIVE_JOURNEY),
        ),
    )

    journey_id: uuid.UUID = Field(primary_key=True)
    child_id: uuid.UUID | None = Field(default=None, index=True)
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    first_contact_id: uuid.UUID | None = None
    source: str | None = Field(default=None, max_length=10)
    team_id: str | None = Field(default=None, max_length=80, description="The front-door team.")
    area: str | None = Field(default=None, max_length=80)
    outcome: str | None = Field(default=None, max_length=40, description="First contact's current outcome.")
    first_allocated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    current_team_id: str | None = Field(default=None, max_length=80)
    current_area: str | None = Field(default=None, max_length=80)
    current_service_type: str | None = Field(default=None, max_length=40)
    # Its newly-qualified status on the day the journey started sets a never-supervised journey's
    # interval (NewlyQualifiedFact), as in the supervision service.
    current_worker_id: str | None = Field(default=None, max_length=120, index=True)
    transfers: int = 0
    team_transfers: int = 0
    worker_changes: int = 0
    # The standard transfer: the first TSPROC handover that changed the team (front door to a
    # long-term team), and its lag from the first contact (journey_months.standard_transfer).
    standard_transfer_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    standard_transfer_working_days: int | None = Field(
        default=None, description="Local working days d with date(opened_at) < d <= date(transfer)."
    )
    standard_transfer_hundredths: int | None = Field(
        default=None, description="Calendar days from opened_at to the transfer, in hundredths (halves up)."
    )
    # Completed unallocated spells, plus the start of the current one (added at query time).
    unallocated_hours_closed: float = 0.0
    unallocated_working_days_closed: int = 0
    unallocated_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Working-day positions for reports' SQL arithmetic (projections/day_index.py).
    unallocated_since_day: int | None = Field(default=None, description="Day index of unallocated_since.")
    unallocated_since_us: int | None = Field(
        default=None, sa_type=BigInteger, description="unallocated_since in microseconds since 1970."
    )
    unallocated_origin_us: int | None = Field(
        default=None,
        sa_type=BigInteger,
        description="unallocated_since_us less the completed spells (in whole microseconds): a live "
        "journey's unallocated time at t is t less this.",
    )
    due_base_day: int | None = Field(
        default=None, description="Supervision due base from the first contact (never supervised)."
    )
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    closure_reason: str | None = Field(default=None, max_length=20)


class AllocationFact(Base, table=True):
    """A first allocation or a handover of a journey."""

    __tablename__ = "rpt_allocations"

    event_id: uuid.UUID = Field(primary_key=True)
    journey_id: uuid.UUID = Field(index=True)
    position: int = Field(sa_type=BigInteger)
    kind: str = Field(max_length=20, description="allocated or transferred")
    effective_at: datetime = Field(sa_type=UTCDateTime)
    team_id: str | None = Field(default=None, max_length=80)
    area: str | None = Field(default=None, max_length=80)
    service_type: str | None = Field(default=None, max_length=40)
    worker_id: str | None = Field(default=None, max_length=120)
    team_changed: bool = False
    worker_changed: bool = False
    reason: str | None = Field(default=None, max_length=20)


class SupervisionFact(Base, table=True):
    __tablename__ = "rpt_supervisions"
    __table_args__ = (
        # A journey's latest supervision (the supervision report) in index order, without a sort
        # or a visit to the table on PostgreSQL; it also serves lookups by journey.
        Index(
            "ix_rpt_supervisions_latest",
            "journey_id",
            "held_at",
            "supervision_id",
            postgresql_include=["next_due_on", "next_due_half_day", "due_base_day"],
        ),
    )

    supervision_id: uuid.UUID = Field(primary_key=True)
    journey_id: uuid.UUID
    child_id: uuid.UUID | None = Field(default=None, index=True)
    team_id: str | None = Field(default=None, max_length=80)
    held_at: datetime = Field(sa_type=UTCDateTime)
    kind: str | None = Field(default=None, max_length=40)
    next_due_on: date | None = None
    # Working-day positions for reports' SQL arithmetic (projections/day_index.py).
    due_base_day: int = Field(0, description="Due = working day of index due_base_day + interval.")
    next_due_half_day: int | None = Field(default=None, description="Half index of next_due_on.")


class NewlyQualifiedFact(Base, table=True):
    """The supervision service's newly-qualified register, from its `NewlyQualifiedRegisterSet`
    events: the latest end date of each worker's entry (None: ended)."""

    __tablename__ = "rpt_newly_qualified"

    worker_id: str = Field(primary_key=True, max_length=120)
    newly_qualified_until: date | None = None


class TimelineEntry(Base, table=True):
    """Every known event of either feed, coded, for a child's timeline."""

    __tablename__ = "rpt_timeline"

    event_id: uuid.UUID = Field(primary_key=True)
    feed: str = Field(max_length=40)
    position: int = Field(sa_type=BigInteger)
    journey_id: uuid.UUID = Field(index=True)
    child_id: uuid.UUID | None = Field(default=None, index=True)
    type: str = Field(max_length=80)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    codes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class FeedState(Base, table=True):
    """How fresh each feed's projection is: the latest event time it reflects, and skips."""

    __tablename__ = "rpt_feed_state"

    feed: str = Field(primary_key=True, max_length=40)
    latest_occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    latest_recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    applied: int = 0
    skipped: int = 0
