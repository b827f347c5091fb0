"""Threshold decisions on a contact: never edited in place; a change is an explicit supersede."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field as PField
from sqlalchemy import JSON, Index
from sqlmodel import Field, col

from services.referrals.common import Instant, LongText, Reason, Schema
from services.referrals.db import Base
from shared.codes import REFERRAL_OUTCOMES, AssessmentFactor, DecisionOutcome, PrimaryNeed, SupersedeReason
from shared.types import UTCDateTime, utcnow


class DecisionStatus(StrEnum):
    awaiting_authorisation = "awaiting_authorisation"
    current = "current"  # in force (authorised, or needing no authorisation)
    superseded = "superseded"


class Decision(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    __tablename__ = "decisions"
    __table_args__ = (Index(None, "status", "decided_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    contact_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    journey_id: uuid.UUID = Field(foreign_key="journeys.id", index=True)
    child_id: uuid.UUID = Field(foreign_key="children.id", index=True)
    outcome: str = Field(max_length=30)
    other_reason: str | None = Field(default=None, max_length=500)
    threshold_level: int
    primary_need: str | None = Field(default=None, max_length=3)
    assessment_factors: list[str] = Field(default_factory=list, sa_type=JSON)
    rationale: str = Field(max_length=4000)
    # Why a contact's first decision came after its T1 deadline (kept here, never published).
    late_reason: str | None = Field(default=None, max_length=500)
    decided_at: datetime = Field(sa_type=UTCDateTime)
    # Recorded more than the backdating threshold after decided_at, and why (as for contacts).
    backdated: bool = False
    backdating_reason: str | None = Field(default=None, max_length=500)
    decided_by: str = Field(max_length=120)
    decided_by_team: str | None = Field(default=None, max_length=40, index=True)
    requires_authorisation: bool
    status: str = Field(max_length=30)
    authorised_by: str | None = Field(default=None, max_length=120)
    authorised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    supersedes_id: uuid.UUID | None = Field(default=None)
    superseded_by_id: uuid.UUID | None = Field(default=None)
    superseded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    supersede_reason: str | None = Field(default=None, max_length=30)
    supersede_note: str | None = Field(default=None, max_length=4000)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = 1


def referral_in_force() -> list[Any]:
    """Conditions on Decision for a referral: a contact whose current threshold decision (not
    superseded; authorised or still awaiting authorisation) has a referral outcome. As reporting
    counts referrals and re-referrals, and as the one-referral-per-journey rule sees one in force."""
    return [
        col(Decision.status) != DecisionStatus.superseded.value,
        col(Decision.outcome).in_([o.value for o in REFERRAL_OUTCOMES]),
    ]


# --- API schemas -----------------------------------------------------------------------------------


class DecisionIn(Schema):
    model_config = {"extra": "forbid"}

    outcome: DecisionOutcome
    other_reason: Reason | None = PField(None, description="Required when the outcome is OTHER.")
    threshold_level: int = PField(description="A level on the configured continuum (default 1-4).")
    primary_need: PrimaryNeed | None = PField(
        None, description="CIN primary need N0-N9: required for a referral outcome, refused otherwise."
    )
    assessment_factors: list[AssessmentFactor] = PField(
        default_factory=list, max_length=42, description="Where known; `21` alone; each code at most once."
    )
    rationale: LongText = PField(description="Why (at most 4000 characters).")
    late_reason: Reason | None = PField(
        None,
        description="Why the decision comes after its deadline (T1: office close on the working day "
        "the contact's decision was due, as the work list's decision_due_at shows): required for a "
        "contact's first decision made after it, refused otherwise (a superseding decision is never "
        "late: the contact's first decision met or missed the deadline).",
    )
    decided_at: Instant = PField(description="Not before the contact was received, not in the future.")
    backdating_reason: Reason | None = PField(
        None,
        description="Required when decided_at is more than the backdating threshold (REFERRALS_"
        "BACKDATING_THRESHOLD_HOURS, default 2) before now, as for a contact's received_at: a decision "
        "recorded long after it was made says why, so its time (and whether it met its deadline) is "
        "not taken on trust.",
    )


class SupersedeIn(Schema):
    model_config = {"extra": "forbid"}

    decision: DecisionIn = PField(description="The decision that replaces this one.")
    reason: SupersedeReason
    note: LongText = PField(description="What changed (at most 4000 characters).")


class DecisionOut(Schema):
    id: uuid.UUID
    contact_id: uuid.UUID
    journey_id: uuid.UUID
    child_id: uuid.UUID
    outcome: DecisionOutcome
    other_reason: str | None
    threshold_level: int
    primary_need: PrimaryNeed | None
    assessment_factors: list[AssessmentFactor]
    rationale: str
    late_reason: str | None = PField(description="Why the contact's first decision came after its deadline.")
    decided_at: datetime
    backdated: bool = PField(description="Recorded more than the backdating threshold after decided_at.")
    backdating_reason: str | None
    decided_by: str
    decided_by_team: str | None
    requires_authorisation: bool = PField(description="True for outcomes that open a CIN referral.")
    status: DecisionStatus
    authorised_by: str | None
    authorised_at: datetime | None
    supersedes_id: uuid.UUID | None
    superseded_by_id: uuid.UUID | None
    superseded_at: datetime | None
    supersede_reason: SupersedeReason | None
    supersede_note: str | None
    recorded_at: datetime

    @classmethod
    def of(cls, d: Decision) -> DecisionOut:
        return cls(
            id=d.id,
            contact_id=d.contact_id,
            journey_id=d.journey_id,
            child_id=d.child_id,
            outcome=DecisionOutcome(d.outcome),
            other_reason=d.other_reason,
            threshold_level=d.threshold_level,
            primary_need=PrimaryNeed(d.primary_need) if d.primary_need else None,
            assessment_factors=[AssessmentFactor(f) for f in d.assessment_factors],
            rationale=d.rationale,
            late_reason=d.late_reason,
            decided_at=d.decided_at,
            backdated=d.backdated,
            backdating_reason=d.backdating_reason,
            decided_by=d.decided_by,
            decided_by_team=d.decided_by_team,
            requires_authorisation=d.requires_authorisation,
            status=DecisionStatus(d.status),
            authorised_by=d.authorised_by,
            authorised_at=d.authorised_at,
            supersedes_id=d.supersedes_id,
            superseded_by_id=d.superseded_by_id,
            superseded_at=d.superseded_at,
            supersede_reason=SupersedeReason(d.supersede_reason) if d.supersede_reason else None,
            supersede_note=d.supersede_note,
            recorded_at=d.recorded_at,
        )
