"""Threshold decisions: record, authorise (another manager), supersede. Never commits."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.common import Pending, explained_backdating, get_or_404, team_claim
from services.referrals.contacts.models import Contact
from services.referrals.contacts.service import open_decision_of, open_journey, refuse_closed
from services.referrals.decisions.models import Decision, DecisionIn, DecisionStatus, SupersedeIn
from services.referrals.events import (
    ThresholdDecisionAuthorised,
    ThresholdDecisionRecorded,
    ThresholdDecisionSuperseded,
)
from services.referrals.journeys.models import Journey
from services.referrals.settings import Settings
from services.referrals.teams.models import Team
from shared.auth import Principal, Role
from shared.codes import REFERRAL_OUTCOMES, AssessmentFactor, DecisionOutcome
from shared.errors import Conflict, Forbidden, Unprocessable
from shared.types import utcnow


def check_decision(
    data: DecisionIn, contact: Contact, settings: Settings, prefix: str = "", *, first: bool = True
) -> bool:
    """The census and local rules of one decision (`first`: the contact's first, not a supersession);
    each failure names its field. Returns whether the decision is backdated."""
    if data.outcome is DecisionOutcome.OTHER and not data.other_reason:
        raise Unprocessable(
            "other_reason is required when the outcome is OTHER.",
            field=f"{prefix}other_reason",
            code="other_reason_required",
        )
    if data.outcome is not DecisionOutcome.OTHER and data.other_reason:
        raise Unprocessable("other_reason is only for the outcome OTHER.", field=f"{prefix}other_reason")
    if data.threshold_level not in settings.threshold_levels:
        levels = ", ".join(str(n) for n in settings.threshold_levels)
        raise Unprocessable(
            f"Not a level of the threshold continuum ({levels}).",
            field=f"{prefix}threshold_level",
            code="unknown_threshold_level",
        )
    if data.outcome in REFERRAL_OUTCOMES and data.primary_need is None:
        raise Unprocessable(
            "A referral outcome needs a primary need code (N0-N9).",
            field=f"{prefix}primary_need",
            code="primary_need_required",
        )
    if data.outcome not in REFERRAL_OUTCOMES and data.primary_need is not None:
        raise Unprocessable(
            "A primary need code is recorded only when the outcome is a referral.",
            field=f"{prefix}primary_need",
            code="primary_need_refused",
        )
    factors = data.assessment_factors
    if len(set(factors)) != len(factors):
        raise Unprocessable(
            "Each assessment factor may appear only once (census 8898).",
            field=f"{prefix}assessment_factors",
            code="duplicate_factor",
        )
    if AssessmentFactor.C21 in factors and len(factors) > 1:
        raise Unprocessable(
            "Factor 21 (no factors identified) must be used alone (census 8869).",
            field=f"{prefix}assessment_factors",
            code="factor_21_not_alone",
        )
    if settings.in_future(data.decided_at):
        raise Unprocessable(
            "decided_at is in the future.", field=f"{prefix}decided_at", code="time_in_future"
        )
    if data.decided_at < contact.received_at:
        raise Unprocessable(
            "A decision cannot be made before its contact was received.",
            field=f"{prefix}decided_at",
            code="decision_before_contact",
        )
    _check_late_reason(data, contact, settings, prefix, first)
    return explained_backdating(
        settings,
        data.decided_at,
        data.backdating_reason,
        time_field="decided_at",
        reason_field=f"{prefix}backdating_reason",
    )


def _check_late_reason(
    data: DecisionIn, contact: Contact, settings: Settings, prefix: str, first: bool
) -> None:
    """Management oversight of the T1 deadline: a breach is explained when it happens, by whoever
    decides, and a reason is never recorded against a decision that was not late."""
    field = f"{prefix}late_reason"
    if not first:
        if data.late_reason:
            raise Unprocessable(
                "late_reason is for a contact's first decision: a superseding decision is not late.",
                field=field,
                code="late_reason_refused",
            )
        return
    due = settings.decision_due_at(contact.received_at)
    if data.decided_at > due and not data.late_reason:
        raise Unprocessable(
            f"The decision was due by {due.isoformat()} (T1): give a late_reason.",
            field=field,
            code="late_reason_required",
        )
    if data.decided_at <= due and data.late_reason:
        raise Unprocessable(
            f"late_reason is only for a decision after its deadline ({due.isoformat()}).",
            field=field,
            code="late_reason_refused",
        )


async def _new_decision(
    session: AsyncSession,
    data: DecisionIn,
    contact: Contact,
    principal: Principal,
    supersedes: uuid.UUID | None,
    backdated: bool,
) -> tuple[Decision, ThresholdDecisionRecorded]:
    needs_authorisation = data.outcome in REFERRAL_OUTCOMES
    team_id = team_claim(principal)
    team = await session.get(Team, team_id) if team_id else None
    decision = Decision(
        contact_id=contact.id,
        journey_id=contact.journey_id,
        child_id=contact.child_id,
        outcome=data.outcome.value,
        other_reason=data.other_reason,
        threshold_level=data.threshold_level,
        primary_need=data.primary_need.value if data.primary_need else None,
        assessment_factors=[f.value for f in data.assessment_factors],
        rationale=data.rationale,
        late_reason=data.late_reason,
        decided_at=data.decided_at,
        backdated=backdated,
        backdating_reason=data.backdating_reason,
        decided_by=principal.subject,
        decided_by_team=team_id,
        requires_authorisation=needs_authorisation,
        status=(
            DecisionStatus.awaiting_authorisation if needs_authorisation else DecisionStatus.current
        ).value,
        supersedes_id=supersedes,
    )
    session.add(decision)
    contact.awaiting_decision = False
    contact.version += 1
    session.add(contact)
    event = ThresholdDecisionRecorded(
        decision_id=decision.id,
        contact_id=contact.id,
        child_id=contact.child_id,
        outcome=data.outcome,
        threshold_level=data.threshold_level,
        primary_need=data.primary_need,
        assessment_factors=list(data.assessment_factors),
        decided_at=data.decided_at,
        requires_authorisation=needs_authorisation,
        supersedes_decision_id=supersedes,
        decided_by_team=team_id,
        decided_by_area=team.area if team else None,
    )
    return decision, event


async def refuse_second_referral(
    session: AsyncSession, decision: DecisionIn, journey_id: uuid.UUID, replacing: uuid.UUID | None = None
) -> None:
    """One CIN episode, one referral (REFERENCE.md 2: a CINdetails is one referral): a journey with a
    referral decision in force (awaiting authorisation or authorised) takes no second one, which the
    reports would count as a new referral and a re-referral. A later contact about the child is an
    existing open case; a different referral replaces the first by superseding it (`replacing`)."""
    if decision.outcome not in REFERRAL_OUTCOMES:
        return
    query = select(col(Decision.id)).where(
        col(Decision.journey_id) == journey_id,
        col(Decision.status) != DecisionStatus.superseded.value,
        col(Decision.outcome).in_([o.value for o in REFERRAL_OUTCOMES]),
    )
    if replacing is not None:
        query = query.where(col(Decision.id) != replacing)
    if (await session.execute(query.limit(1))).first() is not None:
        raise Conflict(
            "This child's journey already has a referral (one CIN episode, one referral): record "
            "EXISTING_OPEN_CASE, or supersede that referral decision to change it.",
            code="journey_has_referral",
        )


async def record_decision(
    session: AsyncSession, contact: Contact, data: DecisionIn, principal: Principal, settings: Settings
) -> tuple[Decision, Pending]:
    journey = await open_journey(session, contact.journey_id)
    # Read again under the journey's lock: the caller read it before, a concurrent acknowledgement or
    # feedback may have committed since, and the contact's version bumped here must follow its version.
    await session.refresh(contact)
    if await open_decision_of(session, contact.id) is not None:
        raise Conflict(
            "This contact already has a decision; supersede it to change it.", code="decision_exists"
        )
    backdated = check_decision(data, contact, settings)
    await refuse_second_referral(session, data, journey.id)
    decision, event = await _new_decision(session, data, contact, principal, None, backdated)
    await session.flush()
    return decision, Pending(journey, [(event, data.decided_at)])


async def lock_decision(session: AsyncSession, decision_id: uuid.UUID) -> tuple[Decision, Journey]:
    """The decision read afresh under its journey's lock, for checking an authorisation's or a
    supersession's If-Match against what the previous writer committed. Every decision write takes
    the journey's lock and no other first (one lock order, so no deadlock), and a decision never
    changes journey. Closed journeys are refused after the If-Match check, by the change itself."""
    decision = await get_or_404(session, Decision, decision_id, "decision")
    journey = await get_or_404(session, Journey, decision.journey_id, "journey", lock=True)
    await session.refresh(decision)
    return decision, journey


async def authorise(
    session: AsyncSession, decision: Decision, journey: Journey, principal: Principal
) -> Pending:
    """`decision` and `journey` as `lock_decision` gave them."""
    refuse_closed(journey)
    if decision.status == DecisionStatus.superseded.value:
        raise Conflict("This decision has been superseded.", code="decision_superseded")
    if not decision.requires_authorisation:
        raise Conflict(
            "This decision does not open a referral and needs no authorisation.", code="no_authorisation"
        )
    if decision.authorised_at is not None:
        raise Conflict("This decision is already authorised.", code="already_authorised")
    if not principal.has(Role.manager, Role.admin):
        raise Forbidden("Only a manager can authorise a decision.")
    if decision.decided_by == principal.subject:
        raise Forbidden("A decision must be authorised by a manager other than the person who made it.")
    # Never before the decision itself (decided_at may sit within the allowed clock skew of now).
    now = max(utcnow(), decision.decided_at)
    decision.authorised_at = now
    decision.authorised_by = principal.subject
    decision.status = DecisionStatus.current.value
    decision.version += 1
    session.add(decision)
    await session.flush()
    event = ThresholdDecisionAuthorised(
        decision_id=decision.id, contact_id=decision.contact_id, authorised_at=now
    )
    return Pending(journey, [(event, now)])


async def _signed_off_referral(session: AsyncSession, decision: Decision) -> bool:
    """Whether `decision` is a referral a manager signed off, or replaced one by referrals alone: an
    authorised referral superseded by another referral (awaiting authorisation) is still that signed-off
    referral, so stepping the newer one down is stepping the signed-off one down. The chain stops at
    the first outcome that is not a referral: a manager (or a referral never authorised) stepped it
    down there."""
    current: Decision | None = decision
    while current is not None and DecisionOutcome(current.outcome) in REFERRAL_OUTCOMES:
        if current.authorised_at is not None:
            return True
        if current.supersedes_id is None:
            return False
        current = await session.get(Decision, current.supersedes_id)
    return False


async def supersede(
    session: AsyncSession,
    old: Decision,
    journey: Journey,
    data: SupersedeIn,
    principal: Principal,
    settings: Settings,
) -> tuple[Decision, Pending]:
    """`old` and `journey` as `lock_decision` gave them."""
    refuse_closed(journey)
    if old.status == DecisionStatus.superseded.value:
        raise Conflict("This decision has already been superseded.", code="decision_superseded")
    # Management oversight: a referral a manager signed off is not stepped down by a practitioner alone
    # (to NFA, say, which needs no authorisation); one replaced by another referral is authorised again.
    stepped_down = data.decision.outcome not in REFERRAL_OUTCOMES and await _signed_off_referral(session, old)
    if stepped_down and not principal.has(Role.manager, Role.admin):
        raise Forbidden("Only a manager can replace an authorised referral with an outcome that is not one.")
    contact = await session.get(Contact, old.contact_id)
    assert contact is not None
    backdated = check_decision(data.decision, contact, settings, prefix="decision.", first=False)
    await refuse_second_referral(session, data.decision, journey.id, replacing=old.id)
    if data.decision.decided_at < old.decided_at:
        raise Unprocessable(
            "The new decision cannot be earlier than the one it supersedes.",
            field="decision.decided_at",
            code="before_superseded_decision",
        )
    now = utcnow()
    new, recorded = await _new_decision(session, data.decision, contact, principal, old.id, backdated)
    old.status = DecisionStatus.superseded.value
    old.superseded_by_id = new.id
    old.superseded_at = now
    old.supersede_reason = data.reason.value
    old.supersede_note = data.note
    old.version += 1
    session.add(old)
    await session.flush()
    superseded = ThresholdDecisionSuperseded(
        decision_id=old.id, contact_id=old.contact_id, superseded_by_decision_id=new.id, reason=data.reason
    )
    return new, Pending(journey, [(superseded, now), (recorded, data.decision.decided_at)])


async def decisions_of_contact(session: AsyncSession, contact_id: uuid.UUID) -> list[Decision]:
    result = await session.execute(
        select(Decision)
        .where(col(Decision.contact_id) == contact_id)
        .order_by(col(Decision.recorded_at), col(Decision.id))
    )
    return list(result.scalars().all())
