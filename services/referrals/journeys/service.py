"""Journeys: first allocation, transfers (handovers) and closure. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.common import Pending, get_or_404
from services.referrals.contacts.models import Contact, ReferrerFeedback
from services.referrals.contacts.service import refuse_closed
from services.referrals.decisions.models import Decision, DecisionStatus
from services.referrals.events import JourneyAllocated, JourneyClosed, JourneyTransferred
from services.referrals.journeys.models import (
    Allocation,
    AllocationIn,
    ClosureIn,
    Journey,
    JourneyStatus,
    TransferIn,
)
from services.referrals.settings import Settings
from services.referrals.teams.models import Team
from services.referrals.teams.service import team_for
from shared.auth import Principal, Role
from shared.codes import (
    FRONT_DOOR_CLOSURE_OUTCOMES,
    FRONT_DOOR_OUTCOMES,
    REFERRAL_OUTCOMES,
    ClosureReason,
    DecisionOutcome,
    FrontDoorClosure,
    ServiceType,
)
from shared.errors import Conflict, Forbidden, Unprocessable
from shared.events.verify import HeadBatches, heads_in_batches
from shared.http import PageParams
from shared.types import utcnow


def _when(value: datetime | None, field: str, settings: Settings) -> datetime:
    """`value`, refused when in the future; now when not given. A time not given is then moved up to
    what it must follow: times recorded may lie within the allowed clock skew ahead of now, and a
    client that sent no time should not be refused for it (as an authorisation is)."""
    now = utcnow()
    if value is None:
        return now
    if settings.in_future(value, now):
        raise Unprocessable("This time is in the future.", field=field, code="time_in_future")
    return value


async def get_journey(session: AsyncSession, journey_id: uuid.UUID) -> Journey:
    return await get_or_404(session, Journey, journey_id, "journey")


async def current_allocation(session: AsyncSession, journey_id: uuid.UUID) -> Allocation | None:
    result = await session.execute(
        select(Allocation).where(col(Allocation.journey_id) == journey_id, col(Allocation.ended_at).is_(None))
    )
    return result.scalars().first()


async def allocate(
    session: AsyncSession, journey: Journey, data: AllocationIn, principal: Principal, settings: Settings
) -> tuple[Allocation, Pending]:
    """`journey` as `lock_journey` gave it (locked, its If-Match checked)."""
    refuse_closed(journey)
    if await current_allocation(session, journey.id) is not None:
        raise Conflict(
            "The journey is already allocated; record a transfer instead.", code="already_allocated"
        )
    team = await team_for(session, data.team_id, "team_id")
    effective = _when(data.effective_at, "effective_at", settings)
    if data.effective_at is None:
        effective = max(effective, journey.opened_at)  # see _when
    if effective < journey.opened_at:
        raise Unprocessable(
            "An allocation cannot start before the journey opened.",
            field="effective_at",
            code="before_journey",
        )
    allocation = Allocation(
        journey_id=journey.id,
        child_id=journey.child_id,
        team_id=team.id,
        worker_id=data.worker_id,
        started_at=effective,
        recorded_by=principal.subject,
    )
    journey.team_id, journey.worker_id, journey.allocated_since = team.id, data.worker_id, effective
    session.add_all([allocation, journey])
    await session.flush()
    event = JourneyAllocated(
        allocation_id=allocation.id,
        child_id=journey.child_id,
        team_id=team.id,
        area=team.area,
        service_type=ServiceType(team.service_type),
        worker_id=data.worker_id,
        effective_at=effective,
    )
    return allocation, Pending(journey, [(event, effective)])


def refuse_unless_holder(journey: Journey, principal: Principal, act: str) -> None:
    """Who may allocate, transfer or close a journey (`act` names which, for the refusal). While no
    team holds it (never allocated), any manager: it is still the front door's. Once a team holds it,
    only that team's managers: the team holding a child's journey hands it over or closes it, and
    another team's managers cannot move or close its children's journeys. A manager whose token names
    no team holds no journey. Admins are bound to no team (and may do everything in this service).
    Checked on the locked journey, so a concurrent transfer is seen."""
    if journey.team_id is None or principal.has(Role.admin):
        return
    holder = {"team_id": journey.team_id}
    if principal.team is None:
        raise Forbidden(
            f"Your token names no team; only a manager of {journey.team_id}, the team holding this"
            f" journey, may {act} it.",
            code="no_team",
            members=holder,
        )
    if principal.team != journey.team_id:
        raise Forbidden(
            f"Only a manager of {journey.team_id}, the team holding this journey, may {act} it.",
            code="not_your_team",
            members=holder,
        )


async def lock_journey(session: AsyncSession, journey_id: uuid.UUID) -> Journey:
    """The journey, locked for checking an allocation's, transfer's or closure's If-Match against what
    the previous writer committed (its stream version). Closed journeys are refused after that check,
    by the change itself (`refuse_closed`), so a stale ETag is a 412 before a closed journey is a 409."""
    return await get_or_404(session, Journey, journey_id, "journey", lock=True)


async def transfer(
    session: AsyncSession, journey: Journey, data: TransferIn, principal: Principal, settings: Settings
) -> tuple[Allocation, Pending]:
    """`journey` as `lock_journey` gave it (locked, its If-Match checked)."""
    refuse_closed(journey)
    current = await current_allocation(session, journey.id)
    if current is None:
        raise Conflict("The journey is not allocated yet; record its first allocation.", code="not_allocated")
    from_team = await session.get(Team, current.team_id)
    assert from_team is not None
    to_team = await team_for(session, data.team_id, "team_id") if data.team_id else from_team
    team_changed = to_team.id != current.team_id
    worker_changed = data.worker_id != current.worker_id
    if not team_changed and not worker_changed:
        # With no team named the team stays as it is: the worker is then what failed to change.
        raise Unprocessable(
            "The journey is already with this team and worker.",
            field="team_id" if data.team_id else "worker_id",
            code="transfer_to_same",
        )
    effective = _when(data.effective_at, "effective_at", settings)
    if data.effective_at is None:
        effective = max(effective, current.started_at)  # see _when
    if effective < current.started_at:
        raise Unprocessable(
            "A transfer cannot take effect before the current allocation started.",
            field="effective_at",
            code="before_current_allocation",
        )
    current.ended_at = effective
    new = Allocation(
        journey_id=journey.id,
        child_id=journey.child_id,
        team_id=to_team.id,
        worker_id=data.worker_id,
        started_at=effective,
        reason=data.reason.value,
        is_transfer=True,
        recorded_by=principal.subject,
    )
    journey.team_id, journey.worker_id, journey.allocated_since = to_team.id, data.worker_id, effective
    session.add_all([current, new, journey])
    await session.flush()
    event = JourneyTransferred(
        allocation_id=new.id,
        child_id=journey.child_id,
        from_team_id=from_team.id,
        to_team_id=to_team.id,
        from_area=from_team.area,
        to_area=to_team.area,
        to_service_type=ServiceType(to_team.service_type),
        from_worker_id=current.worker_id,
        to_worker_id=data.worker_id,
        team_changed=team_changed,
        worker_changed=worker_changed,
        reason=data.reason,
        effective_at=effective,
    )
    return new, Pending(journey, [(event, effective)])


async def _open_decisions(session: AsyncSession, journey_id: uuid.UUID) -> list[Decision]:
    result = await session.execute(
        select(Decision).where(
            col(Decision.journey_id) == journey_id, col(Decision.status) != DecisionStatus.superseded.value
        )
    )
    return list(result.scalars().all())


async def _superseded_times(session: AsyncSession, journey_id: uuid.UUID) -> list[datetime]:
    """When the journey's last supersession was recorded (none: an empty list): its event's time, the
    time it was made, however early the replacing decision was decided."""
    query = select(func.max(col(Decision.superseded_at))).where(col(Decision.journey_id) == journey_id)
    last = (await session.execute(query)).scalar_one_or_none()
    return [last] if last is not None else []


async def _feedback_times(session: AsyncSession, contacts: list[Contact]) -> list[datetime]:
    """When the last feedback to any of these contacts' referrers was sent (none: an empty list)."""
    answered = [c.id for c in contacts if c.acknowledged_at is not None or c.feedback_sent_at is not None]
    if not answered:
        return []  # no round trip for the usual journey, whose referrers have heard nothing yet
    sent = col(ReferrerFeedback.sent_at)
    query = select(func.max(sent)).where(col(ReferrerFeedback.contact_id).in_(answered))
    last = (await session.execute(query)).scalar_one_or_none()
    return [last] if last is not None else []


