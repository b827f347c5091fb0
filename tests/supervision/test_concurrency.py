"""A journey closed or transferred while supervision is being recorded.

The write locks the journey projection row (FOR UPDATE on PostgreSQL; SQLite serialises writers) and
re-checks open/team inside its transaction. We interpose at the lock, deterministically:
- the consumer commits a closure/transfer just before the write takes the lock -> the write sees it;
- the consumer applies a closure/transfer while the write holds the lock -> the consumer waits (on
  PostgreSQL we watch it wait on the lock) and applies it after the write commits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from platform_kit import postgres_only, until_a_backend_waits_for_a_lock
from sqlalchemy import text

from services.supervision.supervisions import service as supervision_service
from shared.codes import ServiceType


async def _closed(h, journey_id) -> bool:
    async with h.service.db.sessionmaker() as session:
        row = (
            await session.execute(
                text("SELECT is_open FROM journeys WHERE journey_id = :j"),
                {"j": journey_id.hex if h.service.db.is_sqlite else journey_id},
            )
        ).scalar_one()
        return not row


@pytest.mark.parametrize("change", ["close", "transfer"])
async def test_change_committed_just_before_the_lock_is_seen(h, monkeypatch, change: str) -> None:
    journey_id, child_id = await h.journey()
    original = supervision_service.lock_journey

    async def change_first(session: Any, jid: Any) -> Any:
        if change == "close":
            await h.close(journey_id, child_id)
        else:
            await h.transfer(journey_id, child_id, to_team="AS-EAST", service_type=ServiceType.assessment)
        assert await h.sync() == 1  # committed by the consumer in its own transaction
        return await original(session, jid)

    monkeypatch.setattr(supervision_service, "lock_journey", change_first)
    r = await h.record(journey_id)
    if change == "close":
        assert r.status_code == 409 and r.json()["code"] == "journey_closed"
    else:
        assert r.status_code == 403 and r.json()["code"] == "not_your_team"
    assert await h.count("supervisions") == 0 and await h.count("supervision_actions") == 0
    assert await h.own_events() == []


@pytest.mark.parametrize("change", ["close", "transfer"])
async def test_change_applied_while_the_write_holds_the_lock_waits_for_it(
    h, monkeypatch, change: str
) -> None:
    journey_id, child_id = await h.journey()
    original = supervision_service.lock_journey
    consumer_runs: list[asyncio.Task[int]] = []

    async def change_during(session: Any, jid: Any) -> Any:
        journey = await original(session, jid)  # the lock is now held until the write commits
        if change == "close":
            await h.close(journey_id, child_id)
        else:
            await h.transfer(journey_id, child_id, to_team="AS-EAST", service_type=ServiceType.assessment)
        consumer_runs.append(asyncio.create_task(h.sync()))
        if not h.service.db.is_sqlite:
            await until_a_backend_waits_for_a_lock(h.service.db.engine, "the consumer")
        # SQLite: the consumer's BEGIN IMMEDIATE cannot start until this write commits.
        return journey

    monkeypatch.setattr(supervision_service, "lock_journey", change_during)
    r = await h.record(journey_id)
    assert r.status_code == 201, r.text
    assert r.json()["team_id"] == "FD-WEST"
    assert await consumer_runs[0] == 1  # ...and then the consumer applied the change
    if change == "close":
        assert await _closed(h, journey_id)
        again = await h.record(journey_id)
        assert again.status_code == 409
    else:
        assert (await h.record(journey_id)).status_code == 403
        assert (await h.record(journey_id, h.manager("AS-EAST"))).status_code == 201
    assert [e["type"] for e in await h.own_events()][:3] == [
        "SupervisionRecorded",
        "SupervisionActionSet",
        "SupervisionActionSet",
    ]


async def test_concurrent_supervisions_of_one_journey_both_land_in_order(h) -> None:
    journey_id, _ = await h.journey()
    first, second = await asyncio.gather(
        h.record(journey_id, held_at="2026-03-16T10:00:00Z"),
        h.record(journey_id, held_at="2026-03-17T10:00:00Z", actions=[]),
    )
    assert (first.status_code, second.status_code) == (201, 201)
    events = await h.own_events()
    assert sorted(e["stream_version"] for e in events) == [1, 2, 3, 4]
    verify = await h.client.get("/admin/verify", headers=h.token("admin", sub="a1"))
    assert verify.json()["ok"] is True and verify.json()["events_checked"] == 4


@postgres_only("SQLite serialises writers (BEGIN IMMEDIATE), so the two changes cannot race")
async def test_an_owner_completing_and_cancelling_at_once_while_the_journeys_are_rebuilt(
    h, monkeypatch
) -> None:
    """While `frontdoor rebuild` replays the referrals feed, the journey projection is empty: an
    action's owner may still change it, but the journey's lock then locks nothing. The second change
    must read the action again under the supervision's lock, not complete a cancelled action."""
    journey_id, _ = await h.journey()
    sup = (await h.record(journey_id)).json()
    async with h.service.db.unit_of_work() as session:
        await h.consumer.projection.reset(session)  # the rebuild's first step, committed
    path = f"/supervisions/{sup['id']}/actions/{sup['actions'][0]['id']}"
    owner = h.token("practitioner", sub="w1")
    first, second = await race_held_on(
        h,
        monkeypatch,
        lambda: h.client.post(f"{path}/cancel", json={"reason": "No longer needed."}, headers=owner),
        lambda: h.client.post(f"{path}/complete", json={}, headers=owner),
    )
    assert first.status_code == 200, first.text
    assert second.status_code == 409 and second.json()["code"] == "action_not_open", second.text
    changes = [e["type"] for e in await h.own_events()][3:]
    assert changes == ["SupervisionActionCancelled"]


