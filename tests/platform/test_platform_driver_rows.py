"""`shared.db.driver_rows`: a prebuilt statement sent straight through the driver (asyncpg) on the
session's connection. It must behave as `session.execute` would: same transaction, what is waiting
sent first, values bound through their column types, errors as SQLAlchemy's, counted by listeners."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from dbutil import statements_sent
from platform_kit import postgres_only, thing_labels, thing_row, things
from sqlalchemy import Column, DateTime, MetaData, Table, bindparam, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.db import defer_insert, driver_rows
from shared.errors import is_database_unavailable

COUNT = select(func.count()).select_from(things)
LABEL = select(things.c.label).where(things.c.id == bindparam("id"))
ADD = (
    insert(things)
    .values(id=bindparam("id"), label=bindparam("label"), owner="o", version=1)
    .returning(things.c.id)
)


async def test_reads_what_its_transaction_wrote_and_deferred(producer) -> None:
    db = (await producer()).service.db
    async with db.unit_of_work() as session:
        await session.execute(insert(things), [thing_row("executed")])
        defer_insert(session, things, [thing_row("deferred")])
        assert await driver_rows(session, COUNT, {}) == [(2,)]
        # ...and what it writes is seen by the session's own statements after it.
        new_id = uuid.uuid4()
        assert await driver_rows(session, ADD, {"id": new_id, "label": "driven"}) == [(new_id,)]
        assert (await session.execute(COUNT)).scalar_one() == 3
    assert await thing_labels(db) == ["deferred", "driven", "executed"]


async def test_a_rollback_takes_its_writes_back(producer) -> None:
    db = (await producer()).service.db
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as session:
            await driver_rows(session, ADD, {"id": uuid.uuid4(), "label": "dropped"})
            raise RuntimeError("the request failed")
    async with db.unit_of_work() as session:  # the next transaction, maybe on the same connection
        await driver_rows(session, ADD, {"id": uuid.uuid4(), "label": "kept"})
    assert await thing_labels(db) == ["kept"]


async def test_a_failure_is_sqlalchemys_error_and_the_transaction_rolls_back(producer) -> None:
    db = (await producer()).service.db
    taken = uuid.uuid4()
    async with db.unit_of_work() as session:
        await session.execute(insert(things), [thing_row("first", taken)])
    with pytest.raises(IntegrityError) as raised:
        async with db.unit_of_work() as session:
            await driver_rows(session, ADD, {"id": uuid.uuid4(), "label": "lost"})
            await driver_rows(session, ADD, {"id": taken, "label": "clash"})
    assert "test_things" in str(raised.value)
    assert await thing_labels(db) == ["first"]
    async with db.unit_of_work() as session:
        assert await driver_rows(session, LABEL, {"id": taken}) == [("first",)]


async def test_values_are_bound_through_their_column_types(producer) -> None:
    db = (await producer()).service.db
    metadata = MetaData()
    # Both backends keep naive UTC from an aware datetime only through the column type's processor.
    stamps = Table("test_driver_stamps", metadata, Column("at", DateTime(timezone=True)))
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        at = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)
        async with db.unit_of_work() as session:
            await driver_rows(session, insert(stamps).values(at=bindparam("at")), {"at": at})
            [(got,)] = await driver_rows(session, select(stamps.c.at), {})
        assert got is not None and got.replace(tzinfo=got.tzinfo or UTC) == at
    finally:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)


async def test_statement_listeners_see_it_once(producer) -> None:
    db = (await producer()).service.db
    async with db.unit_of_work() as session:
        with statements_sent(db.engine) as sent:
            await driver_rows(session, LABEL, {"id": uuid.uuid4()})
    assert len(sent) == 1 and sent[0].startswith("SELECT test_things.label")


@postgres_only("a connection the server ends")
async def test_a_lost_connection_is_unavailable_and_never_handed_out_again(producer) -> None:
    db = (await producer()).service.db
    with pytest.raises(DBAPIError) as raised:
        async with db.unit_of_work() as session:
            [(pid,)] = await driver_rows(session, select(func.pg_backend_pid()), {})
            async with db.engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await driver_rows(session, LABEL, {"id": uuid.uuid4()})
    # A 503 to the client, as when SQLAlchemy sends the statement itself.
    assert is_database_unavailable(raised.value)
    for _ in range(db.engine.pool.size() + 1):  # every pooled connection is a live one
        async with db.unit_of_work() as session:
            assert await driver_rows(session, COUNT, {}) == [(0,)]


@postgres_only("on SQLite it is session.execute")
@pytest.mark.filterwarnings("ignore:Column 'test_things.id' is marked as a member of the primary key")
async def test_a_parameter_the_statement_does_not_take_is_refused_not_dropped(producer) -> None:
    db = (await producer()).service.db
    async with db.unit_of_work() as session:
        with pytest.raises(ValueError, match="label"):
            await driver_rows(session, insert(things).values(owner="o", version=1), thing_row("lost"))


async def test_an_expanding_parameter_is_refused(producer) -> None:
    db = (await producer()).service.db
    statement = select(things.c.label).where(things.c.id.in_(bindparam("ids", expanding=True)))
    async with db.unit_of_work() as session:
        if db.is_sqlite:
            assert await driver_rows(session, statement, {"ids": [uuid.uuid4()]}) == []
        else:
            with pytest.raises(ValueError, match="positional"):
                await driver_rows(session, statement, {"ids": [uuid.uuid4()]})
