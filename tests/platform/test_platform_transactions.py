"""Issue 2, item 2: one transaction per request; a failed request or a failed commit stores nothing."""

from __future__ import annotations

from platform_kit import orphans, things
from sqlalchemy import func, select

from shared.errors import PROBLEM_JSON


async def _counts(producer) -> dict[str, int]:
    tables = producer.service.tables
    out = {}
    async with producer.service.db.read_session() as session:
        for name, table in (
            ("things", things),
            ("orphans", orphans),
            ("audit", tables.audit),
            ("events", tables.events),
            ("keys", tables.idempotency),
        ):
            out[name] = (await session.execute(select(func.count()).select_from(table))).scalar_one()
    return out


NOTHING = {"things": 0, "orphans": 0, "audit": 0, "events": 0, "keys": 0}


async def test_a_successful_write_commits_everything_together(producer) -> None:
    p = await producer()
    r = await p.client.post("/things", json={"label": "a", "size": 1}, headers=p.auth("practitioner"))
    assert r.status_code == 201, r.text
    assert await _counts(p) == {"things": 1, "orphans": 0, "audit": 1, "events": 1, "keys": 0}


async def test_a_route_that_writes_then_refuses_stores_nothing(producer) -> None:
    p = await producer()
    r = await p.client.post("/things/drills/raise-problem", headers=p.auth("practitioner"))
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM_JSON
    assert await _counts(p) == NOTHING


async def test_a_route_that_writes_then_crashes_stores_nothing(producer) -> None:
    p = await producer()
    r = await p.client.post("/things/drills/raise-bug", headers=p.auth("practitioner"))
    assert r.status_code == 500
    assert await _counts(p) == NOTHING


async def test_a_write_that_fails_after_the_event_is_appended_stores_nothing(producer) -> None:
    p = await producer()
    p.hooks.fail_after_write = True
    r = await p.client.post(
        "/things",
        json={"label": "a", "size": 1},
        headers={**p.auth("practitioner"), "Idempotency-Key": "k-1"},
    )
    assert r.status_code == 500
    assert await _counts(p) == NOTHING


async def test_a_failed_commit_is_never_a_success(producer) -> None:
    """The deferred foreign key fails at COMMIT, after the route returned its 201 body."""
    p = await producer()
    r = await p.client.post("/things/drills/commit-fails", headers=p.auth("practitioner"))
    assert r.status_code == 500, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert "id" not in r.json()
    assert await _counts(p) == NOTHING
