"""Deferred inserts (`shared.db.defer_insert`): a write's rows that nothing reads back wait for the
transaction's next statement, so the journey-event append can carry them (one round trip on
PostgreSQL). Whatever runs in between, the transaction must read and write as if each had been sent
at once, and a rollback must take them back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from dbutil import statements_sent
from platform_kit import ThingCreated, postgres_only, thing_labels, thing_row, things
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry

from shared.db import Database, defer_insert
from shared.errors import Conflict
from shared.events.log import EventLog, NewEvent
from shared.types import utcnow


class ThingRow:
    """An ORM mapping of the kit's table, for a flush."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


registry().map_imperatively(ThingRow, things)


async def test_a_deferred_insert_waits_then_is_seen_by_the_next_statement(producer) -> None:
    db = (await producer()).service.db
    async with db.unit_of_work() as session:
        with statements_sent(db.engine) as sent:
            defer_insert(session, things, [thing_row("a"), thing_row("b")])
            assert sent == []
            count = (await session.execute(select(func.count()).select_from(things))).scalar_one()
        assert count == 2
        assert [s.split()[0] for s in sent] == ["INSERT", "SELECT"]
    assert await thing_labels(db) == ["a", "b"]


async def test_a_deferred_insert_with_nothing_after_it_is_sent_at_commit(producer) -> None:
    db = (await producer()).service.db
    async with db.unit_of_work() as session:
        defer_insert(session, things, [thing_row("a")])
    assert await thing_labels(db) == ["a"]


async def test_a_rollback_takes_deferred_inserts_back_and_they_never_reach_a_later_transaction(
    producer,
) -> None:
    db = (await producer()).service.db
    async with db.sessionmaker() as session:
        with pytest.raises(RuntimeError):
            async with session.begin():
                defer_insert(session, things, [thing_row("dropped")])
                raise RuntimeError("the request failed")
        async with session.begin():
            defer_insert(session, things, [thing_row("kept")])
    assert await thing_labels(db) == ["kept"]


async def test_an_orm_flush_sends_the_deferred_inserts_first(producer) -> None:
    db = (await producer()).service.db
    async with db.unit_of_work() as session:
        with statements_sent(db.engine) as sent:
            defer_insert(session, things, [thing_row("deferred")])
            session.add(ThingRow(**thing_row("flushed")))
            await session.flush()
    # The deferred row went first: a flush must not overtake what the transaction already wrote.
    assert ["deferred" in s for s in sent] == [True, False]
    assert ["flushed" in s for s in sent] == [False, True]
    assert await thing_labels(db) == ["deferred", "flushed"]


def created(label: str) -> list[NewEvent]:
    return [NewEvent(ThingCreated(label=label, size=1), utcnow())]


async def db_and_log(producer: Any) -> tuple[Any, Database, EventLog]:
    p = await producer()
    assert p.service.event_log is not None
    return p.service.tables, p.service.db, p.service.event_log


@postgres_only("the append carries the deferred inserts in its own statement")
async def test_the_event_append_carries_the_deferred_inserts_in_one_statement(producer) -> None:
    tables, db, log = await db_and_log(producer)
    journey = uuid.uuid4()
    async with db.unit_of_work() as session:
        defer_insert(session, things, [thing_row("a"), thing_row("b")])
        defer_insert(session, tables.idempotency, [])  # nothing to send: not a CTE
        with statements_sent(db.engine) as sent:
            await log.append(session, journey, created("a"), expected_version=0, actor="t")
        assert len(sent) == 1 and sent[0].count("INSERT INTO") == 3  # a row each, then the event
    assert await thing_labels(db) == ["a", "b"]
    async with db.read_session() as session:
        events = await log.read_stream(session, journey)
    assert [e.stream_version for e in events] == [1]


async def test_a_deferred_rows_own_failure_in_the_append_is_not_called_a_stale_version(producer) -> None:
    """On SQLite too: there the waiting rows went out with the append's INSERT (the next statement)
    inside its clash check, and SQLite names no constraint, so a deferred row's own failure in an
    append to a new journey was answered 409 stale_journey_version, as if someone else had
    changed the journey."""
    _, db, log = await db_and_log(producer)
    taken = uuid.uuid4()
    async with db.unit_of_work() as session:
        defer_insert(session, things, [thing_row("first", taken)])
    with pytest.raises(IntegrityError):
        async with db.unit_of_work() as session:
            defer_insert(session, things, [thing_row("again", taken)])
            await log.append(session, uuid.uuid4(), created("x"), expected_version=0, actor="t")
    assert await thing_labels(db) == ["first"]


async def test_a_stale_append_is_a_conflict_and_takes_its_deferred_rows_with_it(producer) -> None:
    _, db, log = await db_and_log(producer)
    journey = uuid.uuid4()
    async with db.unit_of_work() as session:
        await log.append(session, journey, created("a"), expected_version=0, actor="t")
    with pytest.raises(Conflict) as refused:
        async with db.unit_of_work() as session:
            defer_insert(session, things, [thing_row("lost")])
            await log.append(session, journey, created("b"), expected_version=0, actor="t")
    assert refused.value.code == "stale_journey_version"
    assert await thing_labels(db) == []


async def test_the_append_with_deferred_rows_is_a_statement_sqlalchemy_caches(producer) -> None:
    """Else it is compiled again on every append: a multi-row VALUES, for one, is never cached."""
    tables, _, log = await db_and_log(producer)
    riders = [(things, [thing_row("a"), thing_row("b")]), (tables.audit, [{"action": "create"}])]
    statement = log._locked_insert(2, riders)
    assert statement._generate_cache_key() is not None
    assert log._locked_insert(2, riders) is statement  # built once per shape


async def test_the_append_keeps_a_bounded_number_of_statements_built(producer, monkeypatch) -> None:
    """Shapes come from requests (how many children a contact names): memory must not grow with them."""
    import shared.events.log as log_module

    monkeypatch.setattr(log_module, "_LOCKED_INSERTS_KEPT", 3)
    _, _, log = await db_and_log(producer)
    for n in range(1, 6):
        log._locked_insert(1, [(things, [thing_row() for _ in range(n)])])
    assert len(log._locked_inserts) == 3
    newest = [(things, [thing_row() for _ in range(5)])]
    assert log._locked_insert(1, newest) is log._locked_insert(1, newest)
