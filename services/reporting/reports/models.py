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
    feed: str = Field(description="The producer whose feed this is: referrals or supervision.")
    position: int = Field(description="The last feed position applied.")
    latest_event_recorded_at: datetime | None = Field(
        description="When the newest event this projection reflects was stored upstream."
    )
    latest_event_occurred_at: datetime | None = Field(
        description="When the newest event this projection reflects happened in the world."
    )
    skipped_events: int = Field(description="Events of types or shapes this reader does not know.")


class Freshness(BaseModel):
    latest_event_at: datetime | None = Field(
        description="The latest upstream recording time of any event the report reflects."
    )
    feeds: list[FeedFreshness] = Field(description="Each feed's position and latest event.")


class ReportBase(BaseModel):
    measure: str = Field(description="Which report this is (each report's own constant).")
    from_date: date = Field(description="First London date of the range (inclusive).")
    to_date: date = Field(description="Last London date of the range (inclusive).")
    group_by: GroupBy = Field(description="How the groups are formed.")
    freshness: Freshness = Field(
        description="How current the figures are: the feeds' positions and latest events reflected."
    )
    definitions: dict[str, str] = Field(description="How each figure is defined.")


# -- contact to outcome ---------------------------------------------------------------------------


class ContactToOutcomeRow(BaseModel):
    group: str = Field(description="The group's key (ALL for the whole range).")
    contacts: int = Field(description="Contacts received in the range.")
    backdated: int = Field(description="Contacts recorded later than the backdating threshold.")
    decided: int = Field(description="Contacts with a threshold decision (their first ended the wait).")
    undecided: int = Field(description="Contacts with no threshold decision yet.")
    with_superseded_decision: int = Field(description="Contacts whose first decision was later replaced.")
    due: int = Field(description="Contacts decided, or past their decision deadline undecided.")
    decided_within_timescale: int = Field(
        description="Contacts first decided by office close on the timescale's last working day."
    )
    pct_decided_within_timescale: float | None = Field(description="decided_within_timescale / due x 100.")
    decision_working_hours_median: float | None = Field(
        description="Median working hours to the first decision, to 0.1 h."
    )
    decision_working_hours_p90: float | None = Field(
        description="90th percentile (nearest rank) of working hours to the first decision, to 0.1 h."
    )
    decision_working_hours_mean: float | None = Field(description="Mean working hours to the first decision.")
    decision_working_days_median: float | None = Field(
        description="Median working days from the clock start to the first decision."
    )
    decision_working_days_p90: float | None = Field(
        description="90th percentile (nearest rank) of working days to the first decision."
    )
    decision_working_days_mean: float | None = Field(description="Mean working days to the first decision.")
    decision_calendar_hours_median: float | None = Field(
        description="Median calendar hours to the first decision, to 0.1 h."
    )
    decision_calendar_hours_p90: float | None = Field(
        description="90th percentile (nearest rank) of calendar hours to the first decision, to 0.1 h."
    )
    decision_calendar_hours_mean: float | None = Field(
        description="Mean calendar hours to the first decision."
    )
    authorised: int = Field(description="Contacts whose current decision has been authorised.")
    awaiting_authorisation: int = Field(description="Current decision needs authorisation; none yet.")
    authorisation_working_hours_median: float | None = Field(
        description="Median working hours to authorisation, to 0.1 h."
    )
    authorisation_working_hours_p90: float | None = Field(
        description="90th percentile (nearest rank) of working hours to authorisation, to 0.1 h."
    )
    authorisation_working_hours_mean: float | None = Field(description="Mean working hours to authorisation.")
    authorisation_working_days_median: float | None = Field(
        description="Median working days from the clock start to authorisation."
    )
    authorisation_working_days_p90: float | None = Field(
        description="90th percentile (nearest rank) of working days to authorisation."
    )
    authorisation_working_days_mean: float | None = Field(description="Mean working days to authorisation.")
    authorisation_calendar_hours_median: float | None = Field(
        description="Median calendar hours to authorisation, to 0.1 h."
    )
    authorisation_calendar_hours_p90: float | None = Field(
        description="90th percentile (nearest rank) of calendar hours to authorisation, to 0.1 h."
    )
    authorisation_calendar_hours_mean: float | None = Field(
        description="Mean calendar hours to authorisation."
    )


