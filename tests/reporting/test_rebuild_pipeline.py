"""A rebuild works out each batch while the one before it is written (`FeedConsumer.rebuild` on
PostgreSQL): the projection must then take the rows the previous batch touched from that batch, not
from the database, which does not hold them yet. These tests check that the rows come out exactly
as applying the batches one after the other does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from platform_kit import postgres_only
from reporting_kit import World, build_scenario
from sqlalchemy import select

from services.reporting.db import metadata
from shared.events.consumer import FeedConsumer

# Kept out of the comparison: bookkeeping of when and where from, not what the projection derived.
IGNORED = {"consumer_positions", "audit_log", "idempotency_keys", "alembic_version", "rpt_feed_state"}


Rows = dict[str, list[tuple[str, ...]]]


async def projection_rows(w: World) -> Rows:
    """Every reporting table's rows, as sorted tuples of strings; but not the kept counts' rows that
    count nothing (every column beyond the key 0), which batching may or may not leave."""
    db = w.consumer("referrals").db
    out: Rows = {}
    async with db.read_session() as session:
        for table in metadata.sorted_tables:
            if table.name in IGNORED:
                continue
            counts = [i for i, c in enumerate(table.columns) if not c.primary_key]
            rows = [tuple(str(v) for v in row) for row in (await session.execute(select(table))).all()]
            out[table.name] = sorted(row for row in rows if any(row[i] != "0" for i in counts))
    return out


async def caught_up(world_factory: Any, batch: int | None = None) -> tuple[World, FeedConsumer, Rows]:
    """The scenario's world caught up on both feeds, its referrals consumer (taking `batch` events
    at a time, if given), and every table's rows as catching up left them."""
    w = await world_factory()
    await build_scenario(w)
    await w.catch_up("referrals", "supervision")
    consumer = w.consumer("referrals")
    if batch is not None:
        consumer.batch_size = consumer.catch_up_batch_size = consumer.rebuild_batch_size = batch
    return w, consumer, await projection_rows(w)


async def forget(consumer: FeedConsumer) -> None:
    """The projection and the position of one feed emptied, as a rebuild starts."""
    async with consumer.db.unit_of_work() as session:
        await consumer.projection.reset(session)
        await session.execute(
            consumer.positions.update().where(consumer.positions.c.feed == consumer.feed).values(position=0)
        )


@pytest.mark.parametrize("size", [1, 2, 3, 5])
async def test_a_batch_worked_out_before_the_previous_one_is_written_gives_the_same_rows(
    world_factory, size: int
) -> None:
    w, consumer, expected = await caught_up(world_factory)
    assert expected["rpt_contacts"] and expected["rpt_contact_duration_key_days"]
    # J2's standard transfer lag (its first TSPROC team transfer), on the journey and counted.
    assert any(row[0] == "standard_transfer_days" for row in expected["rpt_journey_month_values"])
    projection: Any = consumer.projection
    events, _ = await consumer.fetch(0, 0.0, 1000)
    batches = [events[i : i + size] for i in range(0, len(events), size)]
    await forget(consumer)
    # Each batch is worked out from a database that does not hold the batch before it (written
    # only afterwards), as the pipelined rebuild does.
    previous = None
    for batch in batches:
        async with consumer.db.read_session() as session:
            prepared = await projection.prepare_batch(session, batch, previous)
        if previous is not None:
            async with consumer.db.unit_of_work() as session:
                assert await projection.write_batch(session, previous) == [True] * len(previous.results)
        previous = prepared
    assert previous is not None
    async with consumer.db.unit_of_work() as session:
        await projection.write_batch(session, previous)

    assert await projection_rows(w) == expected


