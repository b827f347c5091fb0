"""Issue 3: optimistic concurrency per journey, the payload contract, the catalogue and the long poll."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from platform_kit import (
    PRODUCER,
    Producer,
    ThingArchived,
    ThingCreated,
    ThingRenamed,
    eventually,
    things,
)
from pydantic import ValidationError
from sqlalchemy import select

from shared.errors import PROBLEM_JSON, Conflict, Unprocessable
from shared.events.contract import Catalogue, EventPayload
from shared.events.feed import FeedPage
from shared.events.log import NewEvent
from shared.types import utcnow


async def create_thing(p: Producer, label: str = "a") -> str:
    r = await p.client.post("/things", json={"label": label, "size": 1}, headers=p.auth("practitioner"))
    assert r.status_code == 201, r.text
    thing_id: str = r.json()["id"]
    return thing_id


async def journey_state(p: Producer, thing_id: str) -> dict:
    tables = p.service.tables
    assert tables.events is not None
    async with p.service.db.read_session() as session:
        versions = (
            await session.execute(
                select(tables.events.c.stream_version, tables.events.c.payload)
                .where(tables.events.c.journey_id == uuid.UUID(thing_id))
                .order_by(tables.events.c.stream_version)
            )
        ).all()
        audits = (
            await session.execute(
                select(tables.audit.c.action)
                .where(tables.audit.c.resource_id == thing_id)
                .order_by(tables.audit.c.id)
            )
        ).all()
        row = (await session.execute(select(things).where(things.c.id == uuid.UUID(thing_id)))).one()
    return {
        "events": [(v, payload.get("label")) for v, payload in versions],
        "audit": [a for (a,) in audits],
        "row": (row.label, row.version),
    }


# -- one winner per expected version ----------------------------------------------------------------
async def test_two_writers_at_the_same_expected_version_one_wins_one_409(producer) -> None:
    p = await producer()
    thing = await create_thing(p)
    p.hooks.barrier = asyncio.Barrier(2)  # both requests are in the route before either writes
    auth = p.auth("manager")
    first, second = await asyncio.wait_for(
        asyncio.gather(
            p.client.post(
                f"/things/{thing}/renames", json={"label": "left", "expected_version": 1}, headers=auth
            ),
            p.client.post(
                f"/things/{thing}/renames", json={"label": "right", "expected_version": 1}, headers=auth
            ),
        ),
        30,
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert loser.headers["content-type"] == PROBLEM_JSON
    problem = loser.json()
    assert problem["status"] == 409 and problem["code"] == "stale_journey_version"
    assert problem["instance"] == f"/things/{thing}/renames"
    won = winner.json()["label"]
    # Nothing of the loser is left: no event, no audit row, and the state row is the winner's.
    assert await journey_state(p, thing) == {
        "events": [(1, "a"), (2, won)],
        "audit": ["create", "rename"],
        "row": (won, 2),
    }


async def test_stale_and_future_expected_versions_are_refused(producer) -> None:
    p = await producer()
    thing = await create_thing(p)
    auth = p.auth("manager")
    ok = await p.client.post(
        f"/things/{thing}/renames", json={"label": "b", "expected_version": 1}, headers=auth
    )
    assert ok.status_code == 200
    for expected in (1, 5):  # behind, and ahead of, the journey's version 2
        r = await p.client.post(
            f"/things/{thing}/renames", json={"label": "x", "expected_version": expected}, headers=auth
        )
        assert r.status_code == 409 and r.json()["code"] == "stale_journey_version"
    assert (await journey_state(p, thing))["events"] == [(1, "a"), (2, "b")]


async def test_a_new_journey_cannot_be_started_twice(producer) -> None:
    p = await producer()
    log = p.service.event_log
    assert log is not None
    journey = uuid.uuid4()
    async with p.service.db.unit_of_work() as session:
        await log.append(
            session,
            journey,
            [NewEvent(ThingCreated(label="a", size=1), utcnow())],
            expected_version=0,
            actor="x",
        )
    with pytest.raises(Conflict):
        async with p.service.db.unit_of_work() as session:
            await log.append(
                session,
                journey,
                [NewEvent(ThingCreated(label="b", size=1), utcnow())],
                expected_version=0,
                actor="x",
            )
    async with p.service.db.read_session() as session:
        assert [e.payload["label"] for e in await log.read_stream(session, journey)] == ["a"]


async def test_a_correlation_id_that_is_not_an_id_shaped_token_is_not_stored(producer) -> None:
    # A second guard behind the request middleware: the envelope goes to reporting, so free text
    # passed as a correlation id by any caller is dropped at append; an id-shaped one is kept.
    p = await producer()
    log = p.service.event_log
    assert log is not None
    journey = uuid.uuid4()
    async with p.service.db.unit_of_work() as session:
        await log.append(
            session,
            journey,
            [NewEvent(ThingCreated(label="a", size=1), utcnow())],
            expected_version=0,
            actor="x",
            correlation_id="Jane Smith 12 Acacia Ave",
        )
        await log.append(
            session,
            journey,
            [NewEvent(ThingRenamed(label="b"), utcnow())],
            expected_version=1,
            actor="x",
            correlation_id="req-1",
        )
    async with p.service.db.read_session() as session:
        stored = await log.read_stream(session, journey)
    assert [e.correlation_id for e in stored] == [None, "req-1"]


async def test_several_events_in_one_append_get_consecutive_versions(producer) -> None:
    p = await producer()
    log = p.service.event_log
    assert log is not None
    journey = uuid.uuid4()
    async with p.service.db.unit_of_work() as session:
        envelopes = await log.append(
            session,
            journey,
            [
                NewEvent(ThingCreated(label="a", size=1), utcnow()),
                *[NewEvent(ThingRenamed(label=f"b{i}"), utcnow()) for i in range(11)],
            ],
            expected_version=0,
            actor="x",
            correlation_id="corr-1",
        )
    assert [e.stream_version for e in envelopes] == list(range(1, 13))
    # Positions follow the order the events were given (on PostgreSQL, the ORDER BY of the append).
    positions = [e.position for e in envelopes]
    assert positions == sorted(positions) and len(set(positions)) == 12
    assert envelopes[1].prev_hash == envelopes[0].hash and envelopes[0].prev_hash is None
    async with p.service.db.read_session() as session:
        assert await log.current_version(session, journey) == 12
        stored = await log.read_stream(session, journey)
    assert [e.model_dump() for e in stored] == [e.model_dump() for e in envelopes]


# -- the payload contract -------------------------------------------------------------------------
async def test_unknown_payload_fields_are_refused_on_write(producer) -> None:
    p = await producer()
    thing = await create_thing(p)
    r = await p.client.post(
        f"/things/{thing}/events",
        json={
            "type": ThingRenamed.event_type,
            "payload": {"label": "b", "colour": "red"},
            "expected_version": 1,
        },
        headers=p.auth("manager"),
    )
    assert r.status_code == 422
    assert [(e["name"], e["location"]) for e in r.json()["invalid-params"]] == [("payload.colour", "body")]
    with pytest.raises(ValidationError):
        ThingRenamed(label="b", colour="red")  # type: ignore[call-arg]
    assert (await journey_state(p, thing))["events"] == [(1, "a")]


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the point of the unvalidated payload
async def test_the_log_refuses_payloads_outside_its_catalogue(producer) -> None:
    p = await producer()
    log = p.service.event_log
    assert log is not None

    class Unregistered(EventPayload):
        event_type = "test.unregistered"
        label: str

    class Impostor(EventPayload):  # same type and version as a registered model, another class
        event_type = ThingRenamed.event_type
        label: str
        extra: int = 0

    for payload in (Unregistered(label="x"), Impostor(label="x")):
        with pytest.raises(Unprocessable):
            async with p.service.db.unit_of_work() as session:
                await log.append(
                    session, uuid.uuid4(), [NewEvent(payload, utcnow())], expected_version=0, actor="x"
                )
    # Built without validation: what would be stored does not match the model.
    unvalidated = ThingCreated.model_construct(label=None, size="many")
    with pytest.raises(ValidationError):
        async with p.service.db.unit_of_work() as session:
            await log.append(
                session, uuid.uuid4(), [NewEvent(unvalidated, utcnow())], expected_version=0, actor="x"
            )
    async with p.service.db.read_session() as session:
        assert await log.head(session) == 0


def test_catalogue_rejects_duplicate_registrations() -> None:
    catalogue = Catalogue("x")
    catalogue.register(ThingCreated)
    with pytest.raises(ValueError):
        catalogue.register(ThingCreated)
    assert ThingCreated in catalogue and ThingRenamed not in catalogue


# -- the catalogue endpoint -----------------------------------------------------------------------
async def test_events_schema_publishes_the_catalogue(producer) -> None:
    p = await producer()
    assert (await p.client.get("/events/schema")).status_code == 401
    r = await p.client.get("/events/schema", headers=p.auth("analyst"))
    assert r.status_code == 200
    body = r.json()
    assert body["producer"] == PRODUCER
    types = {(t["type"], t["schema_version"]): t["payload_schema"] for t in body["event_types"]}
    assert set(types) == {
        (ThingCreated.event_type, 1),
        (ThingRenamed.event_type, 1),
        (ThingArchived.event_type, 1),
    }
    created = types[(ThingCreated.event_type, 1)]
    assert created["additionalProperties"] is False  # unknown fields are refused
    assert set(created["required"]) == {"label", "size"}
    assert created["properties"]["size"]["type"] == "integer"


# -- reading the feed -----------------------------------------------------------------------------
async def test_a_page_has_the_next_cursor_and_the_head(producer) -> None:
    p = await producer()
    for label in "abcde":
        await create_thing(p, label)
    service = p.auth("service")
    page = (await p.client.get("/events", params={"after": 0, "limit": 2}, headers=service)).json()
    positions = [e["position"] for e in page["events"]]
    assert len(positions) == 2
    assert page["next_after"] == positions[-1]
    assert page["head"] == 5
    rest = (await p.client.get("/events", params={"after": page["next_after"]}, headers=service)).json()
    assert [e["payload"]["label"] for e in rest["events"]] == ["c", "d", "e"]
    assert rest["next_after"] == rest["head"] == 5
    empty = (await p.client.get("/events", params={"after": 5}, headers=service)).json()
    assert empty == {"events": [], "next_after": 5, "head": 5, "after_hash": rest["events"][-1]["hash"]}
    # Each page names the hash of the event at its `after`, so a reader can tell it is the one it applied.
    assert page["after_hash"] is None and rest["after_hash"] == page["events"][-1]["hash"]
    first = page["events"][0]
    assert first["producer"] == PRODUCER and first["type"] == ThingCreated.event_type
    assert first["stream_version"] == 1 and first["actor"] == "staff-1" and first["hash"]


async def test_a_cursor_past_the_head_is_answered_with_the_true_head(producer) -> None:
    """A reader whose position is beyond the producer's log (restored from a backup, or reset) must be
    able to tell: the head is the highest position committed, not the reader's own cursor."""
    p = await producer()
    for label in "ab":
        await create_thing(p, label)
    page = (await p.client.get("/events", params={"after": 7}, headers=p.auth("service"))).json()
    assert page == {"events": [], "next_after": 7, "head": 2, "after_hash": None}


