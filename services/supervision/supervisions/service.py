"""Recording supervision, changing its actions, and working out what is due. Never commits.

Access (documented on the routes):
- managers record and read supervision of journeys whose *current* team is their team;
- practitioners read supervision of journeys currently allocated to them (worker id == token subject);
- an action's owner may complete or cancel it; the journey's team manager may too.
A read of a supervision the caller may not see is 404 (its existence is not disclosed); recording on a
journey of another team is 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.supervision.events import (
    SupervisionActionCancelled,
    SupervisionActionCompleted,
    SupervisionActionSet,
    SupervisionRecorded,
)
from services.supervision.journeys.models import Journey
from services.supervision.journeys.service import get_journey, lock_journey
from services.supervision.policy import Policy
from services.supervision.supervisions.models import (
    ActionOut,
    ActionStatus,
    CancelIn,
    CompleteIn,
    DueBasis,
    DueItem,
    Supervision,
    SupervisionAction,
    SupervisionIn,
    SupervisionOut,
)
from services.supervision.workers.service import newly_qualified_register, supervisee_newly_qualified
from shared.audit import Auditor
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events.log import EventLog, NewEvent
from shared.events.verify import HeadBatches, heads_in_batches
from shared.http import Page, PageParams, make_etag
from shared.observability import request_id_var
from shared.policy import newly_qualified_on
from shared.types import utcnow
from shared.working_days import london_date

# One answer for a supervision that does not exist and one the caller may not see: a different
# word would tell them it exists.
NOT_FOUND = "No such supervision (or it is not yours to see)."


@dataclass(frozen=True)
class Context:
    """Who is acting and the service parts a write needs."""

    principal: Principal
    policy: Policy
    event_log: EventLog
    auditor: Auditor


def etag_of(supervision: Supervision) -> str:
    return make_etag(supervision.id, supervision.version)


def _is_manager_of(principal: Principal, journey: Journey | None) -> bool:
    return (
        journey is not None
        and principal.has(Role.manager)
        and principal.team is not None
        and journey.team_id == principal.team
    )


def _is_worker_of(principal: Principal, journey: Journey | None) -> bool:
    return journey is not None and principal.has(Role.practitioner) and journey.worker_id == principal.subject


def can_read(principal: Principal, journey: Journey | None) -> bool:
    return _is_manager_of(principal, journey) or _is_worker_of(principal, journey)


async def may_read_journey(session: AsyncSession, principal: Principal, journey_id: uuid.UUID) -> bool:
    """Whether the caller may read a journey's supervision now (its team or theirs may have moved)."""
    return can_read(principal, await get_journey(session, journey_id))


async def _actions(session: AsyncSession, supervision_id: uuid.UUID) -> list[SupervisionAction]:
    rows = await session.execute(
        select(SupervisionAction)
        .where(col(SupervisionAction.supervision_id) == supervision_id)
        .order_by(col(SupervisionAction.seq))
    )
    return list(rows.scalars())


def to_out(
    supervision: Supervision, actions: list[SupervisionAction], *, owner_only: str | None = None
) -> SupervisionOut:
    """The record as its readers see it; `owner_only`: as that action owner, who may not read it, sees
    it after changing an action (their own actions, no discussion or decisions)."""
    out = {**supervision.model_dump(), "actions": [ActionOut.model_validate(a.model_dump()) for a in actions]}
    if owner_only is not None:
        out |= {
            "discussion": None,
            "decisions": None,
            "actions": [a for a in out["actions"] if a.owner_id == owner_only],
        }
    return SupervisionOut.model_validate(out)


