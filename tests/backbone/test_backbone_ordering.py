"""Issue 3: a feed reader sees every committed event exactly once, in position order, while writers
append concurrently, including when a transaction holding an earlier position is still open.

These tests commit for real (no per-test rollback): `producer` empties the databases around each one.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from platform_kit import BACKEND, Producer, ThingCreated, eventually, postgres_only
from sqlalchemy import select, text

from shared.events.log import APPEND_LOCK_KEY, NewEvent
from shared.types import utcnow

WRITERS = 24
RENAMES = 2


async def read_page(p: Producer, after: int, limit: int, wait: float = 0) -> dict:
    r = await p.client.get(
        "/events", params={"after": after, "limit": limit, "wait": wait}, headers=p.auth("service", sub="svc")
    )
    assert r.status_code == 200, r.text
    return r.json()


async def committed(p: Producer) -> list[tuple[int, str]]:
    events = p.service.tables.events
    assert events is not None
    async with p.service.db.read_session() as session:
        rows = await session.execute(select(events.c.position, events.c.event_id).order_by(events.c.position))
        return [(position, str(event_id)) for position, event_id in rows]


async def test_concurrent_writers_and_a_paging_reader(producer) -> None:
    p = await producer(db_pool_size=WRITERS + 4, db_max_overflow=8)
    auth = p.auth("practitioner")
    writers_done = asyncio.Event()

    async def writer(n: int) -> None:
        created = await p.client.post("/things", json={"label": f"t{n}", "size": n}, headers=auth)
        assert created.status_code == 201, created.text
        thing, etag = created.json()["id"], created.headers["etag"]
        for i in range(RENAMES):
            r = await p.client.patch(
                f"/things/{thing}", json={"label": f"t{n}-{i}"}, headers={**auth, "If-Match": etag}
            )
            assert r.status_code == 200, r.text
            etag = r.headers["etag"]

    seen: list[dict] = []
    pages = 0

    async def reader() -> None:
        nonlocal pages
        cursor = 0
        while True:
            done = writers_done.is_set()  # read before paging: a page after this sees every commit
            page = await read_page(p, cursor, limit=7)
            pages += 1
            positions = [e["position"] for e in page["events"]]
            assert positions == sorted(positions) and all(pos > cursor for pos in positions)
            assert page["next_after"] == (positions[-1] if positions else cursor)
            assert page["head"] >= page["next_after"]
            seen.extend(page["events"])
            cursor = page["next_after"]
            if done and not positions:
                return
            await asyncio.sleep(0 if positions else 0.005)

    async def write_all() -> None:
        try:
            await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        finally:
            writers_done.set()

    await asyncio.wait_for(asyncio.gather(write_all(), reader()), 120)

    truth = await committed(p)
    assert len(truth) == WRITERS * (1 + RENAMES)
    assert [(e["position"], e["event_id"]) for e in seen] == truth  # every event, once, in order
    assert pages > 2  # the reader really paged while writing
    by_journey: dict[str, list[int]] = {}
    for e in seen:
        by_journey.setdefault(e["journey_id"], []).append(e["stream_version"])
    assert all(v == list(range(1, RENAMES + 2)) for v in by_journey.values())


async def _advisory_waiters(p: Producer) -> int:
    async with p.service.db.read_session() as session:
        query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return int((await session.execute(query)).scalar_one())


async def test_an_open_earlier_append_holds_back_later_ones(producer) -> None:
    """A holds an appended event uncommitted; B's append must wait (on PostgreSQL for the append lock,
    on SQLite for the writer lock) so that no reader can see B's event, and move past it, before A's."""
    p = await producer()
    log, db = p.service.event_log, p.service.db
    assert log is not None
    journey_a, journey_b = uuid.uuid4(), uuid.uuid4()

    def event(label: str) -> list[NewEvent]:
        return [NewEvent(ThingCreated(label=label, size=1), utcnow())]

    session_a = db.sessionmaker()
    transaction_a = await session_a.begin()
    [a] = await log.append(session_a, journey_a, event("a"), expected_version=0, actor="writer-a")

    b_appended = asyncio.Event()
    b_may_commit = asyncio.Event()
    b_position: list[int] = []

    async def writer_b() -> None:
        async with db.sessionmaker() as session_b, session_b.begin():
            [b] = await log.append(session_b, journey_b, event("b"), expected_version=0, actor="writer-b")
            b_position.append(b.position)
            b_appended.set()
            await b_may_commit.wait()

    task_b = asyncio.create_task(writer_b())
    try:
        if BACKEND == "postgres":
            await eventually(lambda: _advisory_waiters(p), within=10)  # B is queued on the append lock
        else:
            await asyncio.sleep(0.3)
        assert not b_appended.is_set(), "B drew a position while A's append was still open"

        first = await read_page(p, 0, 100)
        assert first["events"] == [] and first["next_after"] == 0  # nothing is committed yet

        await transaction_a.commit()
        await asyncio.wait_for(b_appended.wait(), 10)
        assert b_position[0] > a.position

        second = await read_page(p, 0, 100)
        assert [e["position"] for e in second["events"]] == [a.position]  # A, and not B (uncommitted)

        b_may_commit.set()
        await asyncio.wait_for(task_b, 10)
        third = await read_page(p, second["next_after"], 100)
        assert [e["position"] for e in third["events"]] == [b_position[0]]
        seen = second["events"] + third["events"]
        assert [e["journey_id"] for e in seen] == [str(journey_a), str(journey_b)]
    finally:
        b_may_commit.set()
        if not task_b.done():
            task_b.cancel()
        await asyncio.gather(task_b, return_exceptions=True)
        await session_a.close()


async def _positions_drawn(p: Producer) -> tuple[int, bool]:
    """The position sequence's state: it moves on every nextval, committed or not, in any session."""
    async with p.service.db.read_session() as session:
        name = (
            await session.execute(text("SELECT pg_get_serial_sequence('journey_events', 'position')"))
        ).scalar_one()
        row = (await session.execute(text(f"SELECT last_value, is_called FROM {name}"))).one()
        return int(row[0]), bool(row[1])


@pytest.mark.postgres
@postgres_only("the append lock and the position sequence are PostgreSQL's")
async def test_an_append_draws_no_position_until_it_holds_the_append_lock(producer) -> None:
    """The lock is taken inside the INSERT: while another transaction holds it, the waiting append must
    not have drawn a position yet (else a later appender could commit a higher one first, and a reader
    move past the waiting one's)."""
    p = await producer()
    log, db = p.service.event_log, p.service.db
    assert log is not None
    appended: list[int] = []

    async def append() -> None:
        async with db.sessionmaker() as session, session.begin():
            [e] = await log.append(
                session,
                uuid.uuid4(),
                [NewEvent(ThingCreated(label="w", size=1), utcnow())],
                expected_version=0,
                actor="writer",
            )
            appended.append(e.position)

    await append()  # a first event, so the sequence has a value to compare with
    async with db.sessionmaker() as holder, holder.begin():
        await holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
        drawn = await _positions_drawn(p)
        waiting = asyncio.create_task(append())
        try:
            await eventually(lambda: _advisory_waiters(p), within=10)
            await asyncio.sleep(0.2)
            assert await _positions_drawn(p) == drawn, "a position was drawn before the lock was held"
            assert len(appended) == 1
        finally:
            await holder.commit()
            await asyncio.wait_for(waiting, 10)
    assert appended[1] > appended[0] and await _positions_drawn(p) != drawn
