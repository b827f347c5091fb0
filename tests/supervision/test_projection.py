"""The referrals feed -> the journey projection: opened, allocated, transferred, closed; unknown types
skipped and counted; rebuild gives the same state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from services.referrals import events as ref
from services.supervision.journeys.models import Journey
from shared.codes import DecisionOutcome, FrontDoorClosure, ServiceType
from shared.events.log import envelope_hash

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def journeys(h) -> dict[uuid.UUID, dict[str, Any]]:
    async with h.service.db.sessionmaker() as session:
        rows = (await session.execute(select(Journey))).scalars().all()
        return {j.journey_id: j.model_dump() for j in rows}


async def test_journey_life_is_projected(h) -> None:
    journey_id, child_id = await h.open(received_at=START, team="FD-WEST")
    await h.sync()
    j = (await journeys(h))[journey_id]
    assert (j["child_id"], j["is_open"], j["started_at"], j["team_id"], j["area"]) == (
        child_id,
        True,
        START,
        "FD-WEST",
        "WEST",
    )
    assert j["worker_id"] is None and j["service_type"] is None

    allocated_at = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    await h.allocate(journey_id, child_id, team="FD-WEST", worker="w1", effective_at=allocated_at)
    await h.sync()
    j = (await journeys(h))[journey_id]
    assert (j["team_id"], j["service_type"], j["worker_id"], j["allocated_at"]) == (
        "FD-WEST",
        "front_door",
        "w1",
        allocated_at,
    )
    assert j["started_at"] == START  # allocation does not move the start

    await h.transfer(journey_id, child_id, to_team="AS-EAST", to_worker="w2", effective_at=allocated_at)
    await h.sync()
    j = (await journeys(h))[journey_id]
    assert (j["team_id"], j["area"], j["service_type"], j["worker_id"]) == (
        "AS-EAST",
        "EAST",
        "assessment",
        "w2",
    )

    # A team change keeping the worker leaves the worker as they were.
    await h.transfer(
        journey_id,
        child_id,
        from_team="AS-EAST",
        to_team="FS-EAST",
        from_worker="w2",
        to_worker=None,
        service_type=ServiceType.family_safeguarding,
        worker_changed=False,
    )
    await h.sync()
    j = (await journeys(h))[journey_id]
    assert (j["team_id"], j["service_type"], j["worker_id"]) == ("FS-EAST", "family_safeguarding", "w2")

    closed_at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    await h.close(journey_id, child_id, closed_at)
    await h.sync()
    j = (await journeys(h))[journey_id]
    assert j["is_open"] is False and j["closed_at"] == closed_at


async def test_repeat_contact_does_not_restart_the_journey(h) -> None:
    journey_id, child_id = await h.open(received_at=START)
    later = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    await h.repeat_contact(journey_id, child_id, later)
    await h.sync()
    assert (await journeys(h))[journey_id]["started_at"] == START


async def test_other_and_unknown_event_types_are_skipped_and_counted(h) -> None:
    journey_id, child_id = await h.open()
    await h.emit(
        journey_id,
        ref.ThresholdDecisionRecorded(
            decision_id=uuid.uuid4(),
            contact_id=uuid.uuid4(),
            child_id=child_id,
            outcome=next(iter(DecisionOutcome)),
            threshold_level=2,
            decided_at=START,
            requires_authorisation=False,
        ),
        START,
    )
    # A type from a newer referrals version, written straight into its log.
    svc = h.referrals.app.state.service

    async with svc.db.unit_of_work() as session:
        fields = {
            "event_id": uuid.uuid4(),
            "type": "ChildMovedHouse",
            "schema_version": 1,
            "journey_id": journey_id,
            "stream_version": 3,
            "occurred_at": START,
            "recorded_at": START,
            "producer": "referrals",
            "actor": "t",
            "correlation_id": None,
            "payload": {"child_id": str(child_id), "extra": 1},
        }
        prev = (
            await session.execute(
                select(svc.event_log.table.c.hash).where(svc.event_log.table.c.stream_version == 2)
            )
        ).scalar_one()
        fields["prev_hash"] = prev
        fields["hash"] = envelope_hash(fields, prev)
        await session.execute(insert(svc.event_log.table).values(**fields))
    await h.close(journey_id, child_id)
    assert await h.sync() == 2  # ContactReceived and JourneyClosed
    metrics = (await h.client.get("/metrics")).text
    skipped = [
        line
        for line in metrics.splitlines()
        if "consumer_events_skipped_total{" in line and not line.startswith("#")
    ]
    assert any("ThresholdDecisionRecorded" in line and line.endswith(" 1.0") for line in skipped), skipped
    assert any("ChildMovedHouse" in line and line.endswith(" 1.0") for line in skipped), skipped
    assert (await journeys(h))[journey_id]["is_open"] is False
    assert await h.consumer.position() == 4


@pytest.mark.parametrize("reason", [FrontDoorClosure.FD_OTHER, FrontDoorClosure.FD_EXISTING_CASE])
async def test_a_front_door_closure_after_other_or_an_existing_case_closes_the_journey(h, reason) -> None:
    journey_id, child_id = await h.journey()
    await h.close(journey_id, child_id, reason=reason)
    assert await h.sync() == 1
    assert (await journeys(h))[journey_id]["is_open"] is False
    metrics = (await h.client.get("/metrics")).text
    assert 'consumer_events_skipped_total{feed="referrals",type="JourneyClosed"}' not in metrics


async def rewrite_closure(h, **fields: object) -> None:
    """Change fields of the referrals log's JourneyClosed payload in place, as a newer or broken
    producer would have written it."""
    await rewrite_latest(h, "JourneyClosed", **fields)


async def rewrite_latest(h, event_type: str, **fields: object) -> None:
    """Change fields of the latest payload of this type in the referrals log, in place."""
    svc = h.referrals.app.state.service
    t = svc.event_log.table
    async with svc.db.unit_of_work() as session:
        row = (
            await session.execute(
                select(t.c.position, t.c.payload)
                .where(t.c.type == event_type)
                .order_by(t.c.position.desc())
                .limit(1)
            )
        ).one()
        await session.execute(
            update(t).where(t.c.position == row.position).values(payload={**row.payload, **fields})
        )


async def test_payload_fields_supervision_does_not_know_are_ignored(h) -> None:
    journey_id, child_id = await h.open()
    # Simulate a newer referrals version adding a field to JourneyClosed.
    await h.close(journey_id, child_id)
    await rewrite_closure(h, new_field="x")
    await h.sync()
    assert (await journeys(h))[journey_id]["is_open"] is False


async def test_rebuild_gives_identical_projection(h) -> None:
    a, ca = await h.journey()
    b, cb = await h.journey(team="AS-EAST", service_type=ServiceType.assessment, worker="w9")
    await h.transfer(a, ca, to_team="AS-EAST", to_worker="w2")
    await h.close(b, cb)
    await h.sync()
    before = await journeys(h)
    assert len(before) == 2
    recorded = await h.record(a, h.manager("AS-EAST"), actions=[])
    assert recorded.status_code == 201
    await h.consumer.rebuild()
    assert await journeys(h) == before
    # The service's own records survive a rebuild of what it derived from the feed.
    assert await h.count("supervisions") == 1


async def test_an_unreadable_payload_is_skipped_not_fatal(h) -> None:
    journey_id, child_id = await h.open()
    await h.close(journey_id, child_id)
    svc = h.referrals.app.state.service
    t = svc.event_log.table
    async with svc.db.unit_of_work() as session:
        await session.execute(
            update(t).where(t.c.type == "JourneyClosed").values(payload={"child_id": "nope"})
        )
    assert await h.sync() == 1  # the contact; the broken closure is skipped
    assert (await journeys(h))[journey_id]["is_open"] is True
    assert await h.consumer.position() == 2
    metrics = (await h.client.get("/metrics")).text
    assert 'consumer_events_skipped_total{feed="referrals",type="JourneyClosed"} 1.0' in metrics


async def test_a_time_without_a_zone_is_skipped_not_fatal(h) -> None:
    """As reporting does: a zone-less time cannot be compared with or stored as the UTC times kept,
    and failing the batch on it would stop the feed for good."""
    journey_id, child_id = await h.open()
    await h.close(journey_id, child_id)
    later = await h.open()  # a contact after the broken closure is still applied
    await rewrite_closure(h, closed_at="2026-05-01T12:00:00")
    assert await h.sync() == 2  # the two contacts; the closure is skipped
    assert (await journeys(h))[journey_id]["is_open"] is True
    assert later[0] in await journeys(h)
    metrics = (await h.client.get("/metrics")).text
    assert 'consumer_events_skipped_total{feed="referrals",type="JourneyClosed"} 1.0' in metrics


async def test_a_value_too_long_or_a_time_out_of_range_is_skipped_not_fatal(h) -> None:
    """The journey table holds team and area ids of 80 characters, worker ids of 120 and UTC times:
    a payload beyond them failed its batch on PostgreSQL (value too long) on every retry, stopping
    the feed for good, and was stored whole on SQLite; so did a NUL, and a time before year 1 in UTC on
    both. Now each is skipped and counted."""
    journey_id, child_id = await h.journey()
    for team, area, worker in (
        ("T" * 81, "EAST", "w2"),
        ("AS-EAST", "A" * 81, "w2"),
        ("AS-EAST", "EAST", "w" * 121),
        ("AS-EAST", "EA\x00ST", "w2"),  # PostgreSQL text cannot hold NUL
    ):
        await h.emit(
            journey_id,
            ref.JourneyTransferred(
                allocation_id=uuid.uuid4(),
                child_id=child_id,
                from_team_id="FD-WEST",
                to_team_id=team,
                from_area="WEST",
                to_area=area,
                to_service_type=ServiceType.assessment,
                from_worker_id="w1",
                to_worker_id=worker,
                team_changed=True,
                worker_changed=True,
                reason=ref.WorkerChangeReason.MANAGE,
                effective_at=START,
            ),
            START,
        )
    await h.close(journey_id, child_id)
    await rewrite_closure(h, closed_at="0001-01-01T00:00:00+01:00")  # before year 1 in UTC
    later, _ = await h.open()  # an event after the broken ones is still applied
    assert await h.sync() == 1
    j = (await journeys(h))[journey_id]
    assert (j["team_id"], j["area"], j["worker_id"], j["is_open"]) == ("FD-WEST", "WEST", "w1", True)
    assert later in await journeys(h)
    metrics = (await h.client.get("/metrics")).text
    assert 'consumer_events_skipped_total{feed="referrals",type="JourneyTransferred"} 4.0' in metrics
    assert 'consumer_events_skipped_total{feed="referrals",type="JourneyClosed"} 1.0' in metrics


async def test_a_time_the_london_calendar_cannot_count_from_is_skipped_not_fatal(h) -> None:
    """A time in the first 75 seconds of year 1 is one in UTC but not in London (which kept its local
    mean time, 1 minute 15 seconds behind, before 1847), and the calendar cannot count a due date on
    from a time in year 9999. Either, as a journey's start, made its team's due list a 500 for as
    long as the journey was open. Now an event with such a time is skipped and counted, as reporting
    skips it; the journey's other events are applied."""
    kept, kept_child = await h.journey()
    for bad in ("0001-01-01T00:01:00Z", "9999-12-31T10:00:00Z"):
        await h.open()
        await rewrite_latest(h, "ContactReceived", received_at=bad)
        await h.allocate(uuid.uuid4(), uuid.uuid4())  # a feed starting mid-journey: the allocation opens it
        await rewrite_latest(h, "JourneyAllocated", effective_at=bad)
        await h.transfer(kept, kept_child)
        await rewrite_latest(h, "JourneyTransferred", effective_at=bad)
        await h.close(kept, kept_child)
        await rewrite_latest(h, "JourneyClosed", closed_at=bad)
    later, _ = await h.open()  # an event after the broken ones is still applied
    assert await h.sync() == 1
    assert set(await journeys(h)) == {kept, later}
    j = (await journeys(h))[kept]
    assert (j["team_id"], j["worker_id"], j["is_open"]) == ("FD-WEST", "w1", True)
    due = await h.client.get("/supervisions/due", headers=h.manager())
    assert due.status_code == 200, due.text
    assert {i["journey_id"] for i in due.json()["items"]} == {str(kept), str(later)}
    metrics = (await h.client.get("/metrics")).text
    for event_type in ("ContactReceived", "JourneyAllocated", "JourneyTransferred", "JourneyClosed"):
        assert f'consumer_events_skipped_total{{feed="referrals",type="{event_type}"}} 2.0' in metrics
