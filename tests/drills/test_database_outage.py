"""Drills: PostgreSQL goes away under write load, two ways.

1. A real restart, on a private cluster this test creates (`drillkit.PrivateCluster`), so the shared
   server other test runs use is never touched: stopped (clean or crash) and started again, repeatedly.
2. `pg_terminate_backend` of every backend connected to the run's referrals test database, repeatedly,
   at moments when some request holds a transaction open: the same kill of every pooled and in-use
   connection, but many more times per second of test.

Either way clients must only ever see 201 or a 503 problem (never a 500), and retrying with the same
Idempotency-Key must leave exactly one contact and exactly one ContactReceived event per key, with an
intact hash chain.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from drillkit import PrivateCluster, new_key
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shared.migrations import upgrade
from tests.conftest import BACKEND, PG_SERVER

MAX_ATTEMPTS = 300


def contact_body(i: int) -> dict[str, Any]:
    received = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    return {
        "new_children": [
            {"given_name": "Drill", "family_name": f"Child{chr(65 + i % 26)}", "date_of_birth": "2016-04-02"}
        ],
        "received_at": received.isoformat(),
        "source": "2A",
        "channel": "phone",
        "referrer": {"name": "Sam Example", "organisation": "Example Primary School"},
        "concerns_summary": "Synthetic drill contact.",
        "consent": {"status": "given"},
        "urgency": "amber",
    }


def contact_ids(doc: Any) -> list[str]:
    if isinstance(doc, list):
        return [c["id"] for c in doc]
    if isinstance(doc, dict) and "contacts" in doc:
        return [c["id"] for c in doc["contacts"]]
    return [doc["id"]]


async def terminate_backends(db_name: str, done: asyncio.Event, kills: list[int], restarts: int) -> None:
    """`restarts` times, drop every connection to the database (as a restart would), each time at a
    moment when some request holds a transaction open: idle pooled connections alone would be healed by
    the pool's pre-ping, so a kill that only met those would prove nothing."""
    admin = create_async_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for _ in range(restarts):
                await asyncio.sleep(random.uniform(0.05, 0.2))
                n = 0
                for _ in range(2000):
                    n = int(
                        (
                            await conn.execute(
                                text(
                                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = :db AND pid <> pg_backend_pid() AND EXISTS ("
                                    "  SELECT 1 FROM pg_stat_activity busy WHERE busy.datname = :db"
                                    "  AND busy.pid <> pg_backend_pid()"
                                    "  AND busy.state IN ('active', 'idle in transaction'))"
                                ),
                                {"db": db_name},
                            )
                        ).scalar()
                        or 0
                    )
                    if n:
                        break
                    await asyncio.sleep(0.002)
                kills.append(n)
    finally:
        done.set()
        await admin.dispose()


Disruption = Callable[[asyncio.Event, list[int]], Awaitable[None]]


async def contacts_survive(
    client: Any, token: Any, db_url: str, contacts: int, disrupt: Disruption
) -> dict[int, int]:
    """Eight writers create contacts, retrying each with its Idempotency-Key on 503, while `disrupt`
    runs (it sets the event when done and records its kills); then nothing may be lost or doubled."""
    headers = token("practitioner", sub="drill-p1", team="FD-WEST")
    disrupted = asyncio.Event()
    kills: list[int] = []
    statuses: dict[int, int] = {}
    created: dict[str, list[str]] = {}
    numbers = iter(range(1_000_000))

    async def create(i: int) -> None:
        key = new_key()
        body = contact_body(i)
        for _ in range(MAX_ATTEMPTS):
            r = await client.post("/contacts", json=body, headers={**headers, "Idempotency-Key": key})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 201:
                created[key] = contact_ids(r.json())
                return
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            await asyncio.sleep(random.uniform(0.02, 0.1))
        pytest.fail(f"contact {i} not created after {MAX_ATTEMPTS} attempts")

    async def writer() -> None:
        # Load lasts until every disruption has happened and at least `contacts` exist, however fast
        # the machine: a run that finished before the first one would test nothing.
        while not (disrupted.is_set() and len(created) >= contacts):
            await create(next(numbers))

    disruptor = asyncio.create_task(disrupt(disrupted, kills))
    try:
        await asyncio.gather(*(writer() for _ in range(8)))
    finally:
        await disruptor

    assert len(created) >= contacts
    assert sum(kills) > 0, "the drill never disrupted a connection"
    assert statuses.get(503, 0) > 0, "no request ever met a dead connection"
    assert set(statuses) <= {201, 503}
    ids = [cid for cids in created.values() for cid in cids]
    assert len(ids) == len(set(ids)) == len(created)

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT id FROM contacts"))).scalars().all()
            events = (
                (
                    await conn.execute(
                        text(
                            "SELECT payload->>'contact_id' FROM journey_events WHERE type = 'ContactReceived'"
                        )
                    )
                )
                .scalars()
                .all()
            )
            positions = (await conn.execute(text("SELECT position FROM journey_events"))).scalars().all()
    finally:
        await engine.dispose()
    assert sorted(str(x) for x in stored) == sorted(ids)
    # Exactly one ContactReceived per contact: none lost, none duplicated.
    assert sorted(events) == sorted(ids)
    assert len(positions) == len(set(positions))

    # Like any client, retried on 503: the last kill may have left dead connections in the pool that
    # were checked in too recently to be pinged (shared.db.PING_IDLE_AFTER_SECONDS), and the first
    # request to meet one gets a 503 while the pool is discarded.
    for _ in range(5):
        verify = await client.get("/admin/verify", headers=token("admin", sub="drill-admin"))
        if verify.status_code != 503:
            break
        await asyncio.sleep(0.1)
    assert verify.status_code == 200, verify.text
    assert verify.json()["ok"] is True
    return statuses


@pytest.mark.parametrize(
    ("contacts", "restarts"),
    [
        pytest.param(40, 10, id="short"),
        pytest.param(600, 100, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(3600)]),
    ],
)
async def test_connections_killed_under_write_load_give_503_and_lose_nothing(
    app_client: Any, token: Any, db_urls: dict[str, str], contacts: int, restarts: int
) -> None:
    if BACKEND != "postgres":
        pytest.skip("needs PostgreSQL (pg_terminate_backend)")
    client = await app_client("referrals")
    db_name = make_url(db_urls["referrals"]).database
    assert db_name

    async def disrupt(done: asyncio.Event, kills: list[int]) -> None:
        await terminate_backends(db_name, done, kills, restarts)

    await contacts_survive(client, token, db_urls["referrals"], contacts, disrupt)


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        yield cluster.init()
    finally:
        cluster.destroy()


