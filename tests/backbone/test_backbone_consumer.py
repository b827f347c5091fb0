"""Issue 3: the feed consumer applies every event exactly once, survives crashes and upstream outages,
and only one consumer per feed is active per database.

The consumer runs against the test producer in-process (httpx.ASGITransport); its projection is a test
table on the reporting database. These tests commit for real.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from dbutil import delete_all
from fastapi import FastAPI
from platform_kit import (
    PRODUCER,
    Producer,
    SwitchableTransport,
    TamperingTransport,
    ThingArchived,
    client_for,
    eventually,
    make_consumer,
    postgres_only,
    producer_metadata,
    thing_view,
    view_snapshot,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, update

from shared.app import Service, create_app
from shared.events.consumer import UpstreamError, collector_paused
from shared.types import utcnow


async def write_events(p: Producer, things: int = 3, renames: int = 2, archive: bool = True) -> int:
    """Creates `things` journeys with `renames` renames each (and an archive event, a type the
    consumer does not know, on the first); returns the producer's head position."""
    auth = p.auth("manager")
    first = None
    for n in range(things):
        created = await p.client.post("/things", json={"label": f"t{n}", "size": n}, headers=auth)
        assert created.status_code == 201, created.text
        thing = created.json()["id"]
        first = first or thing
        for i in range(renames):
            r = await p.client.post(
                f"/things/{thing}/renames",
                json={"label": f"t{n}.{i}", "expected_version": i + 1},
                headers=auth,
            )
            assert r.status_code == 200, r.text
    if archive and first:
        r = await p.client.post(
            f"/things/{first}/events",
            json={
                "type": ThingArchived.event_type,
                "payload": {"reason_code": "dup"},
                "expected_version": renames + 1,
            },
            headers=auth,
        )
        assert r.status_code == 201, r.text
    return await head(p)


async def head(p: Producer) -> int:
    log = p.service.event_log
    assert log is not None
    async with p.service.db.read_session() as session:
        return await log.head(session)


async def expected_view(p: Producer) -> dict[uuid.UUID, tuple[str, int]]:
    """What the view must hold, from the producer's log: last label and known events per journey."""
    log = p.service.event_log
    assert log is not None
    out: dict[uuid.UUID, tuple[str, int]] = {}
    async with p.service.db.read_session() as session:
        for e in await log.read(session, after=0, limit=10_000):
            if e.type == ThingArchived.event_type:
                continue
            _, applied = out.get(e.journey_id, ("", 0))
            out[e.journey_id] = (e.payload["label"], applied + 1)
    return out


def as_view(snapshot: list[tuple]) -> dict[uuid.UUID, tuple[str, int]]:
    return {journey: (label, applied) for journey, label, applied, _ in snapshot}