class ContactToOutcomeReport(ReportBase):
    measure: Literal["contact-to-outcome"] = Field(description="Always contact-to-outcome.")
    # Its own groupings (pydantic keeps the field where the base put it).
    group_by: ContactToOutcomeGroupBy  # type: ignore[assignment]
    overall: ContactToOutcomeRow = Field(description="The whole range (group ALL).")
    groups: list[ContactToOutcomeRow] = Field(
        description="One row per group with contacts, in the grouping's order."
    )


# -- awaiting decision ----------------------------------------------------------------------------


class AwaitingRow(BaseModel):
    group: str = Field(description="The group's key (ALL for the whole queue).")
    waiting: int = Field(description="Contacts received in the range and by as_of with no decision by as_of.")
    breached: int = Field(description="Of those, the ones past their statutory decision deadline at as_of.")
    age_working_hours_median: float | None = Field(description="Median working hours waited at as_of.")
    age_working_hours_max: float | None = Field(description="The longest wait in working hours at as_of.")


class AwaitingContact(BaseModel):
    contact_id: uuid.UUID = Field(description="The contact.")
    child_id: uuid.UUID = Field(description="The child (pseudonymous id).")
    journey_id: uuid.UUID = Field(description="The child's journey the contact belongs to.")
    received_at: datetime = Field(description="When the contact was received.")
    source: str | None = Field(description="Its source (CIN census referral source code).")
    urgency: str | None = Field(description="Its urgency as recorded at the front door.")
    team_id: str | None = Field(description="The front-door team that received it.")
    area: str | None = Field(description="That team's area.")
    decision_due_at: datetime = Field(
        description="When its threshold decision is due (T1, statutory calendar)."
    )
    age_working_hours: float = Field(
        description="Working hours (statutory calendar) from received_at to as_of."
    )
    age_calendar_hours: float = Field(description="Calendar hours from received_at to as_of.")
    breached: bool = Field(description="True when as_of is after decision_due_at.")


class AwaitingReport(ReportBase):
    measure: Literal["awaiting-decision"] = Field(description="Always awaiting-decision.")
    as_of: datetime = Field(description="The moment the queue is taken at (default now).")
    overall: AwaitingRow = Field(description="The whole queue (group ALL).")
    groups: list[AwaitingRow] = Field(description="One row per group with a contact waiting.")
    contacts: list[AwaitingContact] = Field(
        description="The queue, oldest first: its first `limit` contacts."
    )
    contacts_total: int = Field(
        description="Contacts in the whole queue (the length of `contacts` unlimited)."
    )
    limit: int = Field(description="The most contacts listed.")


# -- handovers ------------------------------------------------------------------------------------


