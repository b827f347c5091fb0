"""Reporting's own tolerant readers of the producers' event payloads.

Reporting never imports another service's code: these models copy only the fields it needs from
the published contracts (referrals and supervision `GET /events/schema`), ignore any other field,
and read codes as plain strings so that a code added upstream does not stop the projection.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Reader(BaseModel):
    """Times must carry a zone: a naive one cannot be placed on the London calendar, so the event
    is skipped (and counted) rather than guessed."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# -- referrals ------------------------------------------------------------------------------------


class ContactReceived(Reader):
    contact_id: UUID
    child_id: UUID
    received_at: AwareDatetime
    source: str | None = None
    channel: str | None = None
    urgency: str | None = None
    opens_journey: bool = False
    repeat_contact: bool = False
    team_id: str | None = None
    area: str | None = None


class ThresholdDecisionRecorded(Reader):
    decision_id: UUID
    contact_id: UUID
    child_id: UUID | None = None
    outcome: str
    threshold_level: int | None = None
    primary_need: str | None = None
    decided_at: AwareDatetime
    requires_authorisation: bool = False
    supersedes_decision_id: UUID | None = None
    decided_by_team: str | None = None
    decided_by_area: str | None = None


class ThresholdDecisionAuthorised(Reader):
    decision_id: UUID
    contact_id: UUID
    authorised_at: AwareDatetime


class ThresholdDecisionSuperseded(Reader):
    decision_id: UUID
    contact_id: UUID
    superseded_by_decision_id: UUID
    reason: str | None = None


class ReferrerFeedbackSent(Reader):
    contact_id: UUID
    kind: str | None = None
    sent_at: AwareDatetime


class JourneyAllocated(Reader):
    allocation_id: UUID | None = None
    child_id: UUID | None = None
    team_id: str | None = None
    area: str | None = None
    service_type: str | None = None
    worker_id: str | None = None
    effective_at: AwareDatetime


class JourneyTransferred(Reader):
    allocation_id: UUID | None = None
    child_id: UUID | None = None
    from_team_id: str | None = None
    to_team_id: str | None = None
    from_area: str | None = None
    to_area: str | None = None
    to_service_type: str | None = None
    from_worker_id: str | None = None
    to_worker_id: str | None = None
    team_changed: bool
    worker_changed: bool
    reason: str | None = None
    effective_at: AwareDatetime


class JourneyClosed(Reader):
    child_id: UUID | None = None
    closure_reason: str | None = None
    closed_at: AwareDatetime


# -- supervision ----------------------------------------------------------------------------------


class SupervisionRecorded(Reader):
    supervision_id: UUID
    child_id: UUID | None = None
    team_id: str | None = None
    held_at: AwareDatetime
    kind: str | None = None
    next_due_on: date | None = None
    actions: int | None = None


class SupervisionActionSet(Reader):
    action_id: UUID
    supervision_id: UUID
    due_on: date | None = None


class SupervisionActionCompleted(Reader):
    action_id: UUID
    supervision_id: UUID
    completed_at: AwareDatetime | None = None


class SupervisionActionCancelled(Reader):
    action_id: UUID
    supervision_id: UUID
    cancelled_at: AwareDatetime | None = None


class NewlyQualifiedRegisterSet(Reader):
    """A worker's newly-qualified register entry (its stream is the entry's, not a journey's)."""

    worker_id: str = Field(min_length=1, max_length=120)
    newly_qualified_until: date | None = None


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
