"""The journey events the referrals service publishes: its part of the event contract.

Every payload is coded and pseudonymous: ids, national and local codes, times, team ids and areas.
No names, addresses, dates of birth or free text ever enter an event. The stream is the journey.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.codes import (
    AssessmentFactor,
    ClosureReason,
    ConsentStatus,
    ContactChannel,
    DecisionOutcome,
    FeedbackKind,
    FrontDoorClosure,
    PrimaryNeed,
    ReferralSource,
    ServiceType,
    SupersedeReason,
    Urgency,
    WorkerChangeReason,
)
from shared.events.contract import Catalogue, EventPayload

catalogue = Catalogue("referrals")

TeamId = str  # a team's register code, e.g. "FD-WEST"
StaffId = str  # a pseudonymous staff id (the token subject)


@catalogue.register
class ContactReceived(EventPayload):
    """A contact about one child arrived at the front door (occurred_at = received_at)."""

    event_type = "ContactReceived"
    contact_id: UUID
    child_id: UUID
    contact_group_id: UUID | None = Field(
        None, description="Shared by the contacts of one multi-child approach."
    )
    received_at: datetime
    source: ReferralSource
    channel: ContactChannel
    urgency: Urgency
    consent: ConsentStatus
    opens_journey: bool = Field(description="True when this contact started the journey.")
    repeat_contact: bool = Field(description="True when the journey was already open.")
    partner_system: bool = Field(False, description="Submitted by a partner system rather than staff.")
    team_id: TeamId | None = Field(None, description="The front-door team that received it.")
    area: str | None = Field(None, description="That team's area.")


@catalogue.register
class ThresholdDecisionRecorded(EventPayload):
    event_type = "ThresholdDecisionRecorded"
    decision_id: UUID
    contact_id: UUID
    child_id: UUID
    outcome: DecisionOutcome
    threshold_level: int
    primary_need: PrimaryNeed | None = None
    assessment_factors: list[AssessmentFactor] = []
    decided_at: datetime
    requires_authorisation: bool
    supersedes_decision_id: UUID | None = None
    decided_by_team: TeamId | None = None
    decided_by_area: str | None = None


@catalogue.register
class ThresholdDecisionAuthorised(EventPayload):
    event_type = "ThresholdDecisionAuthorised"
    decision_id: UUID
    contact_id: UUID
    authorised_at: datetime


@catalogue.register
class ThresholdDecisionSuperseded(EventPayload):
    event_type = "ThresholdDecisionSuperseded"
    decision_id: UUID
    contact_id: UUID
    superseded_by_decision_id: UUID
    reason: SupersedeReason


@catalogue.register
class ReferrerFeedbackSent(EventPayload):
    event_type = "ReferrerFeedbackSent"
    contact_id: UUID
    kind: FeedbackKind
    sent_at: datetime


@catalogue.register
class JourneyAllocated(EventPayload):
    """The journey's first allocation (not a handover)."""

    event_type = "JourneyAllocated"
    allocation_id: UUID
    child_id: UUID
    team_id: TeamId
    area: str
    service_type: ServiceType
    worker_id: StaffId | None = None
    effective_at: datetime


@catalogue.register
class JourneyTransferred(EventPayload):
    """A handover: a team change, a worker change, or both."""

    event_type = "JourneyTransferred"
    allocation_id: UUID
    child_id: UUID
    from_team_id: TeamId
    to_team_id: TeamId
    from_area: str
    to_area: str
    to_service_type: ServiceType
    from_worker_id: StaffId | None = None
    to_worker_id: StaffId | None = None
    team_changed: bool
    worker_changed: bool
    reason: WorkerChangeReason
    effective_at: datetime


@catalogue.register
class JourneyClosed(EventPayload):
    event_type = "JourneyClosed"
    child_id: UUID
    closure_reason: ClosureReason | FrontDoorClosure = Field(
        description="An RC code ends a referral; a local FD_ code, a journey with none, naming the "
        "outcome of one of its decisions (FD_EXISTING_CASE: EXISTING_OPEN_CASE, FD_OTHER: OTHER). "
        "Readers should accept codes added later."
    )
    closed_at: datetime
