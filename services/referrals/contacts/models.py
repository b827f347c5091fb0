"""Contacts: one approach to the front door about one child, and what the referrer was told."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field as PField
from sqlalchemy import Index
from sqlmodel import Field

from services.referrals.children.schemas import ChildIn
from services.referrals.common import Email, Instant, LongText, Phone, Reason, Schema, ShortText
from services.referrals.db import Base
from shared.codes import ConsentStatus, ContactChannel, DecisionOutcome, FeedbackKind, ReferralSource, Urgency
from shared.types import UTCDateTime, utcnow


class Contact(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    __tablename__ = "contacts"
    __table_args__ = (Index(None, "awaiting_decision", "received_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    child_id: uuid.UUID = Field(foreign_key="children.id", index=True)
    journey_id: uuid.UUID = Field(foreign_key="journeys.id", index=True)
    contact_group_id: uuid.UUID | None = Field(default=None, index=True)
    # Indexed for the Annex A lists, which read every contact received in a window of dates.
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    backdated: bool = False
    backdating_reason: str | None = Field(default=None, max_length=500)
    source: str = Field(max_length=3)
    channel: str = Field(max_length=30)
    referrer_name: str | None = Field(default=None, max_length=200)
    referrer_organisation: str | None = Field(default=None, max_length=200)
    referrer_role: str | None = Field(default=None, max_length=200)
    referrer_phone: str | None = Field(default=None, max_length=20)
    referrer_email: str | None = Field(default=None, max_length=254)
    concerns_summary: str = Field(max_length=4000)
    consent: str = Field(max_length=20)
    consent_reason: str | None = Field(default=None, max_length=500)
    urgency: str = Field(max_length=10)
    child_views: str | None = Field(default=None, max_length=4000)
    opens_journey: bool
    repeat_contact: bool
    # True until the contact has a current threshold decision (the work list's filter).
    awaiting_decision: bool = True
    recorded_by: str = Field(max_length=120, index=True)
    partner_system: bool = False
    team_id: str | None = Field(default=None, max_length=40, index=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    feedback_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = 1


class ReferrerFeedback(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    __tablename__ = "referrer_feedback"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    contact_id: uuid.UUID = Field(foreign_key="contacts.id", index=True)
    kind: str = Field(max_length=20)
    sent_at: datetime = Field(sa_type=UTCDateTime)
    recorded_by: str = Field(max_length=120)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- API schemas -----------------------------------------------------------------------------------


class ReferrerIn(Schema):
    """Who made the contact. Kept in this service only; never in events."""

    model_config = {"extra": "forbid"}

    name: ShortText
    organisation: ShortText | None = None
    role: ShortText | None = None
    phone: Phone | None = PField(None, description="UK phone number.")
    email: Email | None = None


class ConsentIn(Schema):
    model_config = {"extra": "forbid"}

    status: ConsentStatus
    reason: Reason | None = PField(None, description="Required when consent is not given or not required.")


class ContactIn(Schema):
    """One approach about one or more children: one contact is created per child."""

    model_config = {"extra": "forbid"}

    child_ids: list[uuid.UUID] = PField(
        default_factory=list, max_length=20, description="Children already on record (see search)."
    )
    new_children: list[ChildIn] = PField(
        default_factory=list,
        max_length=20,
        description="Children to create with the contact. A new child whose NHS number is on a child's "
        "record is that child: the contact is recorded for them as if named in child_ids (its child_id is "
        "theirs; a repeat contact on their open journey, or a new journey), and the details sent are not "
        "applied to the record (a correction does that).",
    )
    received_at: Instant = PField(
        description="When the front door received it: not in the future; may be earlier than entry."
    )
    backdating_reason: Reason | None = PField(
        None, description="Required when received_at is more than the backdating threshold before now."
    )
    source: ReferralSource = PField(description="CIN census referral source (N00152).")
    channel: ContactChannel
    referrer: ReferrerIn | None = PField(None, description="Required unless the source is 9 (anonymous).")
    concerns_summary: LongText = PField(description="The worry, in brief (at most 4000 characters).")
    consent: ConsentIn
    urgency: Urgency
    child_views: LongText | None = PField(None, description="The child's views, where known.")


class ContactStatus(StrEnum):
    """A contact's progress: awaiting_decision (no threshold decision yet); awaiting_authorisation (a
    referral outcome is decided and is being confirmed: a manager may still change or refuse it, so its
    outcome is not shown); decided (the outcome is final: needs no authorisation, or is authorised);
    closed (the child's journey is closed)."""

    awaiting_decision = "awaiting_decision"
    awaiting_authorisation = "awaiting_authorisation"
    decided = "decided"
    closed = "closed"


class ReferrerOut(Schema):
    name: str
    organisation: str | None
    role: str | None
    phone: str | None
    email: str | None


class ContactOut(Schema):
    id: uuid.UUID
    child_id: uuid.UUID
    journey_id: uuid.UUID
    contact_group_id: uuid.UUID | None
    received_at: datetime
    recorded_at: datetime
    backdated: bool = PField(description="Entered more than the backdating threshold after receipt.")
    backdating_reason: str | None
    source: ReferralSource
    channel: ContactChannel
    referrer: ReferrerOut | None
    concerns_summary: str
    consent: ConsentStatus
    consent_reason: str | None
    urgency: Urgency
    child_views: str | None
    opens_journey: bool
    repeat_contact: bool = PField(description="The child's journey was already open.")
    awaiting_decision: bool
    recorded_by: str
    partner_system: bool
    team_id: str | None
    acknowledged_at: datetime | None
    feedback_sent_at: datetime | None

    @classmethod
    def of(cls, c: Contact) -> ContactOut:
        referrer = (
            ReferrerOut(
                name=c.referrer_name,
                organisation=c.referrer_organisation,
                role=c.referrer_role,
                phone=c.referrer_phone,
                email=c.referrer_email,
            )
            if c.referrer_name
            else None
        )
        return cls(
            id=c.id,
            child_id=c.child_id,
            journey_id=c.journey_id,
            contact_group_id=c.contact_group_id,
            received_at=c.received_at,
            recorded_at=c.recorded_at,
            backdated=c.backdated,
            backdating_reason=c.backdating_reason,
            source=ReferralSource(c.source),
            channel=ContactChannel(c.channel),
            referrer=referrer,
            concerns_summary=c.concerns_summary,
            consent=ConsentStatus(c.consent),
            consent_reason=c.consent_reason,
            urgency=Urgency(c.urgency),
            child_views=c.child_views,
            opens_journey=c.opens_journey,
            repeat_contact=c.repeat_contact,
            awaiting_decision=c.awaiting_decision,
            recorded_by=c.recorded_by,
            partner_system=c.partner_system,
            team_id=c.team_id,
            acknowledged_at=c.acknowledged_at,
            feedback_sent_at=c.feedback_sent_at,
        )


class ContactsCreated(Schema):
    contact_group_id: uuid.UUID | None = PField(description="Set when the approach named several children.")
    contacts: list[ContactOut]


class PartnerContactReceipt(Schema):
    id: uuid.UUID = PField(description="The contact's id: use it to read its status.")
    child_id: uuid.UUID
    received_at: datetime
    status: ContactStatus


class PartnerContactsReceipt(Schema):
    """What a partner system gets back: receipts only, so it learns nothing of the child's history."""

    contact_group_id: uuid.UUID | None
    contacts: list[PartnerContactReceipt]


class ContactStatusOut(Schema):
    """What a partner may see of a contact it submitted: its progress, not the records."""

    id: uuid.UUID
    received_at: datetime
    status: ContactStatus
    outcome: DecisionOutcome | None = PField(
        description="The current decision's outcome once final: at once when it needs no authorisation, "
        "a referral outcome only once a manager has authorised it (null while awaiting_authorisation). "
        "A superseded decision's outcome is never shown."
    )
    acknowledged_at: datetime | None
    feedback_sent_at: datetime | None


class FeedbackIn(Schema):
    model_config = {"extra": "forbid"}

    kind: FeedbackKind = PField(description="acknowledgement (T1) or feedback on the decision (T2).")
    sent_at: Instant = PField(
        description="When it was sent: not before receipt (feedback: not before the decision), not in the "
        "future."
    )


class FeedbackOut(Schema):
    id: uuid.UUID
    contact_id: uuid.UUID
    kind: FeedbackKind
    sent_at: datetime
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def of(cls, f: ReferrerFeedback) -> FeedbackOut:
        return cls(
            id=f.id,
            contact_id=f.contact_id,
            kind=FeedbackKind(f.kind),
            sent_at=f.sent_at,
            recorded_by=f.recorded_by,
            recorded_at=f.recorded_at,
        )