async def test_a_page_is_what_the_feed_page_model_publishes(producer) -> None:
    """On PostgreSQL the database builds the page's JSON: it must carry the very values (and the very
    strings for times) that serialising the stored envelopes as `FeedPage` gives."""
    p = await producer()
    log = p.service.event_log
    assert log is not None
    times = [
        datetime(2025, 3, 30, 0, 59, 59, tzinfo=UTC),  # no microseconds: pydantic writes none
        datetime(2025, 10, 26, 1, 0, 0, 120000, tzinfo=UTC),  # trailing zeros are kept
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        utcnow(),
    ]
    labels = ['quote " and \\ back', "line\nbreak\ttab", "é ü 名前 😀", ""]
    for n, (at, label) in enumerate(zip(times, labels, strict=True)):
        async with p.service.db.unit_of_work() as session:
            await log.append(
                session,
                uuid.uuid4(),
                [NewEvent(ThingCreated(label=label, size=n - 1), at), NewEvent(ThingRenamed(label="b"), at)],
                expected_version=0,
                actor="staff-ü",
                correlation_id=None if n % 2 else f"corr-{n}",
            )
    service = p.auth("service")
    for after, limit in ((0, 500), (2, 3), (8, 5)):
        response = await p.client.get("/events", params={"after": after, "limit": limit}, headers=service)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        async with p.service.db.read_session() as session:
            events = await log.read(session, after=after, limit=limit)
            after_hash = await log.hash_at(session, after)
        next_after = events[-1].position if events else after
        assert (after_hash is None) == (after == 0)
        expected = FeedPage(events=events, next_after=next_after, head=8, after_hash=after_hash)
        assert json.loads(response.content) == json.loads(expected.model_dump_json())
        assert FeedPage.model_validate_json(response.content) == expected


