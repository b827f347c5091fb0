"""Report request options and response shapes. Every figure is about children's journeys, coded."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field


class GroupBy(StrEnum):
    week = "week"
    month = "month"
    quarter = "quarter"
    area = "area"
    team = "team"
    source = "source"
    outcome = "outcome"


class ContactToOutcomeGroupBy(StrEnum):
    """How contact to outcome can group its figures: as every report can, or by `day_of_week`, the
    weekday of received_at's London date (Monday first)."""

    week = "week"
    month = "month"
    quarter = "quarter"
    area = "area"
    team = "team"
    source = "source"
    outcome = "outcome"
    day_of_week = "day_of_week"


# A separate enum, not a member added to GroupBy, so each report's OpenAPI lists only what it takes.
# The grouping only contact to outcome takes; the others are passed on as their `GroupBy` member,
# which the reports' code tells apart by identity.
DAY_OF_WEEK: Final = ContactToOutcomeGroupBy.day_of_week
ContactGrouping = GroupBy | Literal[ContactToOutcomeGroupBy.day_of_week]


def contact_grouping(group_by: ContactToOutcomeGroupBy) -> ContactGrouping:
    """Contact to outcome's grouping as the reports' code takes it."""
    return DAY_OF_WEEK if group_by is DAY_OF_WEEK else GroupBy(group_by.value)


class Measure(StrEnum):
    contact_to_outcome = "contact-to-outcome"
    handovers = "handovers"
    supervision = "supervision"
    conversion = "conversion"


class FeedFreshness(BaseModel):
    feed: str
    position: int = Field(description="The last feed position applied.")
    latest_event_recorded_at: datetime | None = Field(
        description="When the newest event this projection reflects was stored upstream."
    )
    latest_event_occurred_at: datetime | None
    skipped_events: int = Field(description="Events of types or shapes this reader does not know.")


class Freshness(BaseModel):
    latest_event_at: datetime | None = Field(
        description="The latest upstream recording time of any event the report reflects."
    )
    feeds: list[FeedFreshness]


class ReportBase(BaseModel):
    measure: str = Field(description="Which report this is (each report's own constant).")
    from_date: date
    to_date: date
    group_by: GroupBy
    freshness: Freshness
    definitions: dict[str, str] = Field(description="How each figure is defined.")


# -- contact to outcome ---------------------------------------------------------------------------


class ContactToOutcomeRow(BaseModel):
    group: str = Field(description="The group's key (ALL for the whole range).")
    contacts: int = Field(description="Contacts received in the range.")
    backdated: int = Field(description="Contacts recorded later than the backdating threshold.")
    decided: int
    undecided: int
    with_superseded_decision: int = Field(description="Contacts whose first decision was later replaced.")
    due: int = Field(description="Contacts decided, or past their decision deadline undecided.")
    decided_within_timescale: int
    pct_decided_within_timescale: float | None = Field(description="decided_within_timescale / due x 100.")
    decision_working_hours_median: float | None = Field(
        description="Median working hours to the first decision, to 0.1 h."
    )
    decision_working_hours_p90: float | None = Field(
        description="90th percentile (nearest rank) of working hours to the first decision, to 0.1 h."
    )
    decision_working_hours_mean: float | None
    decision_working_days_median: float | None
    decision_working_days_p90: float | None
    decision_working_days_mean: float | None
    decision_calendar_hours_median: float | None = Field(
        description="Median calendar hours to the first decision, to 0.1 h."
    )
    decision_calendar_hours_p90: float | None = Field(
        description="90th percentile (nearest rank) of calendar hours to the first decision, to 0.1 h."
    )
    decision_calendar_hours_mean: float | None
    authorised: int
    awaiting_authorisation: int = Field(description="Current decision needs authorisation; none yet.")
    authorisation_working_hours_median: float | None = Field(
        description="Median working hours to authorisation, to 0.1 h."
    )
    authorisation_working_hours_p90: float | None = Field(
        description="90th percentile (nearest rank) of working hours to authorisation, to 0.1 h."
    )
    authorisation_working_hours_mean: float | None
    authorisation_working_days_median: float | None
    authorisation_working_days_p90: float | None
    authorisation_working_days_mean: float | None
    authorisation_calendar_hours_median: float | None = Field(
        description="Median calendar hours to authorisation, to 0.1 h."
    )
    authorisation_calendar_hours_p90: float | None = Field(
        description="90th percentile (nearest rank) of calendar hours to authorisation, to 0.1 h."
    )
    authorisation_calendar_hours_mean: float | None


class ContactToOutcomeReport(ReportBase):
    measure: Literal["contact-to-outcome"]
    # Its own groupings (pydantic keeps the field where the base put it).
    group_by: ContactToOutcomeGroupBy  # type: ignore[assignment]
    overall: ContactToOutcomeRow
    groups: list[ContactToOutcomeRow]


# -- awaiting decision ----------------------------------------------------------------------------


class AwaitingRow(BaseModel):
    group: str
    waiting: int
    breached: int
    age_working_hours_median: float | None
    age_working_hours_max: float | None


class AwaitingContact(BaseModel):
    contact_id: uuid.UUID
    child_id: uuid.UUID
    journey_id: uuid.UUID
    received_at: datetime
    source: str | None
    urgency: str | None
    team_id: str | None
    area: str | None
    decision_due_at: datetime
    age_working_hours: float
    age_calendar_hours: float
    breached: bool


