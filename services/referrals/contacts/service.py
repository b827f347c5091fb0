"""Contacts: receive (opening or joining the child's journey), read, and referrer feedback. Never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.children.models import Child
from services.referrals.children.service import check_new_child, children_on_record, create_child
from services.referrals.common import (
    Pending,
    attach_inserted,
    explained_backdating,
    get_or_404,
    insert_new,
    team_claim,
)
from services.referrals.contacts.models import Contact, ContactIn, ContactStatus, FeedbackIn, ReferrerFeedback
from services.referrals.decisions.models import Decision, DecisionStatus
from services.referrals.events import ContactReceived, ReferrerFeedbackSent
from services.referrals.journeys.models import Journey, JourneyStatus
from services.referrals.settings import Settings
from services.referrals.teams.models import Team
from shared.auth import Principal, Role
from shared.codes import ConsentStatus, DecisionOutcome, FeedbackKind, ReferralSource
from shared.db import driver_rows, new_record, on_postgresql
from shared.errors import Conflict, InvalidParam, Unprocessable
from shared.types import utcnow
from shared.working_days import london_date


def _check_contact(data: ContactIn, settings: Settings, now: datetime) -> bool:
    """Rules that need more than one field; returns whether the contact is backdated."""
    if not data.child_ids and not data.new_children:
        raise Unprocessable("Name at least one child: child_ids or new_children.", field="child_ids")
    if len(set(data.child_ids)) != len(data.child_ids):
        raise Unprocessable("child_ids lists a child twice.", field="child_ids", code="duplicate_child")
    if data.consent.status is not ConsentStatus.given and not data.consent.reason:
        raise Unprocessable(
            "A reason is required when consent is not given or not required.",
            field="consent.reason",
            code="consent_reason_required",
        )
    if data.consent.status is ConsentStatus.given and data.consent.reason:
        raise Unprocessable("A reason is only recorded when consent was not given.", field="consent.reason")
    if data.referrer is None and data.source is not ReferralSource.C9:
        raise Unprocessable(
            "The referrer is required unless the contact is anonymous (source 9).",
            field="referrer",
            code="referrer_required",
        )
    if settings.in_future(data.received_at, now):
        raise Unprocessable("received_at is in the future.", field="received_at", code="time_in_future")
    return explained_backdating(
        settings,
        data.received_at,
        data.backdating_reason,
        time_field="received_at",
        reason_field="backdating_reason",
        now=now,
    )


_JOURNEYS = Journey.__table__
_CLOSED = col(Journey.status) == JourneyStatus.closed.value
_OPEN = col(Journey.status) == JourneyStatus.open.value


async def journey_state_of(
    session: AsyncSession, child_id: uuid.UUID
) -> tuple[Journey | None, datetime | None]:
    """The child's open journey and when its last closed journey closed, in one query: the open journey
    and the latest closed one(s)."""
    last_closed = (
        select(func.max(Journey.closed_at))
        .where(col(Journey.child_id) == child_id, _CLOSED)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(Journey).where(
                col(Journey.child_id) == child_id, or_(_OPEN, col(Journey.closed_at) == last_closed)
            )
        )
    ).scalars()
    open_journey: Journey | None = None
    closed_at: datetime | None = None
    for journey in rows:
        if journey.status == JourneyStatus.open.value:
            open_journey = journey
        elif journey.closed_at is not None and (closed_at is None or journey.closed_at > closed_at):
            closed_at = journey.closed_at
    return open_journey, closed_at


def _insert_open_journey(insert: Any) -> Any:
    return (
        insert(_JOURNEYS)
        .on_conflict_do_nothing(
            # The predicate of uq_journeys_open_child, as a literal: a bound parameter would not match it.
            index_elements=[_JOURNEYS.c.child_id],
            index_where=text("status = 'open'"),
        )
        .returning(_JOURNEYS.c.id)
    )


# Built once (per dialect): building this statement costs about as much CPU as executing it.
_INSERT_OPEN_JOURNEY = {True: _insert_open_journey(pg_insert), False: _insert_open_journey(sqlite_insert)}


# The recording team's area, for the event (an unknown team has none). Built once, as the insert above.
_TEAM_AREA = select(col(Team.area)).where(col(Team.id) == bindparam("id"))


# When the child's latest journey closed (Core, not ORM: it must not flush the request's changes).
_LAST_CLOSURE = select(func.max(_JOURNEYS.c.closed_at)).where(
    _JOURNEYS.c.child_id == bindparam("child_id"), _JOURNEYS.c.status == JourneyStatus.closed.value
)


async def open_new_journey(session: AsyncSession, journey: Journey) -> datetime | None:
    """Insert the child's one open journey; 409 when a concurrent contact opened it first. Returns
    when the child's latest journey closed, read once the insert has gone in.

    INSERT ... ON CONFLICT DO NOTHING on the one-open-journey index instead of a savepoint: a lost race
    returns no row (after waiting for the other transaction, on PostgreSQL) without aborting anything.
    The journey then joins the session as already persistent, so later changes are UPDATEs.

    The closure is read again because the index only keeps out an open journey: one opened and closed
    since the caller looked (READ COMMITTED) is no longer in the way. Once the insert holds the child's
    open slot, no other journey of the child can be open or close, so this read is final.
    """
    values = {c.name: getattr(journey, c.name) for c in _JOURNEYS.columns}
    statement = _INSERT_OPEN_JOURNEY[on_postgresql(session)]
    if (await session.execute(statement, values)).first() is None:
        raise Conflict(
            "Another contact opened this child's journey at the same moment; retry.", code="journey_race"
        )
    attach_inserted(session, [journey])
    result = await session.execute(_LAST_CLOSURE, {"child_id": journey.child_id})
    closed_at: datetime | None = result.scalar()
    return closed_at


def new_contact(
    data: ContactIn,
    *,
    child_id: uuid.UUID,
    journey_id: uuid.UUID,
    group_id: uuid.UUID | None,
    now: datetime,
    backdated: bool,
    opens: bool,
    principal: Principal,
    partner: bool,
    team_id: str | None,
) -> Contact:
    """One child's contact record, as `receive_contacts` inserts it."""
    referrer = data.referrer
    return new_record(
        Contact,
        child_id=child_id,
        journey_id=journey_id,
        contact_group_id=group_id,
        received_at=data.received_at,
        recorded_at=now,
        backdated=backdated,
        backdating_reason=data.backdating_reason,
        source=data.source.value,
        channel=data.channel.value,
        referrer_name=referrer.name if referrer else None,
        referrer_organisation=referrer.organisation if referrer else None,
        referrer_role=referrer.role if referrer else None,
        referrer_phone=referrer.phone if referrer else None,
        referrer_email=referrer.email if referrer else None,
        concerns_summary=data.concerns_summary,
        consent=data.consent.status.value,
        consent_reason=data.consent.reason,
        urgency=data.urgency.value,
        child_views=data.child_views,
        opens_journey=opens,
        repeat_contact=not opens,
        recorded_by=principal.subject,
        partner_system=partner,
        team_id=team_id,
    )