@pytest.mark.parametrize(
    ("contacts", "restarts"),
    [
        pytest.param(30, 3, id="short"),
        pytest.param(600, 30, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(3600)]),
    ],
)
async def test_postgresql_restarted_under_write_load_gives_503_and_loses_nothing(
    app_client: Any, token: Any, private_cluster: PrivateCluster, contacts: int, restarts: int
) -> None:
    """The real thing, on a private cluster: the server is stopped (alternately a clean fast shutdown
    and an immediate one, which is a crash needing WAL recovery) and started again, under load."""
    if BACKEND != "postgres":
        pytest.skip("needs PostgreSQL")
    admin = create_async_engine(private_cluster.url("postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text('CREATE DATABASE "referrals"'))
    await admin.dispose()
    url = private_cluster.url("referrals")
    engine = create_async_engine(url)
    await upgrade("referrals", engine)
    await engine.dispose()
    client = await app_client("referrals", database_url=url)

    async def disrupt(done: asyncio.Event, restarted: list[int]) -> None:
        try:
            for n in range(restarts):
                await asyncio.sleep(random.uniform(0.3, 0.8))
                mode = "fast" if n % 2 == 0 else "immediate"
                await asyncio.to_thread(private_cluster.stop, mode)
                await asyncio.sleep(random.uniform(0.1, 0.5))  # requests meet a server that is down
                await asyncio.to_thread(private_cluster.start)
                restarted.append(1)
        finally:
            done.set()

    statuses = await contacts_survive(client, token, url, contacts, disrupt)
    assert statuses.get(201, 0) >= contacts