def metric(service: Service, name: str, **labels: str) -> float | None:
    from prometheus_client import generate_latest

    for family in text_string_to_metric_families(generate_latest(service.metrics.registry).decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def consumer_app(service: Service) -> FastAPI:
    return create_app(
        service,
        title="test consumer",
        description="A consumer of the test feed.",
        routers=[],
        run_consumers=False,
    )


class Killer:
    """A before_commit hook that crashes the consumer on one chosen batch."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.calls = 0

    async def __call__(self, events: list) -> None:
        self.calls += 1
        if self.calls == self.batch:
            raise RuntimeError("killed before commit")


async def test_a_crash_before_commit_then_restart_equals_a_rebuild(producer, consumer_side) -> None:
    p = await producer()
    top = await write_events(p)
    service = consumer_side()
    transport = httpx.ASGITransport(app=p.app)
    first = make_consumer(service, transport, batch_size=4, before_commit=Killer(batch=2))
    assert await first.poll_once() == 4
    position_after_first_batch = await first.position()
    assert position_after_first_batch == 4
    view_after_first_batch = await view_snapshot(service.db)
    assert sum(applied for _, _, applied, _ in view_after_first_batch) == 4

    with pytest.raises(RuntimeError, match="killed"):
        await first.poll_once()
    # Nothing of the killed batch: neither its effects nor its position.
    assert await first.position() == position_after_first_batch
    assert await view_snapshot(service.db) == view_after_first_batch
    await first.close()

    restarted = make_consumer(service, transport, batch_size=4)  # a new process, same database
    await restarted.catch_up()
    assert await restarted.position() == top
    caught_up = await view_snapshot(service.db)
    assert as_view(caught_up) == await expected_view(p)

    assert await restarted.rebuild() == sum(n for _, n in (await expected_view(p)).values())
    assert await view_snapshot(service.db) == caught_up
    await restarted.close()


async def test_repeated_events_and_batches_are_no_ops(producer, consumer_side) -> None:
    p = await producer()
    await write_events(p, archive=False)
    service = consumer_side()
    consumer = make_consumer(service, httpx.ASGITransport(app=p.app))
    events, _ = await consumer.fetch(0, 0)
    assert len(events) == 9

    assert await consumer.apply_batch([events[0], events[0], events[1]]) == 2  # a repeat inside a batch
    assert await consumer.apply_batch(events) == 7  # the first two again, then the rest
    done = await view_snapshot(service.db)
    assert as_view(done) == await expected_view(p)

    assert await consumer.apply_batch(events) == 0  # the whole batch again
    assert await consumer.apply_batch(events[3:5]) == 0  # an older slice
    assert await consumer.poll_once() == 0  # and the feed from the stored position
    assert await view_snapshot(service.db) == done
    assert await consumer.position() == events[-1].position
    await consumer.close()


async def test_unknown_types_are_skipped_counted_and_passed(producer, consumer_side) -> None:
    p = await producer()
    auth = p.auth("manager")
    thing = (await p.client.post("/things", json={"label": "a", "size": 1}, headers=auth)).json()["id"]
    r = await p.client.post(
        f"/things/{thing}/events",
        json={"type": ThingArchived.event_type, "payload": {"reason_code": "x"}, "expected_version": 1},
        headers=auth,
    )
    assert r.status_code == 201
    r = await p.client.post(
        f"/things/{thing}/renames", json={"label": "b", "expected_version": 2}, headers=auth
    )
    assert r.status_code == 200
    service = consumer_side()
    consumer = make_consumer(service, httpx.ASGITransport(app=p.app))
    assert await consumer.catch_up() == 2
    assert await consumer.position() == 3  # past the unknown event
    assert as_view(await view_snapshot(service.db)) == {uuid.UUID(thing): ("b", 2)}
    assert metric(service, "consumer_events_skipped_total", feed=PRODUCER, type=ThingArchived.event_type) == 1
    assert metric(service, "consumer_events_applied_total", feed=PRODUCER) == 2
    await consumer.close()


async def test_skipped_types_label_the_metric_within_a_bound(producer, consumer_side) -> None:
    """The skipped-events counter was labelled with each skipped event's type as the upstream sent
    it: a broken producer writing ever new (or huge, or odd) types made a label value of each, and
    the metrics without bound. Types past a fixed number, or not shaped as a type name, are counted
    as "other", the type itself only in a log line, cut short. Those lines come at the 1st, 2nd,
    4th, 8th... such event (one per event flooded the log while a broken producer was replayed)."""
    from shared.events.consumer import MAX_SKIPPED_TYPE_LABELS

    p = await producer()
    await write_events(p, things=1, renames=0, archive=True)
    service = consumer_side()
    consumer = make_consumer(service, httpx.ASGITransport(app=p.app))
    assert await consumer.catch_up() == 1  # a real unknown type is still counted by its name
    assert metric(service, "consumer_events_skipped_total", feed=PRODUCER, type=ThingArchived.event_type) == 1
    async with p.service.db.read_session() as session:
        assert p.service.event_log is not None
        model = (await p.service.event_log.read(session, after=0, limit=1))[0]
    made_up = [f"MadeUp{n}" for n in range(MAX_SKIPPED_TYPE_LABELS + 20)]
    odd = ["x" * 10_000, "Made Up\nforged=1", ""]
    start = await consumer.position()
    events = [
        model.model_copy(update={"type": t, "position": start + n, "event_id": uuid.uuid4()})
        for n, t in enumerate([*made_up, *odd], start=1)
    ]
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    consumer_log = logging.getLogger("frontdoor.consumer")
    consumer_log.addHandler(handler)
    try:
        assert await consumer.apply_batch(events) == 0
    finally:
        consumer_log.removeHandler(handler)
    from prometheus_client import generate_latest

    labels = [
        s.labels["type"]
        for family in text_string_to_metric_families(generate_latest(service.metrics.registry).decode())
        for s in family.samples
        if s.name == "consumer_events_skipped_total" and s.labels.get("feed") == PRODUCER
    ]
    assert len(labels) == MAX_SKIPPED_TYPE_LABELS, len(labels)  # "other" among them
    assert all(len(label) <= 64 for label in labels)
    assert "MadeUp0" in labels  # the first few keep their names
    others = metric(service, "consumer_events_skipped_total", feed=PRODUCER, type="other")
    # One label kept for "other", one taken by the real type above: the rest are for the first made up.
    assert others == len(events) - (MAX_SKIPPED_TYPE_LABELS - 2)
    assert sum(
        metric(service, "consumer_events_skipped_total", feed=PRODUCER, type=t) or 0 for t in labels
    ) == (1 + len(events))
    logged = [r.getMessage() for r in records if "skipped" in r.getMessage()]
    assert others == 25 and all(len(line) < 300 for line in logged)
    assert [line.rsplit("(", 1)[1] for line in logged] == [f"{n} so far)" for n in (1, 2, 4, 8, 16)]
    await consumer.close()


async def test_an_upstream_outage_is_retried_reported_and_recovered(producer, consumer_side) -> None:
    p = await producer()
    first_head = await write_events(p, things=2, renames=1, archive=False)
    service = consumer_side()
    transport = SwitchableTransport(httpx.ASGITransport(app=p.app))
    consumer = make_consumer(service, transport, long_poll_seconds=0.1)
    service.consumers.append(consumer)
    app = consumer_app(service)
    ops = client_for(app, "http://consumer.test")
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually(lambda: consumer.status.position == first_head and consumer.status.lag_events == 0)

        transport.mode = "down"
        await eventually(lambda: "ConnectError" in (consumer.status.last_error or ""))
        second_head = await write_events(p, things=2, renames=1, archive=False)  # written during the outage
        ready = await ops.get("/health/ready")
        assert ready.status_code == 200  # the consumer's own database is fine
        [status] = ready.json()["consumers"]
        assert status["feed"] == PRODUCER
        assert status["upstream_ok"] is False and "ConnectError" in status["last_error"]
        assert status["position"] == first_head
        assert status["lag_seconds"] > 0
        assert not task.done()  # retrying, not crashed

        transport.mode = "503"
        await eventually(lambda: "503" in (consumer.status.last_error or ""))
        [status] = (await ops.get("/health/ready")).json()["consumers"]
        assert status["upstream_ok"] is False and "503" in status["last_error"]
        assert not task.done()

        transport.mode = "up"
        await eventually(lambda: consumer.status.position == second_head and consumer.status.upstream_ok)
        [status] = (await ops.get("/health/ready")).json()["consumers"]
        assert status["upstream_ok"] is True and status["last_error"] is None
        assert status["lag_events"] == 0 and status["head"] == second_head
        assert as_view(await view_snapshot(service.db)) == await expected_view(p)  # nothing lost
        errors = metric(service, "consumer_errors_total", feed=PRODUCER)
        assert errors is not None and errors >= 2
        metrics_text = (await ops.get("/metrics")).text
        assert f'consumer_lag_events{{feed="{PRODUCER}"}} 0.0' in metrics_text
        # Every poll carried a request id upstream, so the producer's log lines can be joined to ours.
        ids = [r.headers.get("x-request-id") or "" for r in transport.requests]
        assert ids and all(i.startswith(f"{PRODUCER}-") for i in ids)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await ops.aclose()
    assert not consumer.status.active  # run() released what it held


async def test_two_consumers_racing_apply_each_event_once(producer, consumer_side) -> None:
    """Even without leadership (or if it were lost), the position row in the same transaction keeps
    every event applied once."""
    p = await producer()
    await write_events(p, things=4, renames=2, archive=False)
    service = consumer_side()
    transport = httpx.ASGITransport(app=p.app)
    one = make_consumer(service, transport, batch_size=3)
    two = make_consumer(service, transport, batch_size=3)
    await asyncio.wait_for(asyncio.gather(one.catch_up(), two.catch_up()), 60)
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await one.close()
    await two.close()


@pytest.mark.postgres
@postgres_only("leadership is a PostgreSQL advisory lock; SQLite runs one process")
async def test_one_active_consumer_per_feed_per_database(producer, consumer_side) -> None:
    p = await producer()
    await write_events(p, things=2, renames=1, archive=False)
    transport = httpx.ASGITransport(app=p.app)
    leader = make_consumer(consumer_side(), transport, long_poll_seconds=0.1)
    standby = make_consumer(consumer_side(), transport, long_poll_seconds=0.1)  # another replica
    stop_leader, stop_standby = asyncio.Event(), asyncio.Event()
    leader_task = asyncio.create_task(leader.run(stop_leader))
    standby_task = None
    try:
        await eventually(lambda: leader.status.active)
        standby_task = asyncio.create_task(standby.run(stop_standby))
        # The standby retries every second; watch it through more than one retry.
        for _ in range(30):
            assert not standby.status.active
            await asyncio.sleep(0.05)
        await eventually(lambda: standby.status.position == 0 and not standby.status.active, within=2)
        top = await write_events(p, things=1, renames=1, archive=False)
        await eventually(lambda: leader.status.position == top)

        stop_leader.set()
        await asyncio.wait_for(leader_task, 10)
        assert not leader.status.active
        await eventually(lambda: standby.status.active, within=10)  # it takes over
        top = await write_events(p, things=1, renames=1, archive=False)
        await eventually(lambda: standby.status.position == top)
        assert as_view(await view_snapshot(standby.db)) == await expected_view(p)
    finally:
        stop_leader.set()
        stop_standby.set()
        await asyncio.gather(leader_task, *([standby_task] if standby_task else []), return_exceptions=True)


class _SilentUpstream(httpx.AsyncBaseTransport):
    """An upstream that accepts the request and never answers (a long poll with nothing new, forever)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.cancelled = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.called.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


async def test_stop_does_not_wait_out_a_long_poll(consumer_side) -> None:
    """Shutdown abandons the upstream wait (nothing is applied yet) instead of sitting it out."""
    service = consumer_side()
    upstream = _SilentUpstream()
    consumer = make_consumer(service, upstream, long_poll_seconds=30)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await asyncio.wait_for(upstream.called.wait(), 20)
    stop.set()
    # Were the wait sat out, run() would never return: this upstream never answers.
    await asyncio.wait_for(task, 20)
    assert upstream.cancelled
    assert not consumer.status.active


class LimitRecorder(httpx.AsyncBaseTransport):
    """Passes requests on, remembering the page size (`limit`) each feed request asked for."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.limits: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.limits.append(int(request.url.params["limit"]))
        return await self.inner.handle_async_request(request)


async def test_pages_grow_while_well_behind_the_head_and_shrink_near_it(producer, consumer_side) -> None:
    p = await producer()
    top = await write_events(p, things=6, renames=3, archive=False)  # 24 events
    assert top == 24
    service = consumer_side()
    transport = LimitRecorder(httpx.ASGITransport(app=p.app))
    consumer = make_consumer(service, transport, batch_size=3, catch_up_batch_size=8)
    await consumer.catch_up()
    # Unknown lag at first: a small page (to 3, lag 21); then big pages while more than a small page
    # is left (to 11, lag 13; to 19, lag 5; to 24, lag 0).
    assert transport.limits == [3, 8, 8, 8]
    assert await consumer.position() == top
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)

    await write_events(p, things=2, renames=1, archive=False)  # 4 more: at most a small page behind
    assert await consumer.poll_once() == 3
    assert await consumer.poll_once() == 1
    assert transport.limits[-2:] == [3, 3]  # near the head: small pages

    # A rebuild knows the whole feed is behind from its probe (a page of one, for the head): big
    # pages from the first (to 8, 16, 24, 28).
    del transport.limits[:]
    assert await consumer.rebuild() == 28
    assert transport.limits == [1, 8, 8, 8, 8]
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()


async def test_a_rebuild_applies_batches_of_several_pages_and_serving_goes_back_to_one(
    producer, consumer_side
) -> None:
    p = await producer()
    top = await write_events(p, things=6, renames=3, archive=False)  # 24 events
    service = consumer_side()
    transport = LimitRecorder(httpx.ASGITransport(app=p.app))
    batches: list[list[int]] = []

    async def record(events: list) -> None:
        batches.append([e.position for e in events])

    consumer = make_consumer(
        service, transport, batch_size=3, catch_up_batch_size=8, rebuild_batch_size=20, before_commit=record
    )
    await consumer.catch_up()
    serving = list(batches)
    assert max(map(len, serving)) == 8  # while serving, a batch is one page
    del transport.limits[:], batches[:]
    assert await consumer.rebuild() == top
    # The probe (a page of one), then 20 events in one transaction from pages of 8, 8 and the 4 that
    # fill it, then the last 4 (to the head) as the next batch.
    assert transport.limits == [1, 8, 8, 4, 8]
    assert batches == [list(range(1, 21)), list(range(21, 25))]
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)

    # Serving again after the rebuild: one page per batch.
    await write_events(p, things=2, renames=1, archive=False)  # 4 more
    del transport.limits[:], batches[:]
    assert await consumer.poll_once() == 3
    assert batches == [[25, 26, 27]]
    assert transport.limits == [3, 3]  # and the next page fetched ahead: one page too

    # A rebuild batch smaller than a catch-up page caps the pages too.
    consumer.rebuild_batch_size = 5
    del transport.limits[:], batches[:]
    assert await consumer.rebuild() == top + 4
    assert [len(b) for b in batches] == [5, 5, 5, 5, 5, 3]
    assert transport.limits == [1, 5, 5, 5, 5, 5, 3]
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()


class FeedRecorder(httpx.AsyncBaseTransport):
    """Passes feed requests on, remembering each one's `after`; answers 503 to the requests whose
    numbers (from 1) are in `fail`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, fail: set[int] | None = None) -> None:
        self.inner = inner
        self.fail = fail or set()
        self.afters: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.afters.append(int(request.url.params["after"]))
        if len(self.afters) in self.fail:
            return httpx.Response(503, json={"status": 503}, request=request)
        return await self.inner.handle_async_request(request)