def contact_received(contact: Contact, data: ContactIn, area: str | None) -> ContactReceived:
    """The contact's event: codes, times and flags only (no names, no free text)."""
    return ContactReceived(
        contact_id=contact.id,
        child_id=contact.child_id,
        contact_group_id=contact.contact_group_id,
        received_at=data.received_at,
        source=data.source,
        channel=data.channel,
        urgency=data.urgency,
        consent=data.consent.status,
        opens_journey=contact.opens_journey,
        repeat_contact=contact.repeat_contact,
        partner_system=contact.partner_system,
        team_id=contact.team_id,
        area=area,
    )


def _refuse_before_closure(i: int, received_at: datetime, closed_at: datetime | None, partner: bool) -> None:
    """409 when contact `i`'s child's latest journey closed after the contact was received."""
    if closed_at is None or received_at >= closed_at:
        return
    # It arrived while the earlier journey was open, so it belongs to that journey, which is closed.
    # A partner gets receipts only: not when the child's journey closed (its history).
    when = "" if partner else f" ({closed_at.isoformat()})"
    raise Conflict(
        f"received_at is before this child's previous journey closed{when}; "
        "a contact received then belongs to that closed journey.",
        code="received_before_previous_closure",
        invalid_params=[
            InvalidParam(
                name="received_at",
                location="body",
                reason=f"child {i}: before the previous journey closed{when}",
            )
        ],
    )