async def close(
    session: AsyncSession, journey: Journey, data: ClosureIn, principal: Principal, settings: Settings
) -> Pending:
    """`journey` as `lock_journey` gave it (locked, its If-Match checked)."""
    refuse_closed(journey)
    closed_at = _when(data.closed_at, "closed_at", settings)
    decisions = await _open_decisions(session, journey.id)
    contacts = list(
        (await session.execute(select(Contact).where(col(Contact.journey_id) == journey.id))).scalars().all()
    )
    if any(d.status == DecisionStatus.awaiting_authorisation.value for d in decisions):
        raise Conflict(
            "A decision on this journey is awaiting authorisation; authorise or supersede it first.",
            code="awaiting_authorisation",
        )
    if any(c.awaiting_decision for c in contacts):
        raise Conflict(
            "A contact on this journey still awaits its threshold decision.",
            code="contacts_awaiting_decision",
        )
    outcomes = {DecisionOutcome(d.outcome) for d in decisions}
    if isinstance(data.reason, FrontDoorClosure):
        if not outcomes <= FRONT_DOOR_OUTCOMES or FRONT_DOOR_CLOSURE_OUTCOMES[data.reason] not in outcomes:
            raise Unprocessable(
                "A front-door closure needs every contact decided with a non-referral outcome (NFA, "
                "advice, early help, existing open case or other), and one of those decisions to match "
                "the closure code.",
                field="reason",
                code="front_door_closure_not_allowed",
            )
    else:
        if not outcomes & REFERRAL_OUTCOMES:
            raise Unprocessable(
                "An RC closure ends a referral: this journey has no authorised referral decision.",
                field="reason",
                code="no_referral",
            )
        if (
            data.reason in (ClosureReason.RC8, ClosureReason.RC9)
            and DecisionOutcome.CIN_ASSESSMENT not in outcomes
        ):
            raise Unprocessable(
                "RC8 and RC9 need an assessment on the journey (census 8825Q).",
                field="reason",
                code="assessment_required",
            )
    # Nothing recorded may fall after the closure (census 2990), the referrers' feedback and the
    # supersessions included.
    latest = max(
        [journey.opened_at]
        + [c.received_at for c in contacts]
        + [d.decided_at for d in decisions]
        + [d.authorised_at for d in decisions if d.authorised_at]
        + ([journey.allocated_since] if journey.allocated_since else [])
        + await _feedback_times(session, contacts)
        + await _superseded_times(session, journey.id)
    )
    if data.closed_at is None:
        closed_at = max(closed_at, latest)  # see _when
    if closed_at < latest:
        raise Unprocessable(
            "closed_at is before activity recorded on the journey.",
            field="closed_at",
            code="closed_before_activity",
        )
    current = await current_allocation(session, journey.id)
    if current is not None:
        current.ended_at = closed_at
        session.add(current)
    journey.status = JourneyStatus.closed.value
    journey.closed_at = closed_at
    journey.closure_reason = data.reason.value
    journey.closed_by = principal.subject
    session.add(journey)
    await session.flush()
    event = JourneyClosed(child_id=journey.child_id, closure_reason=data.reason, closed_at=closed_at)
    return Pending(journey, [(event, closed_at)])