class Committed:
    """A before_commit hook that records the positions of each committed batch (and how many pages
    had been requested by then); it crashes the batches whose numbers (from 1) are in `kill`."""

    def __init__(self, transport: FeedRecorder, kill: set[int] | None = None) -> None:
        self.transport = transport
        self.kill = kill or set()
        self.calls = 0
        self.positions: list[int] = []
        self.requested: list[int] = []

    async def __call__(self, events: list) -> None:
        self.calls += 1
        if self.calls in self.kill:
            raise RuntimeError("killed before commit")
        self.positions.extend(e.position for e in events)
        self.requested.append(len(self.transport.afters))


async def test_the_next_page_is_fetched_while_a_batch_is_applied(producer, consumer_side) -> None:
    p = await producer()
    top = await write_events(p, archive=False)  # 9 events
    service = consumer_side()
    transport = FeedRecorder(httpx.ASGITransport(app=p.app))
    hook = Committed(transport)
    consumer = make_consumer(service, transport, batch_size=4, before_commit=hook)
    await consumer.catch_up()
    assert transport.afters == [0, 4, 8]  # one request per page: none wasted
    # The pages after 4 and 8 were already requested when the batch before each committed; the last
    # page reached the head, so nothing was fetched ahead of it.
    assert hook.requested == [2, 3, 3]
    assert hook.positions == list(range(1, top + 1))  # in order, each once
    assert consumer.status.lag_events == 0 and await consumer.position() == top
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()


