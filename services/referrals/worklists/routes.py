"""HTTP: the front door's work lists, and everything recorded about one child."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.children.service import get_child
from services.referrals.common import TEAM_ID_PATTERN, ChildId, Schema, Staff, settings_of
from services.referrals.contacts.history import ChildHistory, histories
from services.referrals.contacts.models import Contact, ContactOut
from services.referrals.decisions.models import Decision, DecisionOut, DecisionStatus
from services.referrals.journeys.models import Allocation, AllocationOut, Journey, JourneyStatus
from shared.audit import auditor_of
from shared.codes import ReferralSource, Urgency
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.http import Page, PageParams, page_params
from shared.types import utcnow

router = APIRouter(tags=["work lists"], responses=problem_responses(401, 403, 422, 429))

PageDep = Annotated[PageParams, Depends(page_params)]


class DeadlineState(StrEnum):
    """Where a waiting contact stands against its T1 due time (`decision_due_at`) now: breached (the
    due time has passed), due_soon (not breached, due within REFERRALS_DUE_SOON_HOURS), on_time
    (due later than that)."""

    breached = "breached"
    due_soon = "due_soon"
    on_time = "on_time"


class WaitingContact(Schema):
    contact_id: uuid.UUID
    child_id: uuid.UUID
    journey_id: uuid.UUID
    received_at: datetime
    source: ReferralSource
    urgency: Urgency
    repeat_contact: bool
    team_id: str | None
    age_working_hours: float = Field(description="Office hours on working days since receipt (statutory).")
    decision_due_at: datetime = Field(description="Close of the working day the decision is due (T1).")
    deadline_breached: bool = Field(description="True once decision_due_at has passed.")
    deadline_state: DeadlineState = Field(
        description="Its queue now: the `deadline` filter that lists it (breached, due_soon, on_time)."
    )
    child_history: ChildHistory = Field(
        description="The child's contacts and referrals in the 12 months before this one."
    )


async def _page(session: AsyncSession, query: Select[Any], page: PageParams) -> tuple[list[Any], int]:
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.limit(page.limit).offset(page.offset))).scalars().all()
    return list(rows), total


@router.get(
    "/worklists/contacts-awaiting-decision",
    response_model=Page[WaitingContact],
    summary="Contacts awaiting a threshold decision, oldest first, with their age in working hours",
)
async def contacts_awaiting_decision(
    request: Request,
    principal: Staff,
    session: SessionDep,
    page: PageDep,
    team_id: Annotated[
        str | None, Query(pattern=TEAM_ID_PATTERN, description="Received by this team.")
    ] = None,
    urgency: Annotated[Urgency | None, Query(description="Only this urgency.")] = None,
    source: Annotated[ReferralSource | None, Query(description="Only this source.")] = None,
    deadline: Annotated[
        DeadlineState | None,
        Query(
            description="Only contacts in this state against their T1 due time now: breached "
            "(decision_due_at has passed), due_soon (not breached, and due within REFERRALS_DUE_SOON_HOURS "
            "calendar hours), on_time (due later than that)."
        ),
    ] = None,
) -> Page[WaitingContact]:
    # One "now" for the filter and the flags, so a contact the filter calls breached shows as breached.
    now = utcnow()
    settings = settings_of(request)
    query = (
        select(Contact)
        .join(Journey, col(Journey.id) == col(Contact.journey_id))
        .where(col(Contact.awaiting_decision).is_(True), col(Journey.status) == JourneyStatus.open.value)
    )
    due_soon_until = settings.due_soon_until(now)
    if deadline is not None:
        # The due time is not stored, but it never falls earlier for a contact received later, so each
        # state is a range of received_at: "due before t" is "received before decision_due_cutoff(t)".
        # Filtered in SQL, so that total and paging count the queue asked for.
        received = col(Contact.received_at)
        breached_before = settings.decision_due_cutoff(now)
        # Due at or before the window's end: due before a microsecond after it (the resolution of
        # datetimes and of both databases).
        soon_before = settings.decision_due_cutoff(due_soon_until + timedelta(microseconds=1))
        if deadline is DeadlineState.breached:
            query = query.where(received < breached_before)
        elif deadline is DeadlineState.due_soon:
            query = query.where(received >= breached_before, received < soon_before)
        else:
            query = query.where(received >= soon_before)
    if team_id is not None:
        query = query.where(col(Contact.team_id) == team_id)
    if urgency is not None:
        query = query.where(col(Contact.urgency) == urgency.value)
    if source is not None:
        query = query.where(col(Contact.source) == source.value)
    rows, total = await _page(session, query.order_by(col(Contact.received_at), col(Contact.id)), page)
    child_histories = await histories(session, rows)
    calendar = settings.calendar()
    items = []
    auditor = auditor_of(request)
    for c in rows:
        due = settings.decision_due_at(c.received_at)
        items.append(
            WaitingContact(
                contact_id=c.id,
                child_id=c.child_id,
                journey_id=c.journey_id,
                received_at=c.received_at,
                source=ReferralSource(c.source),
                urgency=Urgency(c.urgency),
                repeat_contact=c.repeat_contact,
                team_id=c.team_id,
                age_working_hours=round(calendar.working_hours_between(c.received_at, now), 2),
                decision_due_at=due,
                deadline_breached=now > due,
                deadline_state=(
                    DeadlineState.breached
                    if now > due
                    else DeadlineState.due_soon
                    if due <= due_soon_until
                    else DeadlineState.on_time
                ),
                child_history=child_histories[c.id],
            )
        )
        await auditor.record(session, principal, "list", "contact", resource_id=c.id, child_id=c.child_id)
    return Page[WaitingContact](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/worklists/decisions-awaiting-authorisation",
    response_model=Page[DecisionOut],
    summary="Decisions that open a referral and await a manager's authorisation, oldest first",
)
async def decisions_awaiting_authorisation(
    request: Request,
    principal: Staff,
    session: SessionDep,
    page: PageDep,
    team_id: Annotated[
        str | None, Query(pattern=TEAM_ID_PATTERN, description="Decided by this team.")
    ] = None,
) -> Page[DecisionOut]:
    query = select(Decision).where(col(Decision.status) == DecisionStatus.awaiting_authorisation.value)
    if team_id is not None:
        query = query.where(col(Decision.decided_by_team) == team_id)
    rows, total = await _page(session, query.order_by(col(Decision.decided_at), col(Decision.id)), page)
    auditor = auditor_of(request)
    for d in rows:
        await auditor.record(session, principal, "list", "decision", resource_id=d.id, child_id=d.child_id)
    return Page[DecisionOut](
        items=[DecisionOut.of(d) for d in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/children/{child_id}/contacts",
    response_model=Page[ContactOut],
    summary="A child's contacts, newest first",
    responses=problem_responses(404),
)
async def child_contacts(
    request: Request, child_id: ChildId, principal: Staff, session: SessionDep, page: PageDep
) -> Page[ContactOut]:
    await get_child(session, child_id)
    query = (
        select(Contact)
        .where(col(Contact.child_id) == child_id)
        .order_by(col(Contact.received_at).desc(), col(Contact.id))
    )
    rows, total = await _page(session, query, page)
    await auditor_of(request).record(
        session, principal, "read", "contacts", resource_id=child_id, child_id=child_id
    )
    return Page[ContactOut](
        items=[ContactOut.of(c) for c in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/children/{child_id}/decisions",
    response_model=Page[DecisionOut],
    summary="A child's threshold decisions (superseded ones included), newest first",
    responses=problem_responses(404),
)
async def child_decisions(
    request: Request,
    child_id: ChildId,
    principal: Staff,
    session: SessionDep,
    page: PageDep,
    status: Annotated[DecisionStatus | None, Query(description="Only decisions in this state.")] = None,
) -> Page[DecisionOut]:
    await get_child(session, child_id)
    query = select(Decision).where(col(Decision.child_id) == child_id)
    if status is not None:
        query = query.where(col(Decision.status) == status.value)
    rows, total = await _page(
        session, query.order_by(col(Decision.recorded_at).desc(), col(Decision.id)), page
    )
    await auditor_of(request).record(
        session, principal, "read", "decisions", resource_id=child_id, child_id=child_id
    )
    return Page[DecisionOut](
        items=[DecisionOut.of(d) for d in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/children/{child_id}/allocations",
    response_model=Page[AllocationOut],
    summary="Every team and worker that has held a child's journeys, oldest first",
    description="By start, then recorded, then id: one order, so pages neither repeat nor skip one.",
    responses=problem_responses(404),
)
async def child_allocations(
    request: Request, child_id: ChildId, principal: Staff, session: SessionDep, page: PageDep
) -> Page[AllocationOut]:
    await get_child(session, child_id)
    query = (
        select(Allocation)
        .where(col(Allocation.child_id) == child_id)
        .order_by(col(Allocation.started_at), col(Allocation.recorded_at), col(Allocation.id))
    )
    rows, total = await _page(session, query, page)
    await auditor_of(request).record(
        session, principal, "read", "allocations", resource_id=child_id, child_id=child_id
    )
    return Page[AllocationOut](
        items=[AllocationOut.of(a) for a in rows], total=total, limit=page.limit, offset=page.offset
    )