async def receive_contacts(
    session: AsyncSession, data: ContactIn, principal: Principal, settings: Settings
) -> tuple[uuid.UUID | None, list[Contact], list[Pending], set[uuid.UUID]]:
    """The contacts, their journeys' events, and the ids of the children it created."""
    now = utcnow()
    backdated = _check_contact(data, settings, now)
    partner = principal.has(Role.partner) and not principal.has(Role.practitioner, Role.manager, Role.admin)
    children: list[uuid.UUID] = []
    # Children created by this contact have no journeys yet: nothing to look up for them.
    created: set[uuid.UUID] = set()
    named: dict[str, str] = {}
    for i, child_id in enumerate(data.child_ids):
        child = await session.get(Child, child_id)
        if child is None:
            raise Unprocessable("No child with this id.", field=f"child_ids.{i}", code="unknown_child")
        children.append(child.id)
        if child.nhs_number:
            named[child.nhs_number] = f"child_ids.{i}"
    # The same child named twice: by id (see `_check_contact`), or as a new child whose NHS number (one
    # per person) is that of a child already named. Two records, two contacts and two journeys for one
    # child would be counted twice.
    for i, new in enumerate(data.new_children):
        if new.nhs_number is None:
            continue
        if new.nhs_number in named:
            raise Unprocessable(
                f"This NHS number is also that of {named[new.nhs_number]}: the contact names a child twice.",
                field=f"new_children.{i}.nhs_number",
                code="duplicate_child",
            )
        named[new.nhs_number] = f"new_children.{i}"
    # A new child whose NHS number is on record is that child: the contact is theirs, as if named in
    # child_ids (a partner system cannot look children up). Looked up, and on PostgreSQL locked, before
    # any child is created; a contact without NHS numbers sends nothing here.
    on_record = await children_on_record(session, [n.nhs_number for n in data.new_children if n.nhs_number])
    # Read before the new children are created: their inserts wait for the event append (see
    # `insert_new`), and any statement in between would send them on their own.
    team_id = team_claim(principal)
    rows = await driver_rows(session, _TEAM_AREA, {"id": team_id}) if team_id else []
    area = rows[0][0] if rows else None
    received = london_date(data.received_at)
    for i, new in enumerate(data.new_children):
        prefix = f"new_children.{i}."
        known = on_record.get(new.nhs_number) if new.nhs_number else None
        if known is None:
            child = await create_child(session, new, principal, prefix=prefix, received=received)
            children.append(child.id)
            created.add(child.id)
            continue
        # Checked as any new child is; the details are not applied to the record (a correction does).
        check_new_child(new, prefix, received)
        if known in children:  # named by id too (its NHS number corrected since it was read)
            raise Unprocessable(
                "This NHS number is that of a child the contact already names: it names a child twice.",
                field=f"{prefix}nhs_number",
                code="duplicate_child",
            )
        children.append(known)
    group_id = uuid.uuid4() if len(children) > 1 else None
    # Every child's journey state first, in the order given (a refusal names the first child it
    # concerns), before anything is written.
    states: list[Journey | None] = []
    for i, child_id in enumerate(children):
        journey, closed_at = (
            (None, None) if child_id in created else await journey_state_of(session, child_id)
        )
        _refuse_before_closure(i, data.received_at, closed_at, partner)
        states.append(journey)
    # Journeys opened in the children's id order, whatever order the contact named them in: opening one
    # waits for a concurrent contact opening the same child's, so two contacts naming the same siblings
    # in opposite orders would each wait for the other (a deadlock, 503) instead of one getting 409.
    journeys: dict[int, Journey] = {}
    for i in sorted(range(len(children)), key=lambda n: children[n]):
        child_id, journey = children[i], states[i]
        if journey is not None:
            if data.received_at < journey.opened_at:
                # A backdated repeat contact: the journey began when the earliest of its contacts arrived.
                journey.opened_at = data.received_at
                session.add(journey)
        else:
            # Inserted at the version its ContactReceived gives it (see Pending.opened).
            journey = new_record(Journey, child_id=child_id, opened_at=data.received_at, stream_version=1)
            if child_id in created:
                await insert_new(session, [journey])  # no other contact can know this child yet
            else:
                closed_at = await open_new_journey(session, journey)
                _refuse_before_closure(i, data.received_at, closed_at, partner)
        journeys[i] = journey
    contacts: list[Contact] = []
    pending: list[Pending] = []
    for i, child_id in enumerate(children):
        journey, opens = journeys[i], states[i] is None
        contact = new_contact(
            data,
            child_id=child_id,
            journey_id=journey.id,
            group_id=group_id,
            now=now,
            backdated=backdated,
            opens=opens,
            principal=principal,
            partner=partner,
            team_id=team_id,
        )
        contacts.append(contact)
        event = contact_received(contact, data, area)
        pending.append(Pending(journey, [(event, data.received_at)], opened=opens))
    await insert_new(session, contacts)
    await session.flush()  # a backdated repeat contact's earlier journey start
    return group_id, contacts, pending, created


async def get_contact(session: AsyncSession, contact_id: uuid.UUID) -> Contact:
    return await get_or_404(session, Contact, contact_id, "contact")