async def test_a_failed_prefetch_neither_skips_nor_repeats_events(producer, consumer_side) -> None:
    p = await producer()
    top = await write_events(p, archive=False)
    service = consumer_side()
    transport = FeedRecorder(httpx.ASGITransport(app=p.app), fail={2})  # the first page fetched ahead
    hook = Committed(transport)
    consumer = make_consumer(service, transport, batch_size=4, before_commit=hook)
    with pytest.raises(UpstreamError, match="503"):
        await consumer.catch_up()
    assert await consumer.position() == 4  # the first batch stands; nothing of the failed page
    assert consumer.status.upstream_ok is False and "503" in (consumer.status.last_error or "")
    await consumer.catch_up()
    assert transport.afters == [0, 4, 4, 8]  # the failed page asked for again, from the stored position
    assert hook.positions == list(range(1, top + 1))
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()


async def test_a_batch_that_fails_drops_the_page_fetched_ahead(producer, consumer_side) -> None:
    p = await producer()
    top = await write_events(p, archive=False)
    service = consumer_side()
    transport = FeedRecorder(httpx.ASGITransport(app=p.app))
    hook = Committed(transport, kill={2})
    consumer = make_consumer(service, transport, batch_size=4, before_commit=hook)
    assert await consumer.poll_once() == 4
    with pytest.raises(RuntimeError, match="killed"):
        await consumer.poll_once()  # the page after 4, fetched ahead, fails to apply
    assert await consumer.position() == 4
    await consumer.catch_up()
    # The page after 8, fetched while the killed batch was applied, was not used: the batch after 4
    # is read again, then the rest.
    assert transport.afters == [0, 4, 8, 4, 8]
    assert hook.positions == list(range(1, top + 1))
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()


