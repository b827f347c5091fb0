"""A journey never supervised is due on the same day in the supervision service's due list and in
reporting's supervision report when its worker is on the newly-qualified register: reporting learns
the register from the supervision feed (NewlyQualifiedRegisterSet) and applies the rule of
shared/policy.py, the worker's status on the day the journey started."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
from reporting_kit import World, contact, utc
from test_supervision_days import assert_kept_equal_recount

from services.referrals import events as rev

START = utc(2026, 3, 2, 10)  # Monday 2 March 2026 (GMT)
# Assessment: 20 working days, due Mon 30 Mar; newly qualified: 10, due Mon 16 Mar.
STANDARD_DUE, NEWLY_QUALIFIED_DUE = date(2026, 3, 30), date(2026, 3, 16)


async def _journey(w: World, worker: str, child: uuid.UUID | None = None) -> uuid.UUID:
    journey, child = uuid.uuid4(), child or uuid.uuid4()
    await w.ref(journey, contact(uuid.uuid4(), child, START, "6", team="ASSESS-1"), START)
    allocated = rev.JourneyAllocated(
        allocation_id=uuid.uuid4(), child_id=child, team_id="ASSESS-1", area="West",
        service_type="assessment", worker_id=worker, effective_at=START,
    )  # fmt: skip
    await w.ref(journey, allocated, START)
    return journey


async def _world(world_factory) -> World:
    w: World = await world_factory()
    # The supervision service reads the same referrals feed as reporting.
    consumer = w.supervision.app.state.service.consumers[0]  # type: ignore[attr-defined]
    consumer.transport = httpx.ASGITransport(app=w.referrals.app)  # type: ignore[attr-defined]
    consumer.base_url = "http://referrals.test"
    return w


async def _set(w: World, token: Any, worker: str, until: str | None) -> None:
    r = await w.supervision.put(
        f"/workers/{worker}",
        json={"newly_qualified_until": until},
        headers=token("manager", sub="m1", team="ASSESS-1"),
    )
    assert r.status_code in (200, 201), r.text  # replaced, or put on the register


async def _due_list(w: World, token: Any) -> dict[uuid.UUID, date]:
    await w.supervision.app.state.service.consumers[0].catch_up()  # type: ignore[attr-defined]
    r = await w.supervision.get("/supervisions/due", headers=token("manager", sub="m1", team="ASSESS-1"))
    assert r.status_code == 200, r.text
    return {uuid.UUID(i["journey_id"]): date.fromisoformat(i["due_on"]) for i in r.json()["items"]}


async def _overdue(w: World, token: Any, to: str) -> dict[uuid.UUID, date]:
    """The report's overdue list at the end of `to` (a past day): journey -> due date."""
    r = await w.reporting.get(
        "/reports/supervision",
        params={"from": "2026-03-01", "to": to, "group_by": "team"},
        headers=token("analyst"),
    )
    assert r.status_code == 200, r.text
    return {uuid.UUID(j["journey_id"]): date.fromisoformat(j["due_on"]) for j in r.json()["overdue"]}


async def _assert_agree(
    w: World, token: Any, newly_qualified: uuid.UUID, due: date, other: uuid.UUID
) -> None:
    listed = await _due_list(w, token)
    assert listed == {newly_qualified: due, other: STANDARD_DUE}
    await w.catch_up()
    await assert_kept_equal_recount(w)
    # The day after each due date, the journey is overdue in the report from the same due date.
    assert await _overdue(w, token, "2026-03-17") == {
        j: d for j, d in listed.items() if d < date(2026, 3, 17)
    }
    assert await _overdue(w, token, "2026-03-31") == listed


async def test_a_newly_qualified_workers_never_supervised_journey_is_due_the_same_day_in_both(
    world_factory, token
) -> None:
    w = await _world(world_factory)
    nq, other = await _journey(w, "w-nq"), await _journey(w, "w-std")
    await w.catch_up("referrals")  # the journeys first, the register after them
    await _set(w, token, "w-nq", "2026-03-31")
    await _assert_agree(w, token, nq, NEWLY_QUALIFIED_DUE, other)

    # The entry ends after the journey started (status on the start day unchanged): no date moves.
    await _set(w, token, "w-nq", "2026-03-10")
    await _assert_agree(w, token, nq, NEWLY_QUALIFIED_DUE, other)

    # Corrected to have ended before the journey started: both take the assessment interval.
    await _set(w, token, "w-nq", "2026-02-27")
    await _assert_agree(w, token, nq, STANDARD_DUE, other)

    # ... and back, then a rebuild from zero (the register's events before the journeys') agrees.
    await _set(w, token, "w-nq", "2026-04-30")
    await _assert_agree(w, token, nq, NEWLY_QUALIFIED_DUE, other)
    for feed in ("supervision", "referrals"):
        async with w.consumer(feed).db.unit_of_work() as session:
            await w.consumer(feed).projection.reset(session)
    assert await _overdue(w, token, "2026-03-31") == {}
    for feed in ("supervision", "referrals"):
        await w.consumer(feed).rebuild()
    await assert_kept_equal_recount(w)
    assert await _overdue(w, token, "2026-03-31") == {nq: NEWLY_QUALIFIED_DUE, other: STANDARD_DUE}


async def test_rebuilding_the_supervision_feed_alone_takes_the_register_out_and_puts_it_back(
    world_factory, token
) -> None:
    w = await _world(world_factory)
    nq, other = await _journey(w, "w-nq"), await _journey(w, "w-std")
    await _set(w, token, "w-nq", "2026-03-31")
    await _assert_agree(w, token, nq, NEWLY_QUALIFIED_DUE, other)
    supervision = w.consumer("supervision")
    async with supervision.db.unit_of_work() as session:
        await supervision.projection.reset(session)
    # Without the register, the journey counts at its service type's interval.
    await assert_kept_equal_recount(w)
    assert await _overdue(w, token, "2026-03-31") == {nq: STANDARD_DUE, other: STANDARD_DUE}
    await supervision.rebuild()
    await assert_kept_equal_recount(w)
    assert await _overdue(w, token, "2026-03-31") == {nq: NEWLY_QUALIFIED_DUE, other: STANDARD_DUE}


async def test_a_handover_to_a_newly_qualified_worker_takes_their_status_on_the_start_day(
    world_factory, token
) -> None:
    """The current worker's entry counts, as in the due list: a handover before the first
    supervision to a worker newly qualified on the day the journey started shortens its interval."""
    w = await _world(world_factory)
    await _set(w, token, "w-nq", "2026-03-31")
    child = uuid.uuid4()
    nq, other = await _journey(w, "w-std", child), await _journey(w, "w-std")
    await _assert_agree(w, token, nq, STANDARD_DUE, other)
    moved = rev.JourneyTransferred(
        allocation_id=uuid.uuid4(), child_id=child, from_team_id="ASSESS-1", to_team_id="ASSESS-1",
        from_area="West", to_area="West", to_service_type="assessment", from_worker_id="w-std",
        to_worker_id="w-nq", team_changed=False, worker_changed=True, reason="TSPROC",
        effective_at=utc(2026, 3, 4, 10),
    )  # fmt: skip
    await w.ref(nq, moved, utc(2026, 3, 4, 10))
    await _assert_agree(w, token, nq, NEWLY_QUALIFIED_DUE, other)