async def open_journey(session: AsyncSession, journey_id: uuid.UUID) -> Journey:
    """The journey, locked for this change, refusing any change once it is closed (census 2990).

    The row lock serialises every change to one journey on PostgreSQL, so what a writer reads after it
    (decisions, allocations) is what the previous writer committed; SQLite serialises writers anyway.
    """
    return refuse_closed(await get_or_404(session, Journey, journey_id, "journey", lock=True))


def refuse_closed(journey: Journey) -> Journey:
    """The journey, if it is still open: nothing more is recorded on a closed one (census 2990)."""
    if journey.status != JourneyStatus.open.value:
        raise Conflict(
            "The journey is closed; nothing more can be recorded on it. A new contact opens a new journey.",
            code="journey_closed",
        )
    return journey


async def open_decision_of(session: AsyncSession, contact_id: uuid.UUID) -> Decision | None:
    result = await session.execute(
        select(Decision).where(
            col(Decision.contact_id) == contact_id, col(Decision.status) != DecisionStatus.superseded.value
        )
    )
    return result.scalars().first()


async def contact_status(
    session: AsyncSession, contact: Contact
) -> tuple[ContactStatus, DecisionOutcome | None]:
    """The contact's progress and its final outcome. A referral outcome awaiting authorisation may still
    be changed or refused by the manager, and a partner system acts on what it is shown, so only an
    outcome in force (needing no authorisation, or authorised) is given."""
    journey = await session.get(Journey, contact.journey_id)
    decision = await open_decision_of(session, contact.id)
    final = decision is not None and decision.status == DecisionStatus.current.value
    outcome = DecisionOutcome(decision.outcome) if decision is not None and final else None
    if journey is not None and journey.status == JourneyStatus.closed.value:
        return ContactStatus.closed, outcome
    if decision is None:
        return ContactStatus.awaiting_decision, None
    if not final:
        return ContactStatus.awaiting_authorisation, None
    return ContactStatus.decided, outcome


async def record_feedback(
    session: AsyncSession, contact: Contact, data: FeedbackIn, principal: Principal, settings: Settings
) -> tuple[ReferrerFeedback, Pending]:
    journey = await open_journey(session, contact.journey_id)
    # Read again under the journey's lock: the caller read it before, and a concurrent acknowledgement
    # or feedback may have committed since.
    await session.refresh(contact)
    if settings.in_future(data.sent_at):
        raise Unprocessable("sent_at is in the future.", field="sent_at", code="time_in_future")
    if data.sent_at < contact.received_at:
        raise Unprocessable(
            "sent_at is before the contact was received.", field="sent_at", code="before_contact"
        )
    if contact.referrer_name is None:
        raise Conflict("This contact is anonymous: there is no referrer to tell.", code="anonymous_contact")
    if data.kind is FeedbackKind.acknowledgement:
        if contact.acknowledged_at is not None:
            raise Conflict("The referrer's acknowledgement is already recorded.", code="already_acknowledged")
        contact.acknowledged_at = data.sent_at
    else:
        if await open_decision_of(session, contact.id) is None:
            raise Conflict("There is no decision to feed back yet.", code="no_decision")
        # Feedback is on a decision: not sent before the first one was made (a superseded decision
        # was still a decision the referrer could be told of).
        first_decided = (
            await session.execute(
                select(func.min(Decision.decided_at)).where(col(Decision.contact_id) == contact.id)
            )
        ).scalar_one()
        if first_decided is not None and data.sent_at < first_decided:
            raise Unprocessable(
                "sent_at is before the decision was made: feedback is on a decision.",
                field="sent_at",
                code="before_decision",
            )
        if contact.feedback_sent_at is None or data.sent_at < contact.feedback_sent_at:
            contact.feedback_sent_at = data.sent_at
    contact.version += 1
    feedback = ReferrerFeedback(
        contact_id=contact.id, kind=data.kind.value, sent_at=data.sent_at, recorded_by=principal.subject
    )
    session.add_all([contact, feedback])
    await session.flush()
    event = ReferrerFeedbackSent(contact_id=contact.id, kind=data.kind, sent_at=data.sent_at)
    return feedback, Pending(journey, [(event, data.sent_at)])


async def feedback_of(session: AsyncSession, contact_id: uuid.UUID) -> list[ReferrerFeedback]:
    result = await session.execute(
        select(ReferrerFeedback)
        .where(col(ReferrerFeedback.contact_id) == contact_id)
        .order_by(col(ReferrerFeedback.sent_at), col(ReferrerFeedback.recorded_at), col(ReferrerFeedback.id))
    )
    return list(result.scalars().all())