async def test_the_collector_is_off_while_a_batch_is_applied_and_back_on_after(
    producer, consumer_side
) -> None:
    p = await producer()
    await write_events(p, archive=False)
    service = consumer_side()
    seen: list[bool] = []
    killer = Killer(batch=2)

    async def hook(events: list) -> None:
        seen.append(gc.isenabled())
        await killer(events)

    consumer = make_consumer(service, httpx.ASGITransport(app=p.app), batch_size=4, before_commit=hook)
    assert gc.isenabled()
    assert await consumer.poll_once() == 4
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="killed"):
        await consumer.poll_once()
    assert gc.isenabled()  # a failed batch turns it back on too
    assert seen == [False, False]
    await consumer.close()


def test_collector_pauses_nest_and_leave_a_collector_turned_off_elsewhere_off() -> None:
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():  # the other consumer's batch, or the page fetched ahead
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first pause is still on
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


class GarbledTransport(httpx.AsyncBaseTransport):
    """The producer answering 200 with a body that is not a feed page."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.body: bytes | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.body is not None:
            return httpx.Response(200, content=self.body, request=request)
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b'{"events": [{"position": 1}], "head": 1}'])
async def test_a_page_that_is_not_a_feed_page_is_an_upstream_error(
    producer, consumer_side, body: bytes
) -> None:
    """A proxy's error page or a malformed page is the upstream failing, reported as an outage."""
    p = await producer()
    first_head = await write_events(p, things=1, renames=1, archive=False)
    service = consumer_side()
    transport = GarbledTransport(httpx.ASGITransport(app=p.app))
    consumer = make_consumer(service, transport)
    await consumer.catch_up()
    assert consumer.status.upstream_ok
    await write_events(p, things=1, renames=0, archive=False)

    transport.body = body
    with pytest.raises(UpstreamError, match="malformed"):
        await consumer.poll_once()
    assert consumer.status.upstream_ok is False
    assert "malformed" in (consumer.status.last_error or "")
    assert metric(service, "consumer_errors_total", feed=PRODUCER) == 1
    with pytest.raises(UpstreamError, match="malformed"):
        await consumer.probe()  # what `frontdoor rebuild` asks first
    assert await consumer.position() == first_head  # nothing applied

    transport.body = None
    await consumer.catch_up()
    assert consumer.status.upstream_ok and consumer.status.last_error is None
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()