async def test_long_poll_returns_as_soon_as_an_event_is_committed(producer) -> None:
    p = await producer()
    await create_thing(p, "before")
    service = p.auth("service")
    waiting = asyncio.create_task(p.client.get("/events", params={"after": 1, "wait": 30}, headers=service))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # nothing new: it waits
    await create_thing(p, "after")
    # Far sooner than the 30 s it would otherwise wait.
    r = await asyncio.wait_for(waiting, 10)
    assert r.status_code == 200
    body = r.json()
    assert [e["payload"]["label"] for e in body["events"]] == ["after"]
    assert body["next_after"] == body["head"] == 2


async def test_long_poll_times_out_empty(producer) -> None:
    p = await producer()
    r = await p.client.get("/events", params={"after": 0, "wait": 0.2}, headers=p.auth("service"))
    assert r.json() == {"events": [], "next_after": 0, "head": 0, "after_hash": None}
    assert (await p.client.get("/events", params={"wait": 31}, headers=p.auth("service"))).status_code == 422


async def test_long_poll_stops_reading_when_the_client_has_gone(producer, monkeypatch) -> None:
    """A long poll went on reading the database every 50 ms until its deadline after its client had
    disconnected (a client that gave up after 2 s left it polling for the 20 s it asked for). It
    stops at the disconnect now. Driven through ASGI directly: the test client never disconnects."""
    p = await producer()
    db = p.service.db
    polls = 0
    real = db.read_session

    def counted():  # the context manager read_session returns, counted
        nonlocal polls
        polls += 1
        return real()

    monkeypatch.setattr(db, "read_session", counted)
    token = p.auth("service")["Authorization"].encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/events",
        "raw_path": b"/events",
        "root_path": "",
        "query_string": b"after=0&wait=30",
        "headers": [(b"host", b"producer.test"), (b"authorization", token)],
        "client": ("127.0.0.1", 1234),
        "server": ("producer.test", 80),
    }
    gone = asyncio.Event()
    asked = False
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    waiting = asyncio.create_task(p.app(scope, receive, send))
    try:
        await eventually(lambda: polls >= 3)  # it is polling an empty log
        assert not waiting.done()
        gone.set()
        at_disconnect = polls
        await waiting  # without the fix: the whole 30 s, polling all the while
    finally:
        waiting.cancel()
    # At most the poll under way when the client left, and the one that saw it gone.
    assert polls - at_disconnect <= 2, polls - at_disconnect
