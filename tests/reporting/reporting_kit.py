"""Fixtures for reporting tests: real producer apps whose logs we append to, and reporting's consumers
pointed at them in-process."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from shared.events.consumer import FeedConsumer
from shared.events.contract import EventPayload
from shared.events.log import NewEvent


@dataclass
class World:
    referrals: httpx.AsyncClient
    supervision: httpx.AsyncClient
    reporting: httpx.AsyncClient
    versions: dict[tuple[str, uuid.UUID], int] = field(default_factory=dict)

    async def _append(
        self, client: httpx.AsyncClient, journey_id: uuid.UUID, payload: EventPayload, at: datetime
    ) -> None:
        service = client.app.state.service  # type: ignore[attr-defined]
        key = (service.name, journey_id)
        version = self.versions.get(key, 0)
        async with service.db.unit_of_work() as session:
            await service.event_log.append(
                session, journey_id, [NewEvent(payload, at)], expected_version=version, actor="m-test"
            )
        self.versions[key] = version + 1

    async def ref(self, journey_id: uuid.UUID, payload: EventPayload, at: datetime) -> None:
        await self._append(self.referrals, journey_id, payload, at)

    async def sup(self, journey_id: uuid.UUID, payload: EventPayload, at: datetime) -> None:
        await self._append(self.supervision, journey_id, payload, at)

    def consumer(self, feed: str) -> FeedConsumer:
        consumers = self.reporting.app.state.service.consumers  # type: ignore[attr-defined]
        return next(c for c in consumers if c.feed == feed)

    async def catch_up(self, *feeds: str) -> None:
        for feed in feeds or ("supervision", "referrals"):
            await self.consumer(feed).catch_up()


@pytest.fixture
async def world_factory(app_client: Callable[..., Awaitable[httpx.AsyncClient]]) -> Callable[..., Any]:
    async def make(**reporting_settings: Any) -> World:
        referrals = await app_client("referrals")
        supervision = await app_client("supervision")
        reporting = await app_client("reporting", **reporting_settings)
        world = World(referrals, supervision, reporting)
        world.consumer("referrals").transport = httpx.ASGITransport(app=referrals.app)  # type: ignore[attr-defined]
        world.consumer("supervision").transport = httpx.ASGITransport(app=supervision.app)  # type: ignore[attr-defined]
        return world

    return make


# -- the hand-built scenario ------------------------------------------------------------------------
# Times are UTC. In BST (late March to late October) London is UTC+1; the comments give London time.

from datetime import UTC, date  # noqa: E402

from services.referrals import events as rev  # noqa: E402
from services.supervision import events as sev  # noqa: E402


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def half_up(value: float, places: int = 2) -> float:
    """A figure rounded as the reports define it: the decimal it prints as, halves up."""
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def uid(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"frontdoor-test:{name}")


K1, K2, K3, K5, K6 = (uid(f"child-{n}") for n in ("K1", "K2", "K3", "K5", "K6"))
J1, J2, J3, J4, J6, J7, J8 = (uid(f"journey-{n}") for n in ("J1", "J2", "J3", "J4", "J6", "J7", "J8"))
C1, C2, C3, C4, C5, C6, C7, C8 = (uid(f"contact-{n}") for n in range(1, 9))


def contact(
    contact_id: uuid.UUID,
    child_id: uuid.UUID,
    received_at: datetime,
    source: str,
    *,
    team: str = "FD-WEST",
    area: str = "West",
    repeat: bool = False,
) -> rev.ContactReceived:
    return rev.ContactReceived(
        contact_id=contact_id,
        child_id=child_id,
        received_at=received_at,
        source=source,
        channel="phone",
        urgency="amber",
        consent="given",
        opens_journey=not repeat,
        repeat_contact=repeat,
        team_id=team,
        area=area,
    )


def decision(
    decision_id: uuid.UUID,
    contact_id: uuid.UUID,
    child_id: uuid.UUID,
    outcome: str,
    decided_at: datetime,
    *,
    supersedes: uuid.UUID | None = None,
) -> rev.ThresholdDecisionRecorded:
    referral = outcome in ("CIN_ASSESSMENT", "STRATEGY_S47")
    return rev.ThresholdDecisionRecorded(
        decision_id=decision_id,
        contact_id=contact_id,
        child_id=child_id,
        outcome=outcome,
        threshold_level=3 if referral else 1,
        primary_need="N1" if referral else None,
        decided_at=decided_at,
        requires_authorisation=referral,
        supersedes_decision_id=supersedes,
        decided_by_team="FD-WEST",
        decided_by_area="West",
    )


def authorised(
    decision_id: uuid.UUID, contact_id: uuid.UUID, at: datetime
) -> rev.ThresholdDecisionAuthorised:
    return rev.ThresholdDecisionAuthorised(decision_id=decision_id, contact_id=contact_id, authorised_at=at)


def closed(child_id: uuid.UUID, reason: str, at: datetime) -> rev.JourneyClosed:
    return rev.JourneyClosed(child_id=child_id, closure_reason=reason, closed_at=at)


def transfer(
    child_id: uuid.UUID,
    at: datetime,
    *,
    from_team: str,
    to_team: str,
    from_worker: str | None,
    to_worker: str | None,
    reason: str,
    service_type: str = "assessment",
) -> rev.JourneyTransferred:
    return rev.JourneyTransferred(
        allocation_id=uuid.uuid4(),
        child_id=child_id,
        from_team_id=from_team,
        to_team_id=to_team,
        from_area="West",
        to_area="West",
        to_service_type=service_type,
        from_worker_id=from_worker,
        to_worker_id=to_worker,
        team_changed=from_team != to_team,
        worker_changed=from_worker != to_worker,
        reason=reason,
        effective_at=at,
    )


def supervision(child_id: uuid.UUID, held_at: datetime, next_due_on: date) -> sev.SupervisionRecorded:
    return sev.SupervisionRecorded(
        supervision_id=uuid.uuid4(),
        child_id=child_id,
        team_id="ASSESS-1",
        supervisee_id="w-test",
        held_at=held_at,
        kind="individual",
        next_due_on=next_due_on,
        actions=0,
    )


async def build_scenario(w: World) -> None:
    """Eight contacts, seven journeys, five children; see test_reports.py for the worked figures."""
    # J1 / C1 (child K1): Fri 5 May 2023 23:30 BST, before the Coronation bank holiday (Mon 8 May).
    await w.ref(J1, contact(C1, K1, utc(2023, 5, 5, 22, 30), "6"), utc(2023, 5, 5, 22, 30))
    # Decided NFA Tue 9 May 15:00 BST.
    await w.ref(J1, decision(uid("d1"), C1, K1, "NFA", utc(2023, 5, 9, 14)), utc(2023, 5, 9, 14))
    # Closed Wed 10 May 12:00 BST without allocation.
    await w.ref(J1, closed(K1, "FD_NFA", utc(2023, 5, 10, 11)), utc(2023, 5, 10, 11))

    # J2 / C2 (child K2): Wed 1 June 2022 16:00 BST, before the Jubilee (Thu 2, Fri 3 June).
    await w.ref(J2, contact(C2, K2, utc(2022, 6, 1, 15), "2A"), utc(2022, 6, 1, 15))
    # First decision EARLY_HELP Mon 6 June 10:00 BST; allocated to w1 at 12:00 BST.
    await w.ref(J2, decision(uid("d2a"), C2, K2, "EARLY_HELP", utc(2022, 6, 6, 9)), utc(2022, 6, 6, 9))
    await w.ref(
        J2,
        rev.JourneyAllocated(
            allocation_id=uuid.uuid4(),
            child_id=K2,
            team_id="FD-WEST",
            area="West",
            service_type="front_door",
            worker_id="w1",
            effective_at=utc(2022, 6, 6, 11),
        ),
        utc(2022, 6, 6, 11),
    )
    # Superseded Tue 7 June 11:00 BST by CIN_ASSESSMENT, authorised 14:00 BST.
    await w.ref(
        J2,
        decision(uid("d2b"), C2, K2, "CIN_ASSESSMENT", utc(2022, 6, 7, 10), supersedes=uid("d2a")),
        utc(2022, 6, 7, 10),
    )
    await w.ref(
        J2,
        rev.ThresholdDecisionSuperseded(
            decision_id=uid("d2a"),
            contact_id=C2,
            superseded_by_decision_id=uid("d2b"),
            reason="new_information",
        ),
        utc(2022, 6, 7, 10),
    )
    await w.ref(J2, authorised(uid("d2b"), C2, utc(2022, 6, 7, 13)), utc(2022, 6, 7, 13))
    # Handovers: Wed 8 June 10:00 BST to assessment (team and worker), Mon 13 June 09:00 BST the
    # worker leaves (no worker), Wed 15 June 09:00 BST a new worker.
    await w.ref(
        J2,
        transfer(K2, utc(2022, 6, 8, 9), from_team="FD-WEST", to_team="ASSESS-1", from_worker="w1",
                 to_worker="w2", reason="TSPROC"),
        utc(2022, 6, 8, 9),
    )  # fmt: skip
    await w.ref(
        J2,
        transfer(K2, utc(2022, 6, 13, 8), from_team="ASSESS-1", to_team="ASSESS-1", from_worker="w2",
                 to_worker=None, reason="LEFTRL"),
        utc(2022, 6, 13, 8),
    )  # fmt: skip
    await w.ref(
        J2,
        transfer(K2, utc(2022, 6, 15, 8), from_team="ASSESS-1", to_team="ASSESS-1", from_worker=None,
                 to_worker="w3", reason="MANAGE"),
        utc(2022, 6, 15, 8),
    )  # fmt: skip
    await w.ref(J2, closed(K2, "RC8", utc(2022, 9, 30, 11)), utc(2022, 9, 30, 11))
    # Supervision of J2: Thu 16 June (next due 14 July) and Wed 10 Aug (next due 7 Sept).
    await w.sup(J2, supervision(K2, utc(2022, 6, 16, 9), date(2022, 7, 14)), utc(2022, 6, 16, 9))
    await w.sup(J2, supervision(K2, utc(2022, 8, 10, 9), date(2022, 9, 7)), utc(2022, 8, 10, 9))

    # J3 / C3 (child K3, FD-EAST): Fri 16 Sept 2022 17:30 BST (after close; Mon 19 = State Funeral).
    await w.ref(J3, contact(C3, K3, utc(2022, 9, 16, 16, 30), "3A", team="FD-EAST", area="East"),
                utc(2022, 9, 16, 16, 30))  # fmt: skip
    # Decided Thu 22 Sept 10:00 BST: late. Closed Thu 22 Sept 12:00 BST.
    await w.ref(J3, decision(uid("d3"), C3, K3, "INFO_ADVICE", utc(2022, 9, 22, 9)), utc(2022, 9, 22, 9))
    await w.ref(J3, closed(K3, "FD_ADVICE", utc(2022, 9, 22, 11)), utc(2022, 9, 22, 11))

    # J4 (child K1 again: a new journey). C4 Mon 15 Jan 2024 10:00 GMT, S47 at 14:30, authorised
    # Tue 16 Jan 09:30; allocated to w4 Tue 16 Jan 10:00.
    await w.ref(J4, contact(C4, K1, utc(2024, 1, 15, 10), "6"), utc(2024, 1, 15, 10))
    await w.ref(J4, decision(uid("d4"), C4, K1, "STRATEGY_S47", utc(2024, 1, 15, 14, 30)),
                utc(2024, 1, 15, 14, 30))  # fmt: skip
    await w.ref(J4, authorised(uid("d4"), C4, utc(2024, 1, 16, 9, 30)), utc(2024, 1, 16, 9, 30))
    await w.ref(
        J4,
        rev.JourneyAllocated(
            allocation_id=uuid.uuid4(),
            child_id=K1,
            team_id="ASSESS-1",
            area="West",
            service_type="assessment",
            worker_id="w4",
            effective_at=utc(2024, 1, 16, 10),
        ),
        utc(2024, 1, 16, 10),
    )
    # C5: a repeat contact on J4, Tue 20 Feb 2024 11:00 GMT, CIN_ASSESSMENT at 12:00 (not yet authorised):
    # a re-referral (C4 was a referral five weeks before).
    await w.ref(J4, contact(C5, K1, utc(2024, 2, 20, 11), "2A", repeat=True), utc(2024, 2, 20, 11))
    await w.ref(J4, decision(uid("d5"), C5, K1, "CIN_ASSESSMENT", utc(2024, 2, 20, 12)), utc(2024, 2, 20, 12))
    await w.ref(J4, closed(K1, "RC8", utc(2024, 3, 28, 15)), utc(2024, 3, 28, 15))

    # J6 (child K2 re-opened): C6 Mon 5 June 2023 10:00 BST, CIN_ASSESSMENT 11:00 BST, authorised
    # 16:00 BST. K2's previous referral (C2, 1 June 2022) is more than 12 months before.
    await w.ref(J6, contact(C6, K2, utc(2023, 6, 5, 9), "5D"), utc(2023, 6, 5, 9))
    await w.ref(J6, decision(uid("d6"), C6, K2, "CIN_ASSESSMENT", utc(2023, 6, 5, 10)), utc(2023, 6, 5, 10))
    await w.ref(J6, authorised(uid("d6"), C6, utc(2023, 6, 5, 15)), utc(2023, 6, 5, 15))
    await w.ref(J6, closed(K2, "RC8", utc(2023, 6, 9, 11)), utc(2023, 6, 9, 11))

    # J7 / C7 (child K5): Thu 25 May 2023 16:00 BST, never decided (Mon 29 May is a bank holiday).
    await w.ref(J7, contact(C7, K5, utc(2023, 5, 25, 15), "1A"), utc(2023, 5, 25, 15))

    # J8 / C8 (child K6, FD-EAST): Mon 1 Aug 2022 10:00 BST, EARLY_HELP 12:00 BST; allocated to
    # early help (EH-1, w5) Wed 3 Aug 10:00 BST; never supervised; still open.
    await w.ref(J8, contact(C8, K6, utc(2022, 8, 1, 9), "6", team="FD-EAST", area="East"), utc(2022, 8, 1, 9))
    await w.ref(J8, decision(uid("d8"), C8, K6, "EARLY_HELP", utc(2022, 8, 1, 11)), utc(2022, 8, 1, 11))
    await w.ref(
        J8,
        rev.JourneyAllocated(
            allocation_id=uuid.uuid4(),
            child_id=K6,
            team_id="EH-1",
            area="East",
            service_type="early_help",
            worker_id="w5",
            effective_at=utc(2022, 8, 3, 9),
        ),
        utc(2022, 8, 3, 9),
    )