class HandoverRow(BaseModel):
    group: str = Field(description="The group's key (ALL for the whole range).")
    journeys: int = Field(description="Journeys whose first contact was received in the range.")
    closed: int = Field(description="Of those, the ones closed.")
    team_transfers_0: int = Field(description="Journeys with exactly 0 team transfers.")
    team_transfers_1: int = Field(description="Journeys with exactly 1 team transfers.")
    team_transfers_2: int = Field(description="Journeys with exactly 2 team transfers.")
    team_transfers_3: int = Field(description="Journeys with exactly 3 team transfers.")
    team_transfers_4: int = Field(description="Journeys with exactly 4 team transfers.")
    team_transfers_5_plus: int = Field(description="Journeys with 5 or more team transfers.")
    team_transfers_mean: float | None = Field(description="Mean team transfers per journey.")
    team_transfers_median: float | None = Field(description="Median team transfers per journey.")
    team_transfers_max: int | None = Field(description="Most team transfers of one journey.")
    worker_changes_0: int = Field(description="Journeys with exactly 0 worker changes.")
    worker_changes_1: int = Field(description="Journeys with exactly 1 worker changes.")
    worker_changes_2: int = Field(description="Journeys with exactly 2 worker changes.")
    worker_changes_3: int = Field(description="Journeys with exactly 3 worker changes.")
    worker_changes_4: int = Field(description="Journeys with exactly 4 worker changes.")
    worker_changes_5_plus: int = Field(description="Journeys with 5 or more worker changes.")
    worker_changes_mean: float | None = Field(description="Mean worker changes per journey.")
    worker_changes_median: float | None = Field(description="Median worker changes per journey.")
    worker_changes_max: int | None = Field(description="Most worker changes of one journey.")
    unallocated_days_mean: float | None = Field(description="Calendar days without a named worker.")
    unallocated_days_median: float | None = Field(description="Median calendar days without a named worker.")
    unallocated_days_max: float | None = Field(
        description="Most calendar days one journey was without a named worker."
    )
    unallocated_working_days_mean: float | None = Field(
        description="Mean working days (local calendar) without a named worker."
    )
    unallocated_working_days_median: float | None = Field(
        description="Median working days (local calendar) without a named worker."
    )
    unallocated_working_days_max: int | None = Field(
        description="Most working days (local calendar) one journey was without a named worker."
    )
    standard_transfers: int = Field(
        description="Journeys with a standard transfer: a first TSPROC handover that changed the team."
    )
    standard_transfer_working_days_median: float | None = Field(
        description="Median working days (local calendar) from the first contact to the standard "
        "transfer, over the journeys with one (null when none has one)."
    )
    standard_transfer_working_days_p90: float | None = Field(
        description="90th percentile (nearest rank) of the standard transfer lag in working days."
    )
    standard_transfer_days_median: float | None = Field(
        description="Median calendar days from the first contact to the standard transfer, over the "
        "journeys with one (null when none has one)."
    )
    standard_transfer_days_p90: float | None = Field(
        description="90th percentile (nearest rank) of the standard transfer lag in calendar days."
    )


class HandoverReason(BaseModel):
    group: str = Field(description="The group's key (ALL for the whole range).")
    reason: str = Field(description="The RIIA worker-change reason code (e.g. TSPROC).")
    handovers: int = Field(description="Handovers with that reason.")
    team_transfers: int = Field(description="Of those, the ones that changed the team.")
    worker_changes: int = Field(description="Of those, the ones that changed the worker.")


class JourneyHandovers(BaseModel):
    journey_id: uuid.UUID = Field(description="The journey.")
    child_id: uuid.UUID | None = Field(description="The child (pseudonymous id).")
    opened_at: datetime | None = Field(description="When its first contact was received.")
    closed_at: datetime | None = Field(description="When it was closed; null while open.")
    handovers: int = Field(description="Its handovers (the first allocation is not one).")
    team_transfers: int = Field(description="Handovers that changed the team.")
    worker_changes: int = Field(description="Handovers that changed the worker.")
    unallocated_days: float = Field(description="Calendar days without a named worker, to 2 places.")
    unallocated_working_days: int = Field(description="Working days (local calendar) without a named worker.")
    standard_transfer_at: datetime | None = Field(description="When its standard transfer took effect.")
    standard_transfer_working_days: int | None = Field(
        description="Working days (local calendar) from the first contact to it; null without one."
    )
    standard_transfer_days: float | None = Field(
        description="Calendar days from the first contact to it, to 2 places; null without one."
    )


class HandoverReport(ReportBase):
    measure: Literal["handovers"] = Field(description="Always handovers.")
    overall: HandoverRow = Field(description="Every journey of the range (group ALL).")
    groups: list[HandoverRow] = Field(description="One row per group with a journey.")
    reasons: list[HandoverReason] = Field(
        description="Handovers by RIIA worker-change reason, overall (ALL) and per group."
    )
    journeys: list[JourneyHandovers] = Field(
        description="Each journey's figures, by first contact (then id): the first `limit` journeys."
    )
    journeys_total: int = Field(description="Journeys in the range (the length of `journeys` unlimited).")
    limit: int = Field(description="The most journeys listed.")


# -- supervision ----------------------------------------------------------------------------------


class SupervisionRow(BaseModel):
    group: str = Field(description="The group's key (ALL for the whole range).")
    as_of: date | None = Field(
        description="The day the open journeys were counted (end of the period, today at the latest); "
        "null when no day of the range has been reached."
    )
    open_journeys: int = Field(description="Journeys open on as_of.")
    supervised: int = Field(description="Open journeys with at least one supervision by then.")
    within_interval: int = Field(description="Open journeys whose next supervision is not yet overdue.")
    overdue: int = Field(description="Open journeys whose supervision was overdue on as_of.")
    pct_within_interval: float | None = Field(description="within_interval / open_journeys x 100.")