async def record_supervision(
    session: AsyncSession,
    ctx: Context,
    data: SupervisionIn,
    before_append: Callable[[SupervisionOut], Awaitable[None]] | None = None,
) -> SupervisionOut:
    """`before_append` is given the answer once everything but the events is written, so that what the
    caller writes with it (an idempotency record) goes before the append, the last statement."""
    principal = ctx.principal
    # Lock first, then check: a JourneyClosed/JourneyTransferred applied concurrently either waits for
    # this transaction or has committed before we read the row, never in between.
    journey = await lock_journey(session, data.journey_id)
    if journey is None:
        raise Unprocessable(
            "No journey with this id is known to supervision.", field="journey_id", code="unknown_journey"
        )
    if not _is_manager_of(principal, journey):
        raise Forbidden(
            "Supervision is recorded by a manager of the journey's current team.", code="not_your_team"
        )
    if not journey.is_open:
        raise Conflict("The journey is closed; supervision cannot be recorded.", code="journey_closed")
    now = utcnow()
    if ctx.policy.in_future(data.held_at, now):
        raise Unprocessable("held_at is in the future.", field="held_at", code="held_in_future")
    if data.held_at < journey.started_at:
        raise Unprocessable(
            "held_at is before the journey started.", field="held_at", code="held_before_journey_start"
        )
    held_day = london_date(data.held_at)
    for i, action in enumerate(data.actions):
        if action.due_on < held_day:
            raise Unprocessable(
                "An action cannot be due before the supervision was held.",
                field=f"actions.{i}.due_on",
                code="action_due_before_held",
            )
    newly_qualified = await supervisee_newly_qualified(session, data.supervisee_id, held_day)
    interval = ctx.policy.interval(journey.service_type, newly_qualified)
    policy_due = ctx.policy.due_after(held_day, interval)
    next_due = data.next_due_on or policy_due
    if next_due <= held_day:
        raise Unprocessable(
            "next_due_on must be after the day supervision was held.",
            field="next_due_on",
            code="next_due_not_after_held",
        )
    if next_due > policy_due:
        raise Unprocessable(
            f"next_due_on is later than the policy allows ({policy_due.isoformat()}).",
            field="next_due_on",
            code="next_due_after_policy",
        )

    supervision = Supervision(
        journey_id=journey.journey_id,
        child_id=journey.child_id,
        team_id=journey.team_id,
        supervisee_id=data.supervisee_id,
        held_at=data.held_at,
        kind=data.kind.value,
        discussion=data.discussion,
        decisions=data.decisions,
        next_due_on=next_due,
        policy_due_on=policy_due,
        interval_working_days=interval,
        recorded_by=principal.subject,
        recorded_at=now,
    )
    session.add(supervision)
    actions = [
        SupervisionAction(
            supervision_id=supervision.id,
            seq=i,
            description=a.description,
            owner_id=a.owner_id,
            due_on=a.due_on,
        )
        for i, a in enumerate(data.actions)
    ]
    await session.flush()  # the supervision row first: actions reference it
    session.add_all(actions)
    await session.flush()
    await ctx.auditor.record(
        session, principal, "create", "supervision", resource_id=supervision.id, child_id=journey.child_id
    )
    events = [
        NewEvent(
            SupervisionRecorded(
                supervision_id=supervision.id,
                child_id=journey.child_id,
                team_id=journey.team_id,
                supervisee_id=data.supervisee_id,
                held_at=data.held_at,
                kind=data.kind,
                next_due_on=next_due,
                actions=len(actions),
            ),
            data.held_at,
        ),
        *(
            NewEvent(
                SupervisionActionSet(
                    action_id=a.id, supervision_id=supervision.id, owner_id=a.owner_id, due_on=a.due_on
                ),
                data.held_at,
            )
            for a in actions
        ),
    ]
    out = to_out(supervision, actions)
    if before_append is not None:
        await before_append(out)
    await _append(session, ctx, journey.journey_id, events)
    return out


async def _append(session: AsyncSession, ctx: Context, journey_id: uuid.UUID, events: list[NewEvent]) -> None:
    # Last write before commit. The journey row lock serialises our writers per journey, so the
    # version read here is current; a stale one still fails safely with 409.
    version = await ctx.event_log.current_version(session, journey_id)
    await ctx.event_log.append(
        session,
        journey_id,
        events,
        expected_version=version,
        actor=ctx.principal.subject,
        correlation_id=request_id_var.get(),
    )


async def read_supervision(
    session: AsyncSession, principal: Principal, auditor: Auditor, supervision_id: uuid.UUID
) -> tuple[SupervisionOut, str]:
    supervision = await session.get(Supervision, supervision_id)
    if supervision is None or not await may_read_journey(session, principal, supervision.journey_id):
        raise NotFound(NOT_FOUND)
    await auditor.record(
        session, principal, "read", "supervision", resource_id=supervision.id, child_id=supervision.child_id
    )
    return to_out(supervision, await _actions(session, supervision.id)), etag_of(supervision)