def hold_after_first_append(monkeypatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the first request to append events open just after its append, its transaction not yet
    committed: `reached` is set there, and it goes on (to commit) once `release` is set."""
    real = supervision_service._append
    reached, release = asyncio.Event(), asyncio.Event()

    async def held(*args: Any, **kwargs: Any) -> None:
        await real(*args, **kwargs)
        if not reached.is_set():
            reached.set()
            await release.wait()

    monkeypatch.setattr(supervision_service, "_append", held)
    return reached, release


async def race_held_on(h, monkeypatch, first: Any, second: Any) -> tuple[Any, Any]:
    """`first` changes an action and holds its transaction open after its event append; `second`
    starts and queues behind it; then `first` commits and `second` finishes."""
    reached, release = hold_after_first_append(monkeypatch)
    first_task = asyncio.create_task(first())
    await asyncio.wait_for(reached.wait(), 30)
    second_task = asyncio.create_task(second())
    try:
        await until_a_backend_waits_for_a_lock(h.service.db.engine, "the second change")
    finally:
        release.set()
    return await first_task, await second_task


@postgres_only("several processes share one database only on PostgreSQL (SQLite is one process)")
async def test_a_retry_on_another_replica_while_the_first_is_appended_is_409_then_a_replay(
    h, app_client, token, monkeypatch
) -> None:
    """Supervision remembers its Idempotency-Key after its event append (referrals before): the retry
    arrives in that window, on another replica (whose in-process set cannot see the first). The key's
    advisory lock, held by the first until it commits, makes it a clean 409, then a replay; never a
    second supervision, nor a 500 on the key's primary key."""
    journey_id, _ = await h.journey()
    replica = await app_client("supervision")
    headers = {**h.manager(), "Idempotency-Key": "k-2"}
    body = {
        "journey_id": str(journey_id),
        "supervisee_id": "w1",
        "held_at": "2026-03-16T10:00:00Z",
        "kind": "individual",
        "discussion": "Synthetic discussion text.",
        "decisions": "Synthetic decision text.",
        "actions": [],
    }
    reached, release = hold_after_first_append(monkeypatch)
    first_task = asyncio.create_task(h.client.post("/supervisions", json=body, headers=headers))
    try:
        await asyncio.wait_for(reached.wait(), 30)
        retry_task = asyncio.create_task(replica.post("/supervisions", json=body, headers=headers))
        queued = await _queued_for_a_lock(retry_task, h.service.db.engine)
    finally:
        release.set()
    first, retry = await first_task, await retry_task
    assert not queued, f"the retry queued behind the first instead of being refused: {retry.text}"
    assert retry.status_code == 409 and retry.json()["code"] == "idempotency_in_flight", retry.text
    assert first.status_code == 201, first.text
    replayed = await replica.post("/supervisions", json=body, headers=headers)
    assert replayed.status_code == 201 and replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.json() == first.json()
    assert await h.count("supervisions") == 1 and len(await h.own_events()) == 1


async def _queued_for_a_lock(task: asyncio.Task[Any], engine: Any) -> bool:
    """Whether `task` waits for a lock (PostgreSQL) before it finishes."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while not task.done():
        async with engine.connect() as conn:
            if (await conn.execute(waiting)).scalar_one():
                return True
        await asyncio.sleep(0.02)
    return False