async def test_a_stored_position_past_the_upstream_head_is_reported_not_taken_as_caught_up(
    producer, consumer_side
) -> None:
    """The producer's log was reset or restored behind what this consumer applied: its new events would
    take positions already seen here and be skipped. The consumer says so instead of reporting no lag."""
    p = await producer()
    top = await write_events(p, things=1, renames=1, archive=False)
    service = consumer_side()
    consumer = make_consumer(service, httpx.ASGITransport(app=p.app))
    positions = service.tables.positions
    assert positions is not None
    async with service.db.unit_of_work() as session:
        await session.execute(
            positions.insert().values(feed=PRODUCER, position=top + 10, updated_at=utcnow())
        )
    with pytest.raises(UpstreamError, match="behind"):
        await consumer.poll_once()
    assert consumer.status.upstream_ok is False
    assert "behind" in (consumer.status.last_error or "")
    assert await consumer.position() == top + 10  # nothing applied, nothing moved
    await consumer.close()


async def test_lag_seconds_on_start_up_is_the_age_of_the_oldest_unapplied_event(
    producer, consumer_side
) -> None:
    """A consumer started after downtime is behind since the first event it has not applied was
    recorded, not since it started: readiness and /metrics must not say it is seconds behind."""
    from datetime import timedelta

    from shared.types import simulated_now

    p = await producer()
    token = simulated_now.set(utcnow() - timedelta(hours=2))  # written while the consumer was down
    try:
        await write_events(p, things=2, renames=1, archive=False)
    finally:
        simulated_now.reset(token)
    service = consumer_side()
    consumer = make_consumer(service, httpx.ASGITransport(app=p.app), batch_size=2)
    assert await consumer.poll_once() == 2
    assert consumer.status.lag_events == 2
    assert consumer.status.lag_seconds >= 2 * 3600 - 60
    assert metric(service, "consumer_lag_seconds", feed=PRODUCER) == consumer.status.lag_seconds
    await consumer.catch_up()
    assert consumer.status.lag_events == 0 and consumer.status.lag_seconds == 0
    await consumer.close()


class ResetDuringFetch(httpx.AsyncBaseTransport):
    """Runs `reset` while the page after position `at` is being fetched, as `frontdoor rebuild` may
    wipe the projection and its position while a running consumer has a page in flight."""

    def __init__(self, inner: httpx.AsyncBaseTransport, at: int, reset: Any) -> None:
        self.inner, self.at, self.reset = inner, at, reset

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("after") == str(self.at) and self.reset is not None:
            reset, self.reset = self.reset, None
            await reset()
        return await self.inner.handle_async_request(request)


async def test_a_page_fetched_before_a_rebuild_reset_is_not_applied_after_it(producer, consumer_side) -> None:
    """The page followed the old position: applied after the reset to 0 it would skip every event
    before it, for good (the rebuild goes on from where that batch left the position)."""
    p = await producer()
    first = await write_events(p, things=2, renames=1, archive=False)
    service = consumer_side()
    positions = service.tables.positions
    assert positions is not None
    rebuilder = make_consumer(service, httpx.ASGITransport(app=p.app))

    async def reset() -> None:  # the first half of `rebuild`, by another process
        async with service.db.unit_of_work() as session:
            await session.execute(delete(thing_view))
            await session.execute(update(positions).values(position=0, updated_at=utcnow()))

    transport = ResetDuringFetch(httpx.ASGITransport(app=p.app), at=first, reset=reset)
    running = make_consumer(service, transport)
    assert await running.poll_once() == first  # at the head: no page fetched ahead
    await write_events(p, things=1, renames=1, archive=False)
    await running.poll_once()  # reads the page after `first`; the reset lands meanwhile
    await rebuilder.catch_up()  # the rest of the rebuild
    await running.catch_up()
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await running.close()
    await rebuilder.close()


async def replace_the_log(p: Producer, things: int) -> int:
    """The producer's database recreated (positions start again at 1) and refilled with another
    history; returns its new head."""
    tables = [t.name for t in reversed(producer_metadata.sorted_tables)]
    await delete_all(p.settings.database_url, [*tables, "journey_events", "audit_log", "idempotency_keys"])
    return await write_events(p, things=things, renames=1, archive=False)


