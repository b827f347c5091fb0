"""Pooled PostgreSQL connections are checked on checkout only once they have sat idle (shared/db.py).

A connection the server dropped while it sat idle must be replaced without the request noticing; one
used moments ago is not checked (that round trip was three of a contact's fourteen), so a drop within
that window reaches the request as a database-unavailable error (a 503), and the pool starts afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from platform_kit import postgres_only
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from shared import db as shared_db
from shared.db import Database
from shared.errors import is_database_unavailable
from shared.settings import ServiceSettings

pytestmark = postgres_only("the checkout check is for pooled PostgreSQL connections")


@pytest.fixture
async def database(db_urls: dict[str, str]) -> AsyncIterator[Database]:
    """A pool of one connection, so every unit of work reuses the same one."""
    database = Database(db_urls["referrals"], pool_size=1, max_overflow=0)
    yield database
    await database.dispose()


async def backend_pid(database: Database) -> int:
    async with database.unit_of_work() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def drop_connection(url: str, pid: int) -> None:
    """What a server restart or an idle-connection timeout does to a pooled connection."""
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar()
            # A terminated backend exits when it is next scheduled: on two busy cores (both suites
            # at once) that once took over 2 s, so the wait is long and ends as soon as it is gone.
            deadline = asyncio.get_running_loop().time() + 15
            while asyncio.get_running_loop().time() < deadline:
                gone = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
                if (await conn.execute(gone, {"pid": pid})).scalar():
                    return
                await asyncio.sleep(0.01)
        raise AssertionError(f"backend {pid} still there")
    finally:
        await admin.dispose()


async def used_then_dropped(
    database: Database, url: str, monkeypatch: pytest.MonkeyPatch, *, window: float
) -> int:
    """With the idle window set, use the pool's one connection, then drop it: its backend's pid."""
    monkeypatch.setattr(shared_db, "PING_IDLE_AFTER_SECONDS", window)
    pid = await backend_pid(database)
    await drop_connection(url, pid)
    return pid


async def test_an_idle_connection_the_server_dropped_is_replaced_on_checkout(
    database: Database, db_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await used_then_dropped(database, db_urls["referrals"], monkeypatch, window=0.05)
    await asyncio.sleep(0.1)  # idle past the window

    assert await backend_pid(database) != first  # no error: the check found it dead and reconnected


async def test_a_connection_used_moments_ago_is_not_checked_and_a_drop_is_a_503(
    database: Database, db_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await used_then_dropped(database, db_urls["referrals"], monkeypatch, window=3600.0)

    with pytest.raises(DBAPIError) as raised:
        await backend_pid(database)
    assert is_database_unavailable(raised.value)  # what the error handlers turn into a 503
    assert await backend_pid(database) != first  # the pool made a new connection for the next one


async def test_a_connection_just_made_is_not_checked_and_the_check_is_one_empty_query(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_db, "PING_IDLE_AFTER_SECONDS", 0.0)
    queries: list[str] = []
    execute = asyncpg.Connection.execute

    async def counting(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> str:
        queries.append(query)  # SQLAlchemy's statements are prepared; BEGIN and COMMIT come here
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", counting)
    await backend_pid(database)
    assert ";" not in queries  # its first checkout: connecting was the check
    queries.clear()
    await backend_pid(database)
    assert queries.count(";") == 1 and len(queries) == 3, queries  # the check, BEGIN, COMMIT


async def test_the_default_pool_keeps_the_connections_of_twenty_requests_at_once(
    db_urls: dict[str, str],
) -> None:
    """Overflow connections are closed when returned: if the pool kept fewer than a worker's usual
    concurrency, every burst would connect (and prepare its statements) again."""
    settings = ServiceSettings()
    database = Database(
        db_urls["referrals"], pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    connected: list[int] = []
    event.listen(database.engine.sync_engine.pool, "connect", lambda *_: connected.append(1))
    release = asyncio.Event()

    async def request() -> None:
        async with database.unit_of_work() as session:
            await session.execute(text("SELECT 1"))
            await release.wait()  # all twenty hold a connection at once

    try:
        for burst in range(2):
            release.clear()
            tasks = [asyncio.create_task(request()) for _ in range(20)]
            await asyncio.sleep(0.3)
            release.set()
            await asyncio.gather(*tasks)
            assert len(connected) == 20, f"burst {burst + 1}: {len(connected)} connections made in all"
    finally:
        await database.dispose()
