"""Reporting's own tolerant readers of the producers' event payloads.

Reporting never imports another service's code: these models copy only the fields it needs from
the published contracts (referrals and supervision `GET /events/schema`), ignore any other field,
and read codes as plain strings so that a code added upstream does not stop the projection.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from shared.types import FeedId, FeedTime, FeedWorkerId, no_control_characters
from shared.working_days import LONDON

# The calendar arithmetic done on a time or date (a statutory deadline, a supervision interval of up
# to 260 working days, the day after) looks up to a year or so beyond it, so the last year is out.
_LAST_YEAR = 9998


def _on_the_london_calendar(value: datetime) -> datetime:
    """A time is placed on the London calendar: one within minutes of year 1 cannot be (London kept
    its local mean time, 1 minute 15 seconds behind UTC, before 1847), nor one in year 9999."""
    try:
        london = value.astimezone(LONDON)
    except OverflowError:
        raise ValueError("is out of range") from None
    _before_the_last_year(london.date())
    return value


def _before_the_last_year(value: date) -> date:
    if value.year > _LAST_YEAR:
        raise ValueError("is out of range")
    return value


# What the projection's columns hold (ids: shared.types.FeedId and the rest; codes of the lengths
# below; times and dates the calendar can count from): a value beyond them would fail its batch on
# every retry, stopping the feed, so it makes the payload unreadable, skipped and counted like any
# other. Text kept only in a timeline entry's JSON (which holds any length, a NUL escaped) stays str.
Time = Annotated[FeedTime, AfterValidator(_on_the_london_calendar)]
Source = Annotated[str, StringConstraints(max_length=10), AfterValidator(no_control_characters)]
ShortCode = Annotated[str, StringConstraints(max_length=20), AfterValidator(no_control_characters)]
Code = Annotated[str, StringConstraints(max_length=40), AfterValidator(no_control_characters)]
Day = Annotated[date, AfterValidator(_before_the_last_year)]


class Reader(BaseModel):
    """Times must carry a zone: a naive one cannot be placed on the London calendar, so the event
    is skipped (and counted) rather than guessed."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# -- referrals ------------------------------------------------------------------------------------


class ContactReceived(Reader):
    contact_id: UUID
    child_id: UUID
    received_at: Time
    source: Source | None = None
    channel: Code | None = None
    urgency: ShortCode | None = None
    opens_journey: bool = False
    repeat_contact: bool = False
    team_id: FeedId | None = None
    area: FeedId | None = None


class ThresholdDecisionRecorded(Reader):
    decision_id: UUID
    contact_id: UUID
    child_id: UUID | None = None
    outcome: Code
    threshold_level: int | None = None
    primary_need: str | None = None
    decided_at: Time
    requires_authorisation: bool = False
    supersedes_decision_id: UUID | None = None
    decided_by_team: FeedId | None = None
    decided_by_area: FeedId | None = None


class ThresholdDecisionAuthorised(Reader):
    decision_id: UUID
    contact_id: UUID
    authorised_at: Time


class ThresholdDecisionSuperseded(Reader):
    decision_id: UUID
    contact_id: UUID
    superseded_by_decision_id: UUID
    reason: str | None = None


class ReferrerFeedbackSent(Reader):
    contact_id: UUID
    kind: str | None = None
    sent_at: Time


class JourneyAllocated(Reader):
    allocation_id: UUID | None = None
    child_id: UUID | None = None
    team_id: FeedId | None = None
    area: FeedId | None = None
    service_type: Code | None = None
    worker_id: FeedWorkerId | None = None
    effective_at: Time


class JourneyTransferred(Reader):
    allocation_id: UUID | None = None
    child_id: UUID | None = None
    from_team_id: FeedId | None = None
    to_team_id: FeedId | None = None
    from_area: FeedId | None = None
    to_area: FeedId | None = None
    to_service_type: Code | None = None
    from_worker_id: FeedWorkerId | None = None
    to_worker_id: FeedWorkerId | None = None
    team_changed: bool
    worker_changed: bool
    reason: ShortCode | None = None
    effective_at: Time


class JourneyClosed(Reader):
    child_id: UUID | None = None
    closure_reason: ShortCode | None = None
    closed_at: Time


# -- supervision ----------------------------------------------------------------------------------


class SupervisionRecorded(Reader):
    supervision_id: UUID
    child_id: UUID | None = None
    team_id: FeedId | None = None
    held_at: Time
    kind: Code | None = None
    next_due_on: Day | None = None
    actions: int | None = None


class SupervisionActionSet(Reader):
    action_id: UUID
    supervision_id: UUID
    due_on: Day | None = None


class SupervisionActionCompleted(Reader):
    action_id: UUID
    supervision_id: UUID
    completed_at: Time | None = None


class SupervisionActionCancelled(Reader):
    action_id: UUID
    supervision_id: UUID
    cancelled_at: Time | None = None


class NewlyQualifiedRegisterSet(Reader):
    """A worker's newly-qualified register entry (its stream is the entry's, not a journey's)."""

    worker_id: Annotated[FeedWorkerId, StringConstraints(min_length=1)]
    newly_qualified_until: Day | None = None


REFERRALS: dict[str, type[Reader]] = {
    m.__name__: m
    for m in (
        ContactReceived,
        ThresholdDecisionRecorded,
        ThresholdDecisionAuthorised,
        ThresholdDecisionSuperseded,
        ReferrerFeedbackSent,
        JourneyAllocated,
        JourneyTransferred,
        JourneyClosed,
    )
}
SUPERVISION: dict[str, type[Reader]] = {
    m.__name__: m
    for m in (
        SupervisionRecorded,
        SupervisionActionSet,
        SupervisionActionCompleted,
        SupervisionActionCancelled,
        NewlyQualifiedRegisterSet,
    )
}