async def change_action(
    session: AsyncSession,
    ctx: Context,
    supervision_id: uuid.UUID,
    action_id: uuid.UUID,
    change: CompleteIn | CancelIn,
    check_etag: Callable[[str], None],
) -> tuple[SupervisionOut, str]:
    """Complete or cancel one open action; the supervision's version (its ETag) moves on."""
    principal = ctx.principal
    supervision = await session.get(Supervision, supervision_id)
    if supervision is None:
        raise NotFound(NOT_FOUND)
    journey = await lock_journey(session, supervision.journey_id)
    action = await session.get(SupervisionAction, action_id)
    if action is None or action.supervision_id != supervision.id:
        action = None
    owner = action is not None and action.owner_id == principal.subject
    if not (owner or _is_manager_of(principal, journey)) and not can_read(principal, journey):
        raise NotFound(NOT_FOUND)
    # A reader sees the supervision's actions, so telling them an action is not on it discloses nothing.
    if action is None:
        raise NotFound("No such action on this supervision.")
    if not (owner or _is_manager_of(principal, journey)):
        raise Forbidden("Only the action's owner or a manager of the journey's team may change it.")
    await session.refresh(supervision, with_for_update=True)
    # Every change to an action locks its supervision first: read the action again under that lock.
    # The journey's lock serialises them too, except while the journey projection is being rebuilt
    # (the journey is not there, so it locks nothing and an owner may still change the action).
    await session.refresh(action)
    check_etag(etag_of(supervision))
    if action.status != ActionStatus.open:
        raise Conflict(f"The action is already {action.status}.", code="action_not_open")
    now = utcnow()
    at_field = "completed_at" if isinstance(change, CompleteIn) else "cancelled_at"
    at: datetime = (change.completed_at if isinstance(change, CompleteIn) else change.cancelled_at) or now
    if ctx.policy.in_future(at, now):
        raise Unprocessable(f"{at_field} is in the future.", field=at_field, code="in_future")
    if at < supervision.held_at:
        raise Unprocessable(
            f"{at_field} is before the supervision was held.", field=at_field, code="before_supervision"
        )
    event: SupervisionActionCompleted | SupervisionActionCancelled
    if isinstance(change, CompleteIn):
        action.status, action.completed_at = ActionStatus.completed.value, at
        event = SupervisionActionCompleted(
            action_id=action.id, supervision_id=supervision.id, completed_at=at
        )
        verb = "complete"
    else:
        action.status, action.cancelled_at, action.cancel_reason = (
            ActionStatus.cancelled.value,
            at,
            change.reason,
        )
        event = SupervisionActionCancelled(
            action_id=action.id, supervision_id=supervision.id, cancelled_at=at
        )
        verb = "cancel"
    action.changed_by = principal.subject
    supervision.version += 1
    session.add_all([action, supervision])
    await session.flush()
    await ctx.auditor.record(
        session, principal, verb, "supervision_action", resource_id=action.id, child_id=supervision.child_id
    )
    # An owner who may not read the supervision (the journey moved on, or they were never its worker)
    # gets back only their own actions: the answer is not a way round the read rules. Read before the
    # append, which holds the log's lock to commit: nothing is sent after it.
    owner_only = None if can_read(principal, journey) else principal.subject
    out = to_out(supervision, await _actions(session, supervision.id), owner_only=owner_only)
    await _append(session, ctx, supervision.journey_id, [NewEvent(event, at)])
    return out, etag_of(supervision)


