"""Verify finds a journey whose last supervision events were deleted (a completed action taken out of
the log): what is left still links up, so the hash chain alone passed it."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select

from services.supervision.db import platform
from services.supervision.events import register_stream
from services.supervision.main import stream_heads


async def changed(h, sup: dict, etag: str, action: int, verb: str) -> str:
    path = f"/supervisions/{sup['id']}/actions/{sup['actions'][action]['id']}/{verb}"
    body = {"reason": "No longer needed."} if verb == "cancel" else {}
    r = await h.client.post(path, json=body, headers={**h.manager(), "If-Match": etag})
    assert r.status_code == 200, r.text
    return str(r.headers["ETag"])


async def logged_heads(h) -> dict[uuid.UUID, int]:
    events = platform.events
    assert events is not None
    async with h.service.db.read_session() as session:
        query = select(events.c.journey_id, func.max(events.c.stream_version)).group_by(events.c.journey_id)
        return dict((await session.execute(query)).all())


async def test_the_heads_are_the_logs_last_versions(h) -> None:
    """Two supervisions of one journey (one action completed, one cancelled, one left open), one of
    another with no actions, and a register entry changed once: the records give each stream's
    version exactly."""
    journey, _ = await h.journey()
    other, _ = await h.journey()
    first = await h.record(journey)
    one_action = [{"description": "Visit the child at home.", "owner_id": "w1", "due_on": "2026-03-20"}]
    second = await h.record(journey, held_at="2026-03-17T10:00:00Z", actions=one_action)
    assert (first.status_code, second.status_code) == (201, 201)
    etag = await changed(h, first.json(), first.headers["ETag"], 0, "complete")
    await changed(h, first.json(), etag, 1, "cancel")
    assert (await h.record(other, actions=[])).status_code == 201
    for until in ("2027-03-31", "2027-06-30"):
        entry = await h.client.put("/workers/w1", json={"newly_qualified_until": until}, headers=h.manager())
        assert entry.status_code in (200, 201), entry.text

    logged = await logged_heads(h)
    async with h.service.db.read_session() as session:
        heads = dict([head async for batch in stream_heads(session, None) for head in batch])
        one = [head async for batch in stream_heads(session, journey) for head in batch]
    assert logged[journey] == 3 + 2 + 2 and logged[other] == 1
    assert heads == {journey: logged[journey], other: 1, register_stream("w1"): 2} == logged
    assert one == [(journey, 7)]
    verified = await h.client.get("/admin/verify", headers=h.token("admin", sub="a1"))
    assert verified.json()["ok"] is True and verified.json()["heads_checked"] == 3, verified.json()


async def test_a_completed_action_deleted_from_the_log_is_found(h) -> None:
    journey, _ = await h.journey()
    recorded = await h.record(journey)
    await changed(h, recorded.json(), recorded.headers["ETag"], 0, "complete")
    admin = h.token("admin", sub="a1")
    assert (await h.client.get("/admin/verify", headers=admin)).json()["ok"] is True

    events = platform.events
    assert events is not None
    async with h.service.db.unit_of_work() as session:
        await session.execute(
            delete(events).where(events.c.journey_id == journey, events.c.stream_version == 4)
        )
    r = await h.client.get("/admin/verify", params={"journey_id": str(journey)}, headers=admin)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["ok"] is False and report["events_checked"] == 3, report
    assert (report["first_broken"]["stream_version"], report["first_broken"]["position"]) == (4, None)


async def test_a_register_change_deleted_from_the_log_is_found(h) -> None:
    """A worker's entry changed twice, its last event deleted: the entry's stream ends at the first
    change, and its row's time is no event's."""
    manager = h.manager()
    for until in ("2027-03-31", "2027-06-30", None):
        entry = await h.client.put("/workers/w7", json={"newly_qualified_until": until}, headers=manager)
        assert entry.is_success, entry.text
    stream = register_stream("w7")
    admin = h.token("admin", sub="a1")
    assert (await h.client.get("/admin/verify", headers=admin)).json()["ok"] is True
    events = platform.events
    assert events is not None
    async with h.service.db.unit_of_work() as session:
        third = (events.c.journey_id == stream) & (events.c.stream_version == 3)
        await session.execute(delete(events).where(third))
    for params in ({}, {"journey_id": str(stream)}):
        report = (await h.client.get("/admin/verify", params=params, headers=admin)).json()
        assert report["ok"] is False, report
        broken = report["first_broken"]
        assert (broken["journey_id"], broken["stream_version"], broken["position"]) == (str(stream), 3, None)