async def test_a_log_replaced_and_refilled_past_the_position_is_detected_not_applied(
    producer, consumer_side
) -> None:
    """The producer's log was recreated (or restored from another backup) and refilled past what this
    consumer applied: its head is not behind, so only the event at the stored position can tell. The
    consumer stops as for a log behind it (readiness says so), applies nothing, and a rebuild recovers."""
    p = await producer()
    top = await write_events(p, things=1, renames=1, archive=False)
    service = consumer_side()
    consumer = make_consumer(service, httpx.ASGITransport(app=p.app))
    service.consumers.append(consumer)
    assert await consumer.catch_up() == top == 2
    before = await view_snapshot(service.db)
    new_top = await replace_the_log(p, things=3)
    assert new_top > top
    for _ in range(2):  # stays stopped: every poll says so until someone rebuilds
        with pytest.raises(UpstreamError, match="replaced"):
            await consumer.poll_once()
    assert consumer.status.upstream_ok is False and "replaced" in (consumer.status.last_error or "")
    assert await consumer.position() == top and await view_snapshot(service.db) == before
    async with client_for(consumer_app(service)) as client:
        ready = (await client.get("/health/ready")).json()
    assert [(c["upstream_ok"], "replaced" in (c["last_error"] or "")) for c in ready["consumers"]] == [
        (False, True)
    ]

    assert await consumer.rebuild() == new_top  # forgets the old history and its hash
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    assert consumer.status.upstream_ok is True and consumer.status.last_error is None
    await write_events(p, things=1, renames=1, archive=False)
    assert await consumer.poll_once() == 2  # and goes on as usual
    await consumer.close()


async def test_a_log_replaced_while_a_rebuild_pages_through_it_is_detected(producer, consumer_side) -> None:
    """A rebuild's batch of several pages checks each page follows the one before."""
    p = await producer()
    await write_events(p, things=2, renames=1, archive=False)
    service = consumer_side()

    async def replace() -> None:
        await replace_the_log(p, things=3)

    transport = ResetDuringFetch(httpx.ASGITransport(app=p.app), at=2, reset=replace)
    consumer = make_consumer(service, transport, batch_size=2, rebuild_batch_size=4)
    with pytest.raises(UpstreamError, match="replaced"):
        await consumer.rebuild()
    assert await consumer.position() == 0 and await view_snapshot(service.db) == []
    await consumer.close()


async def test_restarts_and_a_position_stored_without_a_hash_go_on_as_usual(producer, consumer_side) -> None:
    """A consumer started again checks against the hash it stored; a position stored before hashes
    were kept (no hash) is not checked until the next batch stores one."""
    p = await producer()
    top = await write_events(p, things=2, renames=1, archive=False)
    service = consumer_side()
    positions = service.tables.positions
    assert positions is not None
    first = make_consumer(service, httpx.ASGITransport(app=p.app), batch_size=3)
    assert await first.poll_once() == 3
    await first.close()
    async with service.db.read_session() as session:
        stored = (await session.execute(positions.select())).one()
    assert stored.position == 3 and stored.last_hash is not None
    again = make_consumer(service, httpx.ASGITransport(app=p.app), batch_size=3)
    assert await again.catch_up() == top - 3
    async with service.db.unit_of_work() as session:
        await session.execute(update(positions).values(last_hash=None))
    await write_events(p, things=1, renames=1, archive=False)
    assert await again.catch_up() == 2
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    async with service.db.read_session() as session:
        assert (await session.execute(positions.select())).one().last_hash is not None
    await again.close()


def _set_event(field: str, value: Any) -> Any:
    def tamper(page: dict[str, Any]) -> None:
        if page["events"]:
            page["events"][0][field] = value

    return tamper


def _set_after_hash(value: str) -> Any:
    def tamper(page: dict[str, Any]) -> None:
        page["after_hash"] = value

    return tamper


@pytest.mark.parametrize(
    "tamper",
    [
        _set_event("hash", "a" * 65),  # longer than consumer_positions.last_hash: PostgreSQL refused it
        _set_event("hash", "a" * 63),
        _set_event("hash", "A" * 64),  # the producer's hash is SHA-256 in lowercase hex
        _set_event("hash", "g" * 64),
        _set_event("prev_hash", "b" * 65),
        _set_event("prev_hash", ""),
        _set_after_hash("c" * 65),
    ],
    ids=["hash-65", "hash-63", "hash-upper", "hash-not-hex", "prev-65", "prev-empty", "after-65"],
)
async def test_a_malformed_hash_on_a_page_is_an_upstream_error_never_stored(
    producer, consumer_side, tamper: Any
) -> None:
    """A hash that is not SHA-256 in lowercase hex (as the producer writes it) makes the page malformed,
    as any other malformed envelope does: an outage readiness shows, retried, nothing stored. Not a
    database error on every retry (a 65-character hash does not fit `last_hash`)."""
    p = await producer()
    first_head = await write_events(p, things=1, renames=1, archive=False)
    service = consumer_side()
    transport = TamperingTransport(httpx.ASGITransport(app=p.app))
    consumer = make_consumer(service, transport)
    await consumer.catch_up()
    await write_events(p, things=1, renames=0, archive=False)

    transport.tamper = tamper
    with pytest.raises(UpstreamError, match="malformed"):
        await consumer.poll_once()
    assert consumer.status.upstream_ok is False
    assert "malformed" in (consumer.status.last_error or "")
    assert "hash: string_" in (consumer.status.last_error or "")  # names the field at fault
    assert await consumer.position() == first_head  # nothing applied, no hash stored
    positions = service.tables.positions
    assert positions is not None
    async with service.db.read_session() as session:
        stored = (await session.execute(positions.select())).one()
    assert stored.last_hash is not None and len(stored.last_hash) == 64

    transport.tamper = None
    await consumer.catch_up()
    assert consumer.status.upstream_ok and consumer.status.last_error is None
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()