@postgres_only("the rebuild works out one batch while writing another on PostgreSQL only")
async def test_a_pipelined_rebuild_equals_catching_up_and_overlaps_its_batches(world_factory) -> None:
    w, consumer, expected = await caught_up(world_factory, batch=3)
    projection: Any = consumer.projection
    steps: list[str] = []
    prepare, write = projection.prepare_batch, projection.write_batch

    async def prepare_batch(*args: Any) -> Any:
        steps.append("prepare")
        prepared = await prepare(*args)
        steps.append("prepared")
        return prepared

    async def write_batch(*args: Any) -> Any:
        steps.append("write")
        await asyncio.sleep(0.05)  # a write that takes a while, as a real one does
        results = await write(*args)
        steps.append("written")
        return results

    projection.prepare_batch, projection.write_batch = prepare_batch, write_batch
    try:
        assert await consumer.rebuild() == 31
        assert await w.consumer("supervision").rebuild() == 2
    finally:
        del projection.prepare_batch, projection.write_batch

    assert await projection_rows(w) == expected
    assert consumer.status.position == consumer.status.head == 31
    # 31 events in batches of 3: eleven batches, each written once, one write at a time, and each
    # batch but the first worked out before the one before it was written.
    assert steps.count("prepare") == steps.count("write") == 11
    writing = 0
    for step in steps:
        writing += {"write": 1, "written": -1}.get(step, 0)
        assert writing <= 1
    started = [i for i, step in enumerate(steps) if step == "prepare"]
    written = [i for i, step in enumerate(steps) if step == "written"]
    assert all(started[k] < written[k - 1] for k in range(1, 11)), steps


@postgres_only("the rebuild works out one batch while writing another on PostgreSQL only")
async def test_a_rebuild_whose_position_another_consumer_moves_goes_on_one_batch_at_a_time(
    world_factory,
) -> None:
    w, consumer, expected = await caught_up(world_factory, batch=4)
    other = FeedConsumer(
        feed=consumer.feed,
        base_url=consumer.base_url,
        db=consumer.db,
        positions=consumer.positions,
        projection=consumer.projection,
        token=consumer.token,
        metrics=consumer.metrics,
        transport=consumer.transport,
        batch_size=2,
    )
    write_prepared = consumer._write_prepared
    writes = 0

    async def write_then_let_the_other_apply(*args: Any) -> int:
        # After the rebuild's first batch commits, another consumer of the feed applies a page: the
        # batch the rebuild worked out next no longer starts at the stored position.
        nonlocal writes
        writes += 1
        applied = await write_prepared(*args)
        if writes == 1:
            assert await other.poll_once() == 2
        return applied

    consumer._write_prepared = write_then_let_the_other_apply  # type: ignore[method-assign]
    try:
        applied = await consumer.rebuild()
    finally:
        del consumer._write_prepared
        await other.close()

    assert writes == 2  # the second found the position moved; the rest went one batch at a time
    assert applied == 31 - 2  # the other consumer's two are not the rebuild's
    assert await projection_rows(w) == expected


@postgres_only("the rebuild works out one batch while writing another on PostgreSQL only")
@pytest.mark.parametrize("fails", ["write", "prepare"])
async def test_a_rebuild_that_fails_mid_way_leaves_whole_batches_and_catching_up_completes_it(
    world_factory, fails: str
) -> None:
    w, consumer, expected = await caught_up(world_factory, batch=4)
    projection: Any = consumer.projection
    committed: list[int] = []
    prepared = 0
    prepare = projection.prepare_batch

    async def before_commit(events: list) -> None:
        # The third batch's write fails before its commit.
        if fails == "write" and len(committed) == 2:
            raise RuntimeError("killed before commit")
        committed.append(events[-1].position)

    async def prepare_batch(*args: Any) -> Any:
        # Or working out the fourth fails, while the third is being written.
        nonlocal prepared
        prepared += 1
        if fails == "prepare" and prepared == 4:
            raise RuntimeError("failed working a batch out")
        return await prepare(*args)

    consumer.before_commit = before_commit
    projection.prepare_batch = prepare_batch
    try:
        with pytest.raises(RuntimeError):
            await consumer.rebuild()
    finally:
        consumer.before_commit = None
        del projection.prepare_batch

    # Whole batches only, in order, each with its position: two if the third's write failed, three
    # if the fourth failed to be worked out (the third, already being written, was let finish).
    assert committed == ([4, 8] if fails == "write" else [4, 8, 12])
    assert await consumer.position() == committed[-1]
    await consumer.catch_up()
    assert await projection_rows(w) == expected
