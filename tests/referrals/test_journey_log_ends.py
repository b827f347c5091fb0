"""Verify finds a journey whose last events were deleted. What is left of its log still links up, so
the hash chain alone passed it as intact: a late decision or transfer could be taken out unseen."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from fdhelpers import FrontDoor, ago
from sqlalchemy import delete, func, select
from sqlmodel import col
from typer.testing import CliRunner

from frontdoor import cli
from frontdoor.registry import SERVICES
from services.referrals.db import platform
from services.referrals.journeys.models import Journey
from services.referrals.journeys.service import stream_heads
from shared.events.verify import heads_in_batches


async def full_journey(fd: FrontDoor) -> str:
    """Contact, referral, allocation, transfer and closure: one journey of several events."""
    await fd.team("FD-WEST")
    await fd.team("AS-EAST", area="East", service_type="assessment")
    c = await fd.contact((await fd.child())["id"], received_at=ago(minutes=50))
    await fd.refer(c["id"], decided_at=ago(minutes=40))
    journey = c["journey_id"]
    r = await fd.client.post(f"/journeys/{journey}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    assert r.status_code == 201, r.text
    moved = {"team_id": "AS-EAST", "reason": "TSPROC"}
    r = await fd.client.post(f"/journeys/{journey}/transfers", json=moved, headers=fd.mgr)
    assert r.status_code == 201, r.text
    closure = {"reason": "RC8"}
    r = await fd.client.post(f"/journeys/{journey}/closure", json=closure, headers=fd.manager_of("AS-EAST"))
    assert r.status_code == 200, r.text
    return str(journey)


def db_of(fd: FrontDoor) -> Any:
    return fd.client.app.state.db  # type: ignore[attr-defined]


async def delete_from(fd: FrontDoor, journey: str, version: int) -> None:
    """Delete the journey's events from `version` on, around the service (as someone with the
    database could)."""
    events = platform.events
    assert events is not None
    async with db_of(fd).unit_of_work() as session:
        await session.execute(
            delete(events).where(
                events.c.journey_id == uuid.UUID(journey), events.c.stream_version >= version
            )
        )


async def test_the_heads_are_the_logs_last_versions(fd: FrontDoor) -> None:
    """The journeys' rows give each journey's last version exactly: a head that fell short of the log
    would let a deleted tail pass unseen."""
    journeys = [await full_journey(fd)]
    journeys.append((await fd.contact((await fd.child())["id"]))["journey_id"])
    events = platform.events
    assert events is not None
    async with db_of(fd).read_session() as session:
        heads = [head async for batch in stream_heads(session, None) for head in batch]
        last = select(events.c.journey_id, func.max(events.c.stream_version)).group_by(events.c.journey_id)
        logged = dict((await session.execute(last)).all())
        one = [head async for batch in stream_heads(session, uuid.UUID(journeys[0])) for head in batch]
        by_id = select(col(Journey.id), col(Journey.stream_version))
        singly = [batch async for batch in heads_in_batches(session, by_id, col(Journey.id), batch=1)]
    assert dict(heads) == logged and len(heads) == 2
    assert logged[uuid.UUID(journeys[0])] >= 5  # contact, decision and authorisation, moves, closure
    assert one == [(uuid.UUID(journeys[0]), logged[uuid.UUID(journeys[0])])]
    assert singly == [[head] for head in sorted(heads)]  # each batch read after the last


async def test_a_journeys_last_events_deleted_are_found(fd: FrontDoor) -> None:
    journey = await full_journey(fd)
    events = await fd.events(journey)
    last = max(e["stream_version"] for e in events)
    clean = await fd.client.get("/admin/verify", headers=fd.admin)
    assert clean.status_code == 200 and clean.json()["ok"] is True, clean.json()
    assert clean.json()["heads_checked"] == 1

    await delete_from(fd, journey, last - 1)  # the transfer and the closure
    for params in ({}, {"journey_id": journey}):
        r = await fd.client.get("/admin/verify", params=params, headers=fd.admin)
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["ok"] is False, report
        broken = report["first_broken"]
        assert (broken["journey_id"], broken["stream_version"], broken["position"]) == (
            journey,
            last - 1,
            None,
        )
        assert f"ends at version {last - 2}" in broken["reason"] and "missing" in broken["reason"]
        assert report["events_checked"] == last - 2  # what is left still links up


async def test_a_journey_with_every_event_deleted_is_broken_not_absent(fd: FrontDoor) -> None:
    """Asked about a journey the service holds but whose log is gone, verify said 404 (no log holds
    it), as for a mistyped id: it is there, and its log was emptied."""
    journey = await full_journey(fd)
    await delete_from(fd, journey, 1)
    r = await fd.client.get("/admin/verify", params={"journey_id": journey}, headers=fd.admin)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is False and r.json()["events_checked"] == 0
    assert r.json()["first_broken"]["stream_version"] == 1
    unknown = await fd.client.get("/admin/verify", params={"journey_id": str(uuid.uuid4())}, headers=fd.admin)
    assert unknown.status_code == 404


async def test_frontdoor_verify_finds_the_deleted_tail(
    fd: FrontDoor, monkeypatch: pytest.MonkeyPatch
) -> None:
    journey = await full_journey(fd)
    settings = fd.client.app.state.service.settings  # type: ignore[attr-defined]
    monkeypatch.setenv("REFERRALS_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("ENVIRONMENT", raising=False)

    async def run(*args: str) -> tuple[int, dict[str, Any]]:
        result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["verify", "-s", "referrals", *args])
        return result.exit_code, json.loads(result.output.splitlines()[0])

    code, report = await run()
    assert code == 0 and report["ok"] is True and report["heads_checked"] == 1, report
    last = max(e["stream_version"] for e in await fd.events(journey))
    await delete_from(fd, journey, last)
    for args in ((), ("--journey", journey)):
        code, report = await run(*args)
        assert code == 1 and report["ok"] is False, report
        assert report["first_broken"]["stream_version"] == last


def test_every_producer_hands_verify_its_records_of_each_stream() -> None:
    """The command and `GET /admin/verify` check against the same records, for each service that keeps
    a journey log: one left without would pass a log cut short."""
    for entry in SERVICES.values():
        if entry.produces_events:
            heads = entry.stream_heads()
            assert heads is not None, entry.name
            assert entry.main().build_service(entry.settings()).stream_heads is heads