class AwaitingReport(ReportBase):
    measure: Literal["awaiting-decision"]
    as_of: datetime
    overall: AwaitingRow
    groups: list[AwaitingRow]
    contacts: list[AwaitingContact] = Field(
        description="The queue, oldest first: its first `limit` contacts."
    )
    contacts_total: int = Field(
        description="Contacts in the whole queue (the length of `contacts` unlimited)."
    )
    limit: int = Field(description="The most contacts listed.")


# -- handovers ------------------------------------------------------------------------------------


class HandoverRow(BaseModel):
    group: str
    journeys: int
    closed: int
    team_transfers_0: int
    team_transfers_1: int
    team_transfers_2: int
    team_transfers_3: int
    team_transfers_4: int
    team_transfers_5_plus: int
    team_transfers_mean: float | None
    team_transfers_median: float | None
    team_transfers_max: int | None
    worker_changes_0: int
    worker_changes_1: int
    worker_changes_2: int
    worker_changes_3: int
    worker_changes_4: int
    worker_changes_5_plus: int
    worker_changes_mean: float | None
    worker_changes_median: float | None
    worker_changes_max: int | None
    unallocated_days_mean: float | None = Field(description="Calendar days without a named worker.")
    unallocated_days_median: float | None
    unallocated_days_max: float | None
    unallocated_working_days_mean: float | None
    unallocated_working_days_median: float | None
    unallocated_working_days_max: int | None


class HandoverReason(BaseModel):
    group: str
    reason: str
    handovers: int
    team_transfers: int
    worker_changes: int


class JourneyHandovers(BaseModel):
    journey_id: uuid.UUID
    child_id: uuid.UUID | None
    opened_at: datetime | None
    closed_at: datetime | None
    handovers: int
    team_transfers: int
    worker_changes: int
    unallocated_days: float
    unallocated_working_days: int


class HandoverReport(ReportBase):
    measure: Literal["handovers"]
    overall: HandoverRow
    groups: list[HandoverRow]
    reasons: list[HandoverReason]
    journeys: list[JourneyHandovers] = Field(
        description="Each journey's figures, by first contact (then id): the first `limit` journeys."
    )
    journeys_total: int = Field(description="Journeys in the range (the length of `journeys` unlimited).")
    limit: int = Field(description="The most journeys listed.")


# -- supervision ----------------------------------------------------------------------------------


class SupervisionRow(BaseModel):
    group: str
    as_of: date | None = Field(
        description="The day the open journeys were counted (end of the period, today at the latest); "
        "null when no day of the range has been reached."
    )
    open_journeys: int
    supervised: int = Field(description="Open journeys with at least one supervision by then.")
    within_interval: int = Field(description="Open journeys whose next supervision is not yet overdue.")
    overdue: int
    pct_within_interval: float | None


class OverdueJourney(BaseModel):
    journey_id: uuid.UUID
    child_id: uuid.UUID | None
    team_id: str | None
    service_type: str | None = Field(
        description="The journey's current service type; null while unallocated, when due_on uses the "
        "default interval (supervision_default_interval_working_days)."
    )
    last_supervised_at: datetime | None
    due_on: date
    working_days_overdue: int


class SupervisionReport(ReportBase):
    measure: Literal["supervision"]
    overall: SupervisionRow
    groups: list[SupervisionRow]
    overdue: list[OverdueJourney] = Field(
        description="Open journeys overdue at the end of the range, by due date (then id): the first `limit`."
    )
    overdue_total: int = Field(description="Overdue journeys in all (the length of `overdue` unlimited).")
    limit: int = Field(description="The most overdue journeys listed.")


# -- conversion -----------------------------------------------------------------------------------


class ConversionRow(BaseModel):
    group: str
    contacts: int
    repeat_contacts: int = Field(description="Contacts about a child whose journey was already open.")
    decided: int
    nfa: int
    info_advice: int
    early_help: int
    cin_assessment: int
    strategy_s47: int
    existing_open_case: int
    other: int
    referrals: int = Field(description="Contacts whose current decision is CIN_ASSESSMENT or STRATEGY_S47.")
    pct_contacts_to_referral: float | None
    re_referrals: int = Field(description="Referrals of a child referred in the 12 months before.")
    pct_re_referrals: float | None


class ConversionReport(ReportBase):
    measure: Literal["conversion"]
    overall: ConversionRow
    groups: list[ConversionRow]


# -- compare --------------------------------------------------------------------------------------


class Difference(BaseModel):
    group: str
    values: dict[str, int | float | None] = Field(
        description="b minus a, for every numeric figure of the measure (null where either is null): "
        "a whole number for a count, else to 2 places."
    )


# A report compare can put side by side, told apart by its `measure`.
ComparedReport = Annotated[
    ContactToOutcomeReport | HandoverReport | SupervisionReport | ConversionReport,
    Field(discriminator="measure"),
]


class CompareReport(BaseModel):
    measure: Measure
    group_by: GroupBy
    a: ComparedReport = Field(description="The report for range a.")
    b: ComparedReport = Field(description="The report for range b.")
    difference: list[Difference] = Field(description="ALL first, then groups present in both ranges.")


# -- timeline -------------------------------------------------------------------------------------


class TimelineItem(BaseModel):
    feed: str
    position: int
    journey_id: uuid.UUID
    type: str
    occurred_at: datetime
    recorded_at: datetime
    codes: dict[str, Any] = Field(description="The event's coded payload (ids, codes and times only).")


class Timeline(BaseModel):
    child_id: uuid.UUID
    journeys: list[uuid.UUID]
    events: list[TimelineItem]
    freshness: Freshness
