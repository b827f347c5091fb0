"""The two projections reporting keeps: one per upstream feed, each resettable on its own.

Order between the feeds does not matter: every row is keyed by the id it describes and every
derived figure is recomputed from the stored facts, so a supervision that arrives before its
journey's first contact is simply joined when the contact arrives (or at query time).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.reporting.projections import readers as r
from services.reporting.projections.models import (
    AllocationFact,
    ContactFact,
    DecisionFact,
    FeedState,
    JourneyFact,
    SupervisionFact,
    TimelineEntry,
)
from services.reporting.settings import Settings
from shared.events.contract import Envelope

REFERRALS_FEED = "referrals"
SUPERVISION_FEED = "supervision"


class _Projection:
    feed: str
    readers: dict[str, type[r.Reader]]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        calendar = settings.calendar()
        self.statutory = calendar.statutory()
        self.local = calendar.local()

    async def apply(self, session: AsyncSession, event: Envelope) -> bool:
        state = await session.get(FeedState, self.feed)
        if state is None:
            state = FeedState(feed=self.feed)
            session.add(state)
        if state.latest_occurred_at is None or event.occurred_at > state.latest_occurred_at:
            state.latest_occurred_at = event.occurred_at
        if state.latest_recorded_at is None or event.recorded_at > state.latest_recorded_at:
            state.latest_recorded_at = event.recorded_at
        reader = self.readers.get(event.type)
        payload: r.Reader | None = None
        if reader is not None:
            try:
                payload = reader.model_validate(event.payload)
            except ValidationError:
                # A payload this reader cannot understand is skipped and counted, never retried
                # forever: a poison event must not stop the front-door measures.
                payload = None
        if payload is None:
            state.skipped += 1
            return False
        await self.handle(session, event, payload)
        state.applied += 1
        return True

    async def handle(self, session: AsyncSession, event: Envelope, payload: r.Reader) -> None:
        raise NotImplementedError

    async def _timeline(
        self, session: AsyncSession, event: Envelope, payload: r.Reader, child_id: uuid.UUID | None
    ) -> None:
        session.add(
            TimelineEntry(
                event_id=event.event_id,
                feed=self.feed,
                position=event.position,
                journey_id=event.journey_id,
                child_id=child_id,
                type=event.type,
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
                codes=payload.model_dump(mode="json", exclude_none=True),
            )
        )

    async def _reset_common(self, session: AsyncSession) -> None:
        await session.execute(delete(TimelineEntry).where(col(TimelineEntry.feed) == self.feed))
        await session.execute(delete(FeedState).where(col(FeedState.feed) == self.feed))


class ReferralsProjection(_Projection):
    feed = REFERRALS_FEED
    readers = r.REFERRALS

    async def reset(self, session: AsyncSession) -> None:
        for table in (ContactFact, DecisionFact, JourneyFact, AllocationFact):
            await session.execute(delete(table))
        await self._reset_common(session)

    async def handle(self, session: AsyncSession, event: Envelope, payload: r.Reader) -> None:
        child_id: uuid.UUID | None = getattr(payload, "child_id", None)
        contact_id: uuid.UUID | None = getattr(payload, "contact_id", None)
        match payload:
            case r.ContactReceived():
                await self._contact(session, event, payload)
            case r.ThresholdDecisionRecorded():
                await self._decision(session, payload)
            case r.ThresholdDecisionAuthorised():
                decision = await session.get(DecisionFact, payload.decision_id)
                if decision is not None:
                    decision.authorised_at = payload.authorised_at
            case r.ThresholdDecisionSuperseded():
                decision = await session.get(DecisionFact, payload.decision_id)
                if decision is not None:
                    decision.superseded_by_decision_id = payload.superseded_by_decision_id
            case r.JourneyAllocated() | r.JourneyTransferred():
                self._allocation(session, event, payload)
            case r.JourneyClosed():
                journey = await self._journey(session, event.journey_id)
                journey.closed_at = payload.closed_at
                journey.closure_reason = payload.closure_reason
            case _:
                pass
        if contact_id is not None:
            contact = await self.refresh_contact(session, contact_id)
            if child_id is None and contact is not None:
                child_id = contact.child_id
        await self.refresh_journey(session, event.journey_id)
        await self._timeline(session, event, payload, child_id)

    async def _contact(self, session: AsyncSession, event: Envelope, p: r.ContactReceived) -> None:
        contact = await session.get(ContactFact, p.contact_id)
        if contact is None:
            contact = ContactFact(
                contact_id=p.contact_id,
                journey_id=event.journey_id,
                child_id=p.child_id,
                received_at=p.received_at,
                recorded_at=event.recorded_at,
                decision_due_at=p.received_at,
            )
            session.add(contact)
        lag = event.recorded_at - p.received_at
        contact.backdated = lag > timedelta(hours=self.settings.backdate_threshold_hours)
        contact.source = p.source
        contact.channel = p.channel
        contact.urgency = p.urgency
        contact.team_id = p.team_id
        contact.area = p.area
        contact.opens_journey = p.opens_journey
        contact.repeat_contact = p.repeat_contact
        contact.decision_due_at = self.statutory.deadline(
            p.received_at, self.settings.decision_within_working_days
        )

    async def _decision(self, session: AsyncSession, p: r.ThresholdDecisionRecorded) -> None:
        decision = await session.get(DecisionFact, p.decision_id)
        if decision is None:
            decision = DecisionFact(
                decision_id=p.decision_id, contact_id=p.contact_id, outcome=p.outcome, decided_at=p.decided_at
            )
            session.add(decision)
        decision.outcome = p.outcome
        decision.decided_at = p.decided_at
        decision.requires_authorisation = p.requires_authorisation
        decision.supersedes_decision_id = p.supersedes_decision_id
        decision.team_id = p.decided_by_team
        decision.area = p.decided_by_area
        if p.supersedes_decision_id is not None:
            previous = await session.get(DecisionFact, p.supersedes_decision_id)
            if previous is not None:
                previous.superseded_by_decision_id = p.decision_id

    def _allocation(
        self, session: AsyncSession, event: Envelope, p: r.JourneyAllocated | r.JourneyTransferred
    ) -> None:
        if isinstance(p, r.JourneyAllocated):
            row = AllocationFact(
                event_id=event.event_id,
                journey_id=event.journey_id,
                position=event.position,
                kind="allocated",
                effective_at=p.effective_at,
                team_id=p.team_id,
                area=p.area,
                service_type=p.service_type,
                worker_id=p.worker_id,
            )
        else:
            row = AllocationFact(
                event_id=event.event_id,
                journey_id=event.journey_id,
                position=event.position,
                kind="transferred",
                effective_at=p.effective_at,
                team_id=p.to_team_id,
                area=p.to_area,
                service_type=p.to_service_type,
                worker_id=p.to_worker_id,
                team_changed=p.team_changed,
                worker_changed=p.worker_changed,
                reason=p.reason,
            )
        session.add(row)

    async def _journey(self, session: AsyncSession, journey_id: uuid.UUID) -> JourneyFact:
        journey = await session.get(JourneyFact, journey_id)
        if journey is None:
            journey = JourneyFact(journey_id=journey_id)
            session.add(journey)
        return journey

    async def refresh_contact(self, session: AsyncSession, contact_id: uuid.UUID) -> ContactFact | None:
        """Recompute a contact's decision summary and durations from its stored decisions.

        Timeliness is measured to the FIRST decision (a later correction does not restart the
        clock); the outcome and the authorisation are those of the CURRENT (non-superseded) one.
        """
        contact = await session.get(ContactFact, contact_id)
        if contact is None:
            return None  # its decisions wait in rpt_decisions until the contact arrives
        decisions = list(
            (
                await session.execute(
                    select(DecisionFact)
                    .where(col(DecisionFact.contact_id) == contact_id)
                    .order_by(col(DecisionFact.decided_at), col(DecisionFact.decision_id))
                )
            ).scalars()
        )
        contact.decisions = len(decisions)
        if not decisions:
            return contact
        superseded = {d.supersedes_decision_id for d in decisions if d.supersedes_decision_id} | {
            d.decision_id for d in decisions if d.superseded_by_decision_id
        }
        current = [d for d in decisions if d.decision_id not in superseded][-1:] or decisions[-1:]
        now = current[0]
        first_at = decisions[0].decided_at
        received = contact.received_at
        cal = self.statutory
        contact.first_decided_at = first_at
        contact.current_decision_id = now.decision_id
        contact.current_outcome = now.outcome
        contact.current_decided_at = now.decided_at
        contact.requires_authorisation = now.requires_authorisation
        contact.authorised_at = now.authorised_at
        contact.working_hours_to_decision = cal.working_hours_between(received, first_at)
        contact.working_days_to_decision = cal.working_days_between(cal.clock_start(received), first_at)
        contact.calendar_hours_to_decision = cal.calendar_hours_between(received, first_at)
        contact.decided_within_timescale = cal.within_working_days(
            received, first_at, self.settings.decision_within_working_days
        )
        if now.authorised_at is not None:
            auth = now.authorised_at
            contact.working_hours_to_authorisation = cal.working_hours_between(received, auth)
            contact.working_days_to_authorisation = cal.working_days_between(cal.clock_start(received), auth)
            contact.calendar_hours_to_authorisation = cal.calendar_hours_between(received, auth)
        else:
            contact.working_hours_to_authorisation = None
            contact.working_days_to_authorisation = None
            contact.calendar_hours_to_authorisation = None
        return contact

    async def refresh_journey(self, session: AsyncSession, journey_id: uuid.UUID) -> JourneyFact:
        """Recompute a journey's first contact, handovers and unallocated spells from its facts.

        A journey is *allocated* while a named worker holds it; it is unallocated from its first
        contact until then, and again whenever a handover leaves it without a worker.
        """
        journey = await self._journey(session, journey_id)
        contacts = list(
            (
                await session.execute(
                    select(ContactFact)
                    .where(col(ContactFact.journey_id) == journey_id)
                    .order_by(col(ContactFact.received_at), col(ContactFact.contact_id))
                )
            ).scalars()
        )
        allocations = list(
            (
                await session.execute(
                    select(AllocationFact)
                    .where(col(AllocationFact.journey_id) == journey_id)
                    .order_by(col(AllocationFact.effective_at), col(AllocationFact.position))
                )
            ).scalars()
        )
        if contacts:
            first = contacts[0]
            journey.child_id = first.child_id
            journey.opened_at = first.received_at
            journey.first_contact_id = first.contact_id
            journey.source = first.source
            journey.team_id = first.team_id
            journey.area = first.area
            journey.outcome = first.current_outcome
        handovers = [a for a in allocations if a.kind == "transferred"]
        journey.transfers = len(handovers)
        journey.team_transfers = sum(1 for a in handovers if a.team_changed)
        journey.worker_changes = sum(1 for a in handovers if a.worker_changed)
        if allocations:
            last = allocations[-1]
            journey.current_team_id = last.team_id
            journey.current_area = last.area
            journey.current_service_type = last.service_type
        journey.first_allocated_at = next((a.effective_at for a in allocations if a.worker_id), None)
        self._unallocated(journey, allocations)
        return journey

    def _unallocated(self, journey: JourneyFact, allocations: list[AllocationFact]) -> None:
        hours, days = 0.0, 0
        gap_start: datetime | None = journey.opened_at
        if gap_start is not None:
            for a in allocations:
                if a.worker_id is None and gap_start is None:
                    gap_start = a.effective_at
                elif a.worker_id is not None and gap_start is not None:
                    end = max(a.effective_at, gap_start)
                    hours += self.local.calendar_hours_between(gap_start, end)
                    days += self.local.working_days_between(gap_start, end)
                    gap_start = None
            if gap_start is not None and journey.closed_at is not None:
                end = max(journey.closed_at, gap_start)
                hours += self.local.calendar_hours_between(gap_start, end)
                days += self.local.working_days_between(gap_start, end)
                gap_start = None
        journey.unallocated_hours_closed = hours
        journey.unallocated_working_days_closed = days
        journey.unallocated_since = gap_start


class SupervisionProjection(_Projection):
    feed = SUPERVISION_FEED
    readers = r.SUPERVISION

    async def reset(self, session: AsyncSession) -> None:
        await session.execute(delete(SupervisionFact))
        await self._reset_common(session)

    async def handle(self, session: AsyncSession, event: Envelope, payload: r.Reader) -> None:
        child_id: uuid.UUID | None = None
        if isinstance(payload, r.SupervisionRecorded):
            row = await session.get(SupervisionFact, payload.supervision_id)
            if row is None:
                row = SupervisionFact(
                    supervision_id=payload.supervision_id,
                    journey_id=event.journey_id,
                    held_at=payload.held_at,
                )
                session.add(row)
            row.child_id = payload.child_id
            row.team_id = payload.team_id
            row.held_at = payload.held_at
            row.kind = payload.kind
            row.next_due_on = payload.next_due_on
            child_id = payload.child_id
        else:
            supervision_id: uuid.UUID | None = getattr(payload, "supervision_id", None)
            if supervision_id is not None:
                parent = await session.get(SupervisionFact, supervision_id)
                child_id = parent.child_id if parent is not None else None
        await self._timeline(session, event, payload, child_id)