class OverdueJourney(BaseModel):
    journey_id: uuid.UUID = Field(description="The journey.")
    child_id: uuid.UUID | None = Field(description="The child (pseudonymous id).")
    team_id: str | None = Field(description="The team holding the journey now.")
    service_type: str | None = Field(
        description="The journey's current service type; null while unallocated, when due_on uses the "
        "default interval (supervision_default_interval_working_days)."
    )
    last_supervised_at: datetime | None = Field(
        description="When its latest supervision was held; null if never supervised."
    )
    due_on: date = Field(description="The London date its supervision was due.")
    working_days_overdue: int = Field(
        description="Working days (local calendar) from due_on to the day counted."
    )


class SupervisionReport(ReportBase):
    measure: Literal["supervision"] = Field(description="Always supervision.")
    overall: SupervisionRow = Field(description="The whole range (group ALL), counted at its end.")
    groups: list[SupervisionRow] = Field(description="One row per group, each counted at its own as_of.")
    overdue: list[OverdueJourney] = Field(
        description="Open journeys overdue at the end of the range, by due date (then id): the first `limit`."
    )
    overdue_total: int = Field(description="Overdue journeys in all (the length of `overdue` unlimited).")
    limit: int = Field(description="The most overdue journeys listed.")


# -- conversion -----------------------------------------------------------------------------------


class ConversionRow(BaseModel):
    group: str = Field(description="The group's key (ALL for the whole range).")
    contacts: int = Field(description="Contacts received in the range.")
    repeat_contacts: int = Field(description="Contacts about a child whose journey was already open.")
    decided: int = Field(description="Contacts with a current threshold decision.")
    nfa: int = Field(description="Contacts whose current outcome is NFA (no further action).")
    info_advice: int = Field(
        description="Contacts whose current outcome is INFO_ADVICE (information, advice, signposting)."
    )
    early_help: int = Field(description="Contacts whose current outcome is EARLY_HELP.")
    cin_assessment: int = Field(
        description="Contacts whose current outcome is CIN_ASSESSMENT (a referral for assessment)."
    )
    strategy_s47: int = Field(
        description="Contacts whose current outcome is STRATEGY_S47 (a referral to strategy discussion)."
    )
    existing_open_case: int = Field(
        description="Contacts whose current outcome is EXISTING_OPEN_CASE (passed to the allocated team)."
    )
    other: int = Field(description="Contacts whose current outcome is OTHER.")
    referrals: int = Field(description="Contacts whose current decision is CIN_ASSESSMENT or STRATEGY_S47.")
    pct_contacts_to_referral: float | None = Field(description="referrals / contacts x 100.")
    re_referrals: int = Field(description="Referrals of a child referred in the 12 months before.")
    pct_re_referrals: float | None = Field(description="re_referrals / referrals x 100.")


class ConversionReport(ReportBase):
    measure: Literal["conversion"] = Field(description="Always conversion.")
    overall: ConversionRow = Field(description="The whole range (group ALL).")
    groups: list[ConversionRow] = Field(description="One row per group with contacts.")


# -- conversion control bands ---------------------------------------------------------------------

# The rates given per month with a band, in their order (the CSV's columns), each of contacts with
# the outcome counted by the month's field named.
BAND_RATES: Final = {
    "pct_nfa": "nfa",
    "pct_info_advice": "info_advice",
    "pct_contacts_to_referral": "referrals",
}
# Bounds of the band's multiple of the SD (the `sd` query parameter) and its default.
SD_MULTIPLE_MIN, SD_MULTIPLE_DEFAULT, SD_MULTIPLE_MAX = 1.0, 2.0, 3.0


class BandFlag(StrEnum):
    """Where a month's rate lies against its band (a rate equal to a limit is within)."""

    above = "above"
    below = "below"
    within = "within"