async def child_history(
    session: AsyncSession, principal: Principal, auditor: Auditor, child_id: uuid.UUID, page: PageParams
) -> Page[SupervisionOut]:
    """The child's supervision across the journeys the caller may see, newest first (by held_at, then
    id, as the due list and reporting take the latest)."""
    journeys = (await session.execute(select(Journey).where(col(Journey.child_id) == child_id))).scalars()
    visible = [j.journey_id for j in journeys if can_read(principal, j)]
    where = col(Supervision.journey_id).in_(visible)
    total = (await session.execute(select(func.count()).select_from(Supervision).where(where))).scalar_one()
    rows = await session.execute(
        select(Supervision)
        .where(where)
        .order_by(col(Supervision.held_at).desc(), col(Supervision.id).desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    items = [to_out(s, await _actions(session, s.id)) for s in rows.scalars().all()]
    await auditor.record(session, principal, "read", "supervision_history", child_id=child_id)
    return Page[SupervisionOut](items=items, total=total, limit=page.limit, offset=page.offset)


async def due_list(
    session: AsyncSession,
    principal: Principal,
    auditor: Auditor,
    policy: Policy,
    *,
    team: str | None,
    worker: str | None,
    overdue: bool | None,
    page: PageParams,
) -> Page[DueItem]:
    """When supervision is next due for each open journey the caller may see, soonest first.

    Worked out on read (a team's open journeys, not the whole authority): a never-supervised journey's
    due date depends on the policy settings and the newly-qualified register, which can change without
    any journey event. The interval shown is always the one due_on came from.
    """
    query = select(Journey).where(col(Journey.is_open))
    if principal.has(Role.manager):
        team = team or principal.team
        if team is None or team != principal.team:
            raise Forbidden("Managers see the supervision due in their own team.", code="not_your_team")
        query = query.where(col(Journey.team_id) == team)
        if worker is not None:
            query = query.where(col(Journey.worker_id) == worker)
    else:
        if worker is not None and worker != principal.subject:
            raise Forbidden("Practitioners see the supervision due on their own journeys.")
        query = query.where(col(Journey.worker_id) == principal.subject)
        if team is not None:
            query = query.where(col(Journey.team_id) == team)
    journeys = list((await session.execute(query)).scalars())
    latest: dict[uuid.UUID, Supervision] = {}
    if journeys:
        rows = await session.execute(
            select(Supervision)
            .where(col(Supervision.journey_id).in_([j.journey_id for j in journeys]))
            # Of supervisions held at one instant the higher id is the latest, as reporting takes it
            # (its README), so both work out the same due date; the recording order would not be.
            .order_by(col(Supervision.held_at), col(Supervision.id))
        )
        for s in rows.scalars():
            latest[s.journey_id] = s  # ordered as reporting orders them, so the last one wins
    register = await newly_qualified_register(session)
    today = policy.today()
    items: list[DueItem] = []
    for j in journeys:
        last = latest.get(j.journey_id)
        if last is not None:
            due_on, basis = last.next_due_on, DueBasis.last_supervision
            # The interval at that supervision (the supervisee's status on the day held); recorded
            # before it was kept, the one its policy due date gives.
            kept = last.interval_working_days
            interval = (
                kept
                if kept is not None
                else policy.interval_between(london_date(last.held_at), last.policy_due_on)
            )
        else:
            # The clock runs from the journey's start, so the worker's status counts on that day, as a
            # supervision's counts on the day held: an entry lapsing later does not move it after the fact.
            started = london_date(j.started_at)
            nq_until = register.get(j.worker_id or "")
            interval = policy.interval(j.service_type, newly_qualified_on(nq_until, started))
            due_on, basis = policy.due_after(started, interval), DueBasis.journey_start
        item = DueItem(
            journey_id=j.journey_id,
            child_id=j.child_id,
            team_id=j.team_id,
            area=j.area,
            service_type=j.service_type,
            worker_id=j.worker_id,
            started_at=j.started_at,
            last_supervision_id=last.id if last else None,
            last_held_at=last.held_at if last else None,
            interval_working_days=interval,
            basis=basis,
            due_on=due_on,
            overdue=due_on < today,
        )
        if overdue is None or item.overdue == overdue:
            items.append(item)
    items.sort(key=lambda i: (i.due_on, str(i.journey_id)))
    shown = items[page.offset : page.offset + page.limit]
    for item in shown:
        await auditor.record(
            session, principal, "read", "supervision_due", resource_id=item.journey_id, child_id=item.child_id
        )
    return Page[DueItem](items=shown, total=len(items), limit=page.limit, offset=page.offset)


def journey_heads(session: AsyncSession, journey_id: uuid.UUID | None) -> HeadBatches:
    """Each journey's stream version as the supervision records give it, for verify to check that no
    journey's log ends before it. Recording appends one event and one per action, and each change to
    an action appends one and moves the supervision's version on by one from 1: so a journey's stream
    is at the sum, over its supervisions, of version plus actions."""
    actions = (
        select(func.count())
        .where(col(SupervisionAction.supervision_id) == col(Supervision.id))
        .scalar_subquery()
    )
    journey = col(Supervision.journey_id)
    query = select(journey, cast(func.sum(col(Supervision.version) + actions), Integer)).group_by(journey)
    if journey_id is not None:
        query = query.where(journey == journey_id)
    return heads_in_batches(session, query, journey)
