"""Reporting's own tolerant readers of the producers' event payloads.

Reporting never imports another service's code: these models copy only the fields it needs from
the published contracts (referrals and supervision `GET /events/schema`), ignore any other field,
and read codes as plain strings so that a code added upstream does not stop the projection.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from shared.types import FeedDate, FeedId, FeedTime, FeedWorkerId, no_control_characters

# What the projection's columns hold (ids, times and dates: shared.types.FeedId and the rest; codes
# of the lengths below): a value beyond them would fail its batch on every retry, stopping the feed,
# so it makes the payload unreadable, skipped and counted like any other.
Source = Annotated[str, StringConstraints(max_length=10), AfterValidator(no_control_characters)]
ShortCode = Annotated[str, StringConstraints(max_length=20), AfterValidator(no_control_characters)]
Code = Annotated[str, StringConstraints(max_length=40), AfterValidator(no_control_characters)]
# Codes kept only in a timeline entry's JSON, which would hold any length: bounded as the referrals
# service bounds its own column for them (a longer value is none it wrote, and may be a name, an
# address or free text, which reporting never keeps), and read as unreadable beyond that, as above.
# A primary need (decisions.primary_need, 3) and a supersede reason (decisions.supersede_reason, 30);
# a referrer feedback kind (referrer_feedback.kind, 20) is a ShortCode.
NeedCode = Annotated[str, StringConstraints(max_length=3), AfterValidator(no_control_characters)]
ReasonCode = Annotated[str, StringConstraints(max_length=30), AfterValidator(no_control_characters)]


class Reader(BaseModel):
    """Times must carry a zone: a naive one cannot be placed on the London calendar, so the event
    is skipped (and counted) rather than guessed."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# -- referrals ------------------------------------------------------------------------------------


class ContactReceived(Reader):
    contact_id: UUID
    child_id: UUID
    received_at: FeedTime
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
    primary_need: NeedCode | None = None
    decided_at: FeedTime
    requires_authorisation: bool = False
    supersedes_decision_id: UUID | None = None
    decided_by_team: FeedId | None = None
    decided_by_area: FeedId | None = None


class ThresholdDecisionAuthorised(Reader):
    decision_id: UUID
    contact_id: UUID
    authorised_at: FeedTime


class ThresholdDecisionSuperseded(Reader):
    decision_id: UUID
    contact_id: UUID
    superseded_by_decision_id: UUID
    reason: ReasonCode | None = None


class ReferrerFeedbackSent(Reader):
    contact_id: UUID
    kind: ShortCode | None = None
    sent_at: FeedTime


class JourneyAllocated(Reader):
    allocation_id: UUID | None = None
    child_id: UUID | None = None
    team_id: FeedId | None = None
    area: FeedId | None = None
    service_type: Code | None = None
    worker_id: FeedWorkerId | None = None
    effective_at: FeedTime


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
    effective_at: FeedTime


class JourneyClosed(Reader):
    child_id: UUID | None = None
    closure_reason: ShortCode | None = None
    closed_at: FeedTime


# -- supervision ----------------------------------------------------------------------------------


class SupervisionRecorded(Reader):
    supervision_id: UUID
    child_id: UUID | None = None
    team_id: FeedId | None = None
    held_at: FeedTime
    kind: Code | None = None
    next_due_on: FeedDate | None = None
    actions: int | None = None


class SupervisionActionSet(Reader):
    action_id: UUID
    supervision_id: UUID
    due_on: FeedDate | None = None


class SupervisionActionCompleted(Reader):
    action_id: UUID
    supervision_id: UUID
    completed_at: FeedTime | None = None


class SupervisionActionCancelled(Reader):
    action_id: UUID
    supervision_id: UUID
    cancelled_at: FeedTime | None = None


class NewlyQualifiedRegisterSet(Reader):
    """A worker's newly-qualified register entry (its stream is the entry's, not a journey's)."""

    worker_id: Annotated[FeedWorkerId, StringConstraints(min_length=1)]
    newly_qualified_until: FeedDate | None = None


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
