"""Concurrent PUTs of a worker not yet on the register (PostgreSQL: SELECT ... FOR UPDATE locks nothing
when there is no row, so both used to INSERT and the loser answered 500 on the unique key).

PUT is idempotent: the loser applies its change on top of the winner's entry, as a later PUT would,
or answers 412 when its If-Match named the absent entry's ETag."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
from platform_kit import postgres_only, until_a_backend_waits_for_a_lock
from sqlalchemy import select, text
from sqlmodel import col

from services.supervision.workers.models import Worker
from shared.http import make_etag

pytestmark = postgres_only("SQLite serialises writers (BEGIN IMMEDIATE), so the two PUTs cannot race")


async def _entry(h, worker_id: str) -> dict[str, Any] | None:
    async with h.service.db.sessionmaker() as session:
        query = select(Worker).where(col(Worker.worker_id) == worker_id)
        row = (await session.execute(query)).scalar_one_or_none()
        return row.model_dump() if row else None


@pytest.mark.parametrize("if_match", [False, True])
async def test_put_racing_a_concurrent_create_does_not_fail(h, if_match: bool) -> None:
    """Deterministic: another transaction has inserted the entry, uncommitted, when the PUT looks for it;
    the PUT's insert waits for that transaction and then finds the row taken."""
    headers = h.manager(sub="m2")
    if if_match:  # "only if it does not exist yet"
        headers["If-Match"] = make_etag("nq-1", 0)
    async with h.service.db.engine.connect() as other:
        await other.execute(
            text(
                "INSERT INTO workers (worker_id, newly_qualified_until, version, updated_at, updated_by)"
                " VALUES ('nq-1', '2027-01-31', 1, :at, 'm1')"
            ),
            {"at": datetime(2026, 3, 2, 10, 0, tzinfo=UTC)},
        )
        put = asyncio.create_task(
            h.client.put("/workers/nq-1", json={"newly_qualified_until": "2027-06-30"}, headers=headers)
        )
        await until_a_backend_waits_for_a_lock(h.service.db.engine, "the PUT")
        await other.commit()
    r = await put
    stored = await _entry(h, "nq-1")
    assert stored is not None
    if if_match:
        assert r.status_code == 412 and r.headers["content-type"].startswith("application/problem+json")
        assert (stored["newly_qualified_until"], stored["version"], stored["updated_by"]) == (
            date(2027, 1, 31),
            1,
            "m1",
        )
    else:
        assert r.status_code == 200, r.text
        assert (r.json()["version"], r.json()["newly_qualified_until"]) == (2, "2027-06-30")
        assert r.headers["ETag"] == make_etag("nq-1", 2)
        assert (stored["newly_qualified_until"], stored["version"], stored["updated_by"]) == (
            date(2027, 6, 30),
            2,
            "m2",
        )


async def test_concurrent_puts_of_a_new_worker_both_apply(h) -> None:
    for i in range(5):
        worker_id = f"nq-{i}"
        bodies = [{"newly_qualified_until": "2027-06-30"}, {"newly_qualified_until": "2027-07-31"}]
        rs = await asyncio.gather(
            *[h.client.put(f"/workers/{worker_id}", json=b, headers=h.manager()) for b in bodies]
        )
        # The one that created the entry answers 201, the one applied on top of it 200 (a replacement).
        assert sorted(r.status_code for r in rs) == [200, 201], [r.text for r in rs]
        assert {r.status_code: r.json()["version"] for r in rs} == {201: 1, 200: 2}
        assert sorted(r.json()["version"] for r in rs) == [1, 2]
        last = max(rs, key=lambda r: r.json()["version"]).json()
        stored = await _entry(h, worker_id)
        assert stored is not None
        assert (stored["version"], stored["newly_qualified_until"].isoformat()) == (
            2,
            last["newly_qualified_until"],
        )