class ControlBand(BaseModel):
    months: int = Field(description="Months of the range with contacts: the rates the band is taken over.")
    mean: float | None = Field(
        description="Mean of those months' rates as given (each to 2 places); null with none."
    )
    sd: float | None = Field(
        description="Sample standard deviation (n - 1) of those rates; null with fewer than 2 months."
    )
    lower: float | None = Field(description="max(0, mean - sd_multiple x sd); null without an sd.")
    upper: float | None = Field(description="min(100, mean + sd_multiple x sd); null without an sd.")


class ConversionBandMonth(BaseModel):
    month: str = Field(description="The London month (YYYY-MM) the contacts were received in.")
    contacts: int = Field(description="Contacts received in the month.")
    nfa: int = Field(description="Of those, the ones whose current outcome is NFA (no further action).")
    info_advice: int = Field(
        description="Of those, the ones whose current outcome is INFO_ADVICE (contact only: information, "
        "advice, signposting)."
    )
    referrals: int = Field(
        description="Of those, the ones whose current decision is CIN_ASSESSMENT or STRATEGY_S47."
    )
    pct_nfa: float | None = Field(description="nfa / contacts x 100; null without contacts.")
    pct_info_advice: float | None = Field(description="info_advice / contacts x 100; null without contacts.")
    pct_contacts_to_referral: float | None = Field(
        description="referrals / contacts x 100; null without contacts."
    )
    pct_nfa_flag: BandFlag | None = Field(
        description="pct_nfa against its band: above, below or within; null without a rate or a band."
    )
    pct_info_advice_flag: BandFlag | None = Field(
        description="pct_info_advice against its band: above, below or within; null without a rate or a band."
    )
    pct_contacts_to_referral_flag: BandFlag | None = Field(
        description="pct_contacts_to_referral against its band: above, below or within; null without a rate "
        "or a band."
    )


class ConversionBandSeries(BaseModel):
    group: str = Field(description="The contact source code (unknown when blank; ALL for every source).")
    months: list[ConversionBandMonth] = Field(description="Every month of the range, in time order.")
    pct_nfa: ControlBand = Field(description="The band of the monthly pct_nfa.")
    pct_info_advice: ControlBand = Field(description="The band of the monthly pct_info_advice.")
    pct_contacts_to_referral: ControlBand = Field(
        description="The band of the monthly pct_contacts_to_referral."
    )


# Not a ReportBase: its months are always its periods and its groups always the sources, so it has
# no group_by (and compare, which differences one row per group, does not take it).
class ConversionBandsReport(BaseModel):
    measure: Literal["conversion-control-bands"] = Field(description="Always conversion-control-bands.")
    from_date: date = Field(description="First London date of the range: the first day of a month.")
    to_date: date = Field(description="Last London date of the range: the last day of a month.")
    sd_multiple: float = Field(description="How many SDs each band spans either side of its mean (`sd`).")
    freshness: Freshness = Field(
        description="How current the figures are: the feeds' positions and latest events reflected."
    )
    definitions: dict[str, str] = Field(description="How each figure is defined.")
    overall: ConversionBandSeries = Field(description="Every contact of the range (group ALL).")
    groups: list[ConversionBandSeries] = Field(
        description="One series per contact source with contacts in the range, by source code."
    )


# -- compare --------------------------------------------------------------------------------------


class Difference(BaseModel):
    group: str = Field(description="The group's key (ALL for the whole), present in both ranges.")
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
    feed: str = Field(description="The feed the event came from: referrals or supervision.")
    position: int = Field(description="Its position in that feed.")
    journey_id: uuid.UUID = Field(description="The journey it belongs to.")
    type: str = Field(description="The event type (the producer's catalogue, `/events/schema`).")
    occurred_at: datetime = Field(description="When it happened in the world.")
    recorded_at: datetime = Field(description="When the producer stored it.")
    codes: dict[str, Any] = Field(description="The event's coded payload (ids, codes and times only).")


class Timeline(BaseModel):
    child_id: uuid.UUID = Field(description="The child (pseudonymous id).")
    journeys: list[uuid.UUID] = Field(description="The child's journeys, by id.")
    events: list[TimelineItem] = Field(
        description="Every event of those journeys, by occurred_at (then feed and position)."
    )
    freshness: Freshness
