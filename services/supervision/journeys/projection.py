"""Tolerant readers of the referrals journey events supervision needs, and the projection they feed.

Supervision never imports the referrals service: it reads the JSON payloads with its own models that
take only the fields it uses and ignore the rest, so referrals can add fields without breaking us.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.supervision.journeys.models import Journey
from shared.events.contract import Envelope
from shared.types import FeedId, FeedTime, FeedWorkerId, no_control_characters

log = logging.getLogger("frontdoor.supervision.projection")


# What the journey table holds and the due list counts from (team, area and worker ids, and times on
# the London calendar: shared.types.FeedId and the rest); a value beyond it makes the payload
# unreadable, skipped and counted like any other.
ServiceTypeCode = Annotated[str, StringConstraints(max_length=60), AfterValidator(no_control_characters)]


class _Reader(BaseModel):
    """Times must carry a zone: a naive one cannot be compared with, or stored as, the UTC times kept,
    so the event is skipped (and counted) rather than failing its batch for good."""

    model_config = ConfigDict(extra="ignore")


class ContactReceivedIn(_Reader):
    child_id: uuid.UUID
    received_at: FeedTime
    opens_journey: bool
    team_id: FeedId | None = None
    area: FeedId | None = None


class JourneyAllocatedIn(_Reader):
    child_id: uuid.UUID
    team_id: FeedId
    area: FeedId | None = None
    service_type: ServiceTypeCode | None = None
    worker_id: FeedWorkerId | None = None
    effective_at: FeedTime


class JourneyTransferredIn(_Reader):
    child_id: uuid.UUID
    to_team_id: FeedId
    to_area: FeedId | None = None
    to_service_type: ServiceTypeCode | None = None
    to_worker_id: FeedWorkerId | None = None
    worker_changed: bool = True
    effective_at: FeedTime


class JourneyClosedIn(_Reader):
    child_id: uuid.UUID
    closed_at: FeedTime


READERS: dict[str, type[_Reader]] = {
    "ContactReceived": ContactReceivedIn,
    "JourneyAllocated": JourneyAllocatedIn,
    "JourneyTransferred": JourneyTransferredIn,
    "JourneyClosed": JourneyClosedIn,
}


class JourneyProjection:
    """Applies referrals events to the `journeys` table (a `shared.events.consumer.Projection`)."""

    tables = (str(Journey.__tablename__),)

    async def apply(self, session: AsyncSession, event: Envelope) -> bool:
        reader = READERS.get(event.type)
        if reader is None:
            return False  # a type supervision does not use: skipped and counted by the consumer
        try:
            payload = reader.model_validate(event.payload)
        except ValidationError:
            # A malformed payload would otherwise stop the feed for good; skip it, count it, say so.
            log.warning("unreadable %s at position %s skipped", event.type, event.position)
            return False
        journey = await session.get(Journey, event.journey_id)
        if isinstance(payload, ContactReceivedIn):
            if journey is None:
                # A repeat contact on a journey we never saw still tells us it exists.
                journey = self._new(event, payload.child_id, payload.received_at)
                journey.team_id = payload.team_id
                journey.area = payload.area
            elif payload.received_at < journey.started_at:
                # The journey began when the earliest of its contacts arrived (as referrals says): a
                # backdated repeat contact moves the start back; a later one leaves it. The earliest
                # wins whatever the order, so a rebuild from zero gives the same start.
                journey.started_at = payload.received_at
        elif isinstance(payload, JourneyAllocatedIn):
            journey = journey or self._new(event, payload.child_id, payload.effective_at)
            journey.team_id = payload.team_id
            journey.area = payload.area
            journey.service_type = payload.service_type
            journey.worker_id = payload.worker_id
            journey.allocated_at = payload.effective_at
        elif isinstance(payload, JourneyTransferredIn):
            journey = journey or self._new(event, payload.child_id, payload.effective_at)
            journey.team_id = payload.to_team_id
            journey.area = payload.to_area
            journey.service_type = payload.to_service_type
            if payload.worker_changed or payload.to_worker_id is not None:
                journey.worker_id = payload.to_worker_id
            journey.allocated_at = payload.effective_at
        elif isinstance(payload, JourneyClosedIn):
            journey = journey or self._new(event, payload.child_id, payload.closed_at)
            journey.is_open = False
            journey.closed_at = payload.closed_at
        assert journey is not None
        journey.last_event_position = event.position
        session.add(journey)
        await session.flush()
        return True

    @staticmethod
    def _new(event: Envelope, child_id: uuid.UUID, at: datetime) -> Journey:
        # Tolerance for a feed that starts mid-journey: the earliest time we know of is the start (an
        # earlier contact, when one comes, moves it back).
        return Journey(journey_id=event.journey_id, child_id=child_id, started_at=at)

    async def reset(self, session: AsyncSession) -> None:
        await session.execute(delete(Journey))