async def allocations_of(session: AsyncSession, journey_id: uuid.UUID) -> list[Allocation]:
    result = await session.execute(
        select(Allocation)
        .where(col(Allocation.journey_id) == journey_id)
        .order_by(col(Allocation.started_at), col(Allocation.recorded_at), col(Allocation.id))
    )
    return list(result.scalars().all())


async def list_journeys(
    session: AsyncSession,
    page: PageParams,
    *,
    team_id: str | None,
    status: JourneyStatus | None,
    unallocated: bool | None,
    child_id: uuid.UUID | None,
) -> tuple[list[Journey], int]:
    conditions = []
    if team_id is not None:
        conditions.append(col(Journey.team_id) == team_id)
    if status is not None:
        conditions.append(col(Journey.status) == status.value)
    if unallocated is True:
        conditions.append(col(Journey.team_id).is_(None))
    elif unallocated is False:
        conditions.append(col(Journey.team_id).is_not(None))
    if child_id is not None:
        conditions.append(col(Journey.child_id) == child_id)
    total = (await session.execute(select(func.count()).select_from(Journey).where(*conditions))).scalar_one()
    rows = (
        (
            await session.execute(
                select(Journey)
                .where(*conditions)
                .order_by(col(Journey.opened_at), col(Journey.id))
                .limit(page.limit)
                .offset(page.offset)
            )
        )
        .scalars()
        .all()
    )
    return list(rows), total


def stream_heads(session: AsyncSession, journey_id: uuid.UUID | None) -> HeadBatches:
    """Each journey's stream version as its row holds it (moved on in every append's transaction):
    verify checks that no journey's log ends before it."""
    query = select(col(Journey.id), col(Journey.stream_version))
    if journey_id is not None:
        query = query.where(col(Journey.id) == journey_id)
    return heads_in_batches(session, query, col(Journey.id))
