"""Supervision test harness: a referrals app whose log the test writes to, and a supervision app whose
consumer reads it in-process. Referrals events are built with the referrals contract (tests may import
it; the supervision service code must not)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from services.referrals import events as ref
from shared.codes import (
    ClosureReason,
    ConsentStatus,
    ContactChannel,
    FrontDoorClosure,
    ReferralSource,
    ServiceType,
    Urgency,
    WorkerChangeReason,
)
from shared.events.consumer import FeedConsumer
from shared.events.contract import EventPayload
from shared.events.log import NewEvent

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, GMT


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class Harness:
    def __init__(self, referrals: httpx.AsyncClient, supervision: httpx.AsyncClient, token: Any) -> None:
        self.referrals = referrals
        self.client = supervision
        self.token = token
        self.consumer: FeedConsumer = supervision.app.state.service.consumers[0]  # type: ignore[attr-defined]
        self.consumer.transport = httpx.ASGITransport(app=referrals.app)  # type: ignore[attr-defined]
        self.consumer.base_url = "http://referrals.test"

    @property
    def service(self) -> Any:
        return self.client.app.state.service  # type: ignore[attr-defined]

    async def emit(self, journey_id: uuid.UUID, payload: EventPayload, occurred_at: datetime) -> None:
        svc = self.referrals.app.state.service  # type: ignore[attr-defined]
        async with svc.db.unit_of_work() as session:
            version = await svc.event_log.current_version(session, journey_id)
            await svc.event_log.append(
                session, journey_id, [NewEvent(payload, occurred_at)], expected_version=version, actor="t"
            )

    async def sync(self) -> int:
        return await self.consumer.catch_up()

    async def open(
        self,
        *,
        received_at: datetime = START,
        team: str | None = "FD-WEST",
        child_id: uuid.UUID | None = None,
        journey_id: uuid.UUID | None = None,
    ) -> tuple[uuid.UUID, uuid.UUID]:
        journey_id = journey_id or uuid.uuid4()
        child_id = child_id or uuid.uuid4()
        await self._contact(journey_id, child_id, received_at, team, opens_journey=True)
        return journey_id, child_id

    async def repeat_contact(
        self, journey_id: uuid.UUID, child_id: uuid.UUID, received_at: datetime, team: str | None = "FD-WEST"
    ) -> None:
        """Another contact about the child on its open journey (received when it says: maybe backdated)."""
        await self._contact(journey_id, child_id, received_at, team, opens_journey=False)

    async def _contact(
        self,
        journey_id: uuid.UUID,
        child_id: uuid.UUID,
        received_at: datetime,
        team: str | None,
        *,
        opens_journey: bool,
    ) -> None:
        await self.emit(
            journey_id,
            ref.ContactReceived(
                contact_id=uuid.uuid4(),
                child_id=child_id,
                received_at=received_at,
                source=ReferralSource.C2A,
                channel=ContactChannel.phone,
                urgency=Urgency.amber,
                consent=ConsentStatus.given,
                opens_journey=opens_journey,
                repeat_contact=not opens_journey,
                team_id=team,
                area="WEST" if team else None,
            ),
            received_at,
        )

    async def allocate(
        self,
        journey_id: uuid.UUID,
        child_id: uuid.UUID,
        *,
        team: str = "FD-WEST",
        service_type: ServiceType = ServiceType.front_door,
        worker: str | None = "w1",
        effective_at: datetime = START,
    ) -> None:
        await self.emit(
            journey_id,
            ref.JourneyAllocated(
                allocation_id=uuid.uuid4(),
                child_id=child_id,
                team_id=team,
                area="WEST",
                service_type=service_type,
                worker_id=worker,
                effective_at=effective_at,
            ),
            effective_at,
        )

    async def transfer(
        self,
        journey_id: uuid.UUID,
        child_id: uuid.UUID,
        *,
        from_team: str = "FD-WEST",
        to_team: str = "AS-EAST",
        service_type: ServiceType = ServiceType.assessment,
        from_worker: str | None = "w1",
        to_worker: str | None = "w2",
        effective_at: datetime = START,
        worker_changed: bool | None = None,
    ) -> None:
        await self.emit(
            journey_id,
            ref.JourneyTransferred(
                allocation_id=uuid.uuid4(),
                child_id=child_id,
                from_team_id=from_team,
                to_team_id=to_team,
                from_area="WEST",
                to_area="EAST",
                to_service_type=service_type,
                from_worker_id=from_worker,
                to_worker_id=to_worker,
                team_changed=from_team != to_team,
                worker_changed=from_worker != to_worker if worker_changed is None else worker_changed,
                reason=WorkerChangeReason.MANAGE,
                effective_at=effective_at,
            ),
            effective_at,
        )

    async def close(
        self,
        journey_id: uuid.UUID,
        child_id: uuid.UUID,
        closed_at: datetime = START,
        reason: ClosureReason | FrontDoorClosure = ClosureReason.RC1,
    ) -> None:
        await self.emit(
            journey_id,
            ref.JourneyClosed(child_id=child_id, closure_reason=reason, closed_at=closed_at),
            closed_at,
        )

    async def journey(
        self, *, service_type: ServiceType = ServiceType.front_door, worker: str | None = "w1", **kw: Any
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """An open journey received at START, allocated to FD-WEST (default) and applied."""
        team = kw.pop("team", "FD-WEST")
        journey_id, child_id = await self.open(team=team, **kw)
        await self.allocate(
            journey_id,
            child_id,
            team=team,
            service_type=service_type,
            worker=worker,
            effective_at=kw.get("received_at", START),
        )
        await self.sync()
        return journey_id, child_id

    def manager(self, team: str = "FD-WEST", sub: str = "m1") -> dict[str, str]:
        return self.token("manager", sub=sub, team=team)  # type: ignore[no-any-return]

    async def record(
        self, journey_id: uuid.UUID, headers: dict[str, str] | None = None, /, **overrides: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "journey_id": str(journey_id),
            "supervisee_id": "w1",
            "held_at": "2026-03-16T10:00:00Z",
            "kind": "individual",
            "discussion": "Synthetic discussion text.",
            "decisions": "Synthetic decision text.",
            "actions": [
                {"description": "Visit the child at school.", "owner_id": "w1", "due_on": "2026-03-20"},
                {"description": "Strategy discussion.", "owner_id": "m1", "due_on": "2026-03-16"},
            ],
        }
        body.update(overrides)
        return await self.client.post("/supervisions", json=body, headers=headers or self.manager())

    async def count(self, table: str) -> int:
        async with self.service.db.sessionmaker() as session:
            return int((await session.execute(select(func.count()).select_from(text(table)))).scalar_one())

    async def own_events(self) -> list[dict[str, Any]]:
        r = await self.client.get("/events", headers=self.token("service", sub="svc-reporting"))
        assert r.status_code == 200, r.text
        return r.json()["events"]  # type: ignore[no-any-return]


@pytest.fixture
async def h(app_client: Any, token: Any) -> Harness:
    referrals = await app_client("referrals")
    supervision = await app_client("supervision")
    return Harness(referrals, supervision, token)


@pytest.fixture
def make_harness(app_client: Any, token: Any) -> Any:
    """make_harness(**supervision settings) for tests of configurable policy."""

    async def make(**settings: Any) -> Harness:
        referrals = await app_client("referrals")
        supervision = await app_client("supervision", **settings)
        return Harness(referrals, supervision, token)

    return make