async def _refused_then_recovers(p: Producer, service: Any, tamper: Any, field: str) -> None:
    """One page tampered with: refused as malformed (naming `field`), nothing applied; then the real
    pages are applied as if nothing had happened."""
    transport = TamperingTransport(httpx.ASGITransport(app=p.app))
    consumer = make_consumer(service, transport)
    await consumer.catch_up()
    first_head = await consumer.position()
    await write_events(p, things=1, renames=1, archive=False)

    transport.tamper = tamper
    with pytest.raises(UpstreamError, match="malformed"):
        await consumer.poll_once()
    assert consumer.status.upstream_ok is False
    assert field in (consumer.status.last_error or "")
    assert await consumer.position() == first_head

    transport.tamper = None
    await consumer.catch_up()
    assert consumer.status.upstream_ok and consumer.status.last_error is None
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()


def _last_event_position(value: int) -> Any:
    def tamper(page: dict[str, Any]) -> None:
        if page["events"]:
            page["events"][-1]["position"] = value
            page["head"] = max(page["head"], value)

    return tamper


@pytest.mark.parametrize("position", [2**63, 2**64 + 5], ids=["2^63", "2^64+5"])
async def test_a_position_beyond_what_a_position_column_holds_is_malformed(
    producer, consumer_side, position: int
) -> None:
    """The producer's positions are BIGINTs: one beyond 2^63 - 1 on a page was taken and stored in
    `consumer_positions.position`, which refused it (PostgreSQL: out of range; SQLite: too large)
    on every retry. It makes the page malformed now, an outage readiness shows."""
    p = await producer()
    await write_events(p, things=1, renames=1, archive=False)
    await _refused_then_recovers(p, consumer_side(), _last_event_position(position), "position")


def _reversed_events(page: dict[str, Any]) -> None:
    page["events"].reverse()


def _repeated_position(page: dict[str, Any]) -> None:
    if len(page["events"]) > 1:
        page["events"][1]["position"] = page["events"][0]["position"]


@pytest.mark.parametrize("tamper", [_reversed_events, _repeated_position], ids=["reversed", "repeated"])
async def test_a_page_whose_positions_do_not_increase_is_malformed(
    producer, consumer_side, tamper: Any
) -> None:
    """A feed page lists its events in increasing positions. One that did not was applied as far as
    each event was after the one before: of positions 5, 4, 3 only 5 was applied and stored, and 3
    and 4 were lost for good (never fetched again), silently. Such a page is malformed now, naming
    the position at fault; nothing is applied."""
    p = await producer()
    await write_events(p, things=1, renames=1, archive=False)
    await _refused_then_recovers(p, consumer_side(), tamper, "position")


async def test_a_page_of_events_already_applied_is_malformed_not_a_busy_loop(producer, consumer_side) -> None:
    """A feed page holds only events after `after`. A stale page served for every `after` (say, a
    cache that ignores the query string, before a producer that publishes no `after_hash`) was taken
    as all repeats: nothing applied, the lag never falling, so `catch_up` (and `frontdoor rebuild`)
    never returned and `run` polled the producer without pause, while readiness said the upstream was
    fine. It is malformed now."""
    p = await producer()
    await write_events(p, things=1, renames=1, archive=False)
    stale: dict[str, Any] = {}

    def first_page_for_ever(page: dict[str, Any]) -> None:
        if not stale:
            stale.update(json.loads(json.dumps(page)))
        page.clear()
        page.update(json.loads(json.dumps(stale)))
        page["head"] = max(page["head"], 10)
        page.pop("after_hash", None)  # as a producer that does not publish it (nothing to compare)

    transport = TamperingTransport(httpx.ASGITransport(app=p.app))
    service = consumer_side()
    consumer = make_consumer(service, transport, batch_size=1)
    transport.tamper = first_page_for_ever
    assert await consumer.poll_once() == 1  # the first page is fine the first time
    with pytest.raises(UpstreamError, match="malformed"):
        await consumer.poll_once()
    assert consumer.status.upstream_ok is False
    assert "events.0.position" in (consumer.status.last_error or "")
    assert await consumer.position() == 1

    transport.tamper = None
    await consumer.catch_up()
    assert as_view(await view_snapshot(service.db)) == await expected_view(p)
    await consumer.close()
