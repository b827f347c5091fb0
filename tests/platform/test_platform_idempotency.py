"""Issue 2, item 7: Idempotency-Key makes a creating POST safe to retry."""

from __future__ import annotations

import asyncio

import pytest
from platform_kit import postgres_only, things
from sqlalchemy import func, select

BODY = {"label": "a", "size": 1}


async def _count(p, table) -> int:
    async with p.service.db.read_session() as session:
        return (await session.execute(select(func.count()).select_from(table))).scalar_one()


async def _counts(p) -> tuple[int, int, int]:
    t = p.service.tables
    return (await _count(p, things), await _count(p, t.events), await _count(p, t.idempotency))


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_retry_replays_the_first_answer_and_creates_nothing(producer) -> None:
    p = await producer()
    headers = with_key(p.auth("practitioner"), "key-1")
    first = await p.client.post("/things", json=BODY, headers=headers)
    assert first.status_code == 201
    # Same body, keys in another order and other whitespace: the same request.
    again = await p.client.post(
        "/things",
        content=b'{ "size": 1,  "label": "a" }',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    # The headers a client acts on come back as first sent: where the record is, and its version.
    assert first.headers["location"] == f"/things/{first.json()['id']}"
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert await _counts(p) == (1, 1, 1)


async def test_a_replay_is_audited_as_a_read_of_what_the_first_request_audited(producer) -> None:
    p = await producer()
    headers = with_key(p.auth("practitioner", sub="u1"), "key-1")
    first = await p.client.post("/things", json=BODY, headers=headers)
    for _ in range(2):
        assert (await p.client.post("/things", json=BODY, headers=headers)).status_code == 201
    t = p.service.tables.audit
    async with p.service.db.read_session() as session:
        rows = (
            await session.execute(
                select(t.c.action, t.c.resource, t.c.resource_id, t.c.actor, t.c.reason).order_by(t.c.id)
            )
        ).all()
    thing = first.json()["id"]
    assert [tuple(r) for r in rows] == [
        ("create", "thing", thing, "u1", None),
        ("read", "thing", thing, "u1", "idempotent replay"),
        ("read", "thing", thing, "u1", "idempotent replay"),
    ]


async def test_without_a_key_each_post_creates(producer) -> None:
    p = await producer()
    for _ in range(2):
        assert (await p.client.post("/things", json=BODY, headers=p.auth("practitioner"))).status_code == 201
    assert await _counts(p) == (2, 2, 0)


async def test_the_same_key_with_another_body_is_422_naming_the_header(producer) -> None:
    p = await producer()
    headers = with_key(p.auth("practitioner"), "key-1")
    assert (await p.client.post("/things", json=BODY, headers=headers)).status_code == 201
    r = await p.client.post("/things", json={"label": "b", "size": 1}, headers=headers)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "idempotency_key_reused"
    assert body["invalid-params"] == [
        {"name": "Idempotency-Key", "location": "header", "reason": body["invalid-params"][0]["reason"]}
    ]
    assert await _counts(p) == (1, 1, 1)


async def test_a_retry_while_the_first_is_in_flight_is_409(producer) -> None:
    p = await producer()
    p.hooks.hold = asyncio.Event()
    headers = with_key(p.auth("practitioner"), "key-1")
    first = asyncio.create_task(p.client.post("/things", json=BODY, headers=headers))
    await asyncio.wait_for(p.hooks.entered.wait(), 10)
    second = await p.client.post("/things", json=BODY, headers=headers)
    assert second.status_code == 409
    assert second.json()["code"] == "idempotency_in_flight"
    p.hooks.hold.set()
    assert (await first).status_code == 201
    third = await p.client.post("/things", json=BODY, headers=headers)
    assert third.status_code == 201 and third.json() == (await first).json()
    assert await _counts(p) == (1, 1, 1)


@pytest.mark.postgres
@postgres_only("several processes share one database only on PostgreSQL (SQLite is one process)")
async def test_a_retry_in_flight_on_another_replica_is_409(producer) -> None:
    """Two app instances (two replicas) on one database: the in-process set cannot see the other
    replica's request, the advisory lock can."""
    replica_a, replica_b = await producer(), await producer()
    replica_a.hooks.hold = asyncio.Event()
    headers = with_key(replica_a.auth("practitioner"), "key-1")
    first = asyncio.create_task(replica_a.client.post("/things", json=BODY, headers=headers))
    await asyncio.wait_for(replica_a.hooks.entered.wait(), 10)
    second = await replica_b.client.post("/things", json=BODY, headers=headers)
    assert second.status_code == 409
    assert second.json()["code"] == "idempotency_in_flight"
    assert not replica_b.hooks.entered.is_set()
    replica_a.hooks.hold.set()
    assert (await first).status_code == 201
    replayed = await replica_b.client.post("/things", json=BODY, headers=headers)
    assert replayed.status_code == 201 and replayed.json() == (await first).json()
    assert await _counts(replica_a) == (1, 1, 1)


async def test_keys_are_scoped_per_caller(producer) -> None:
    p = await producer()
    one = await p.client.post("/things", json=BODY, headers=with_key(p.auth("practitioner", sub="u1"), "k"))
    two = await p.client.post("/things", json=BODY, headers=with_key(p.auth("practitioner", sub="u2"), "k"))
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]
    assert await _counts(p) == (2, 2, 2)


async def test_a_failed_write_leaves_no_key_so_a_retry_works(producer) -> None:
    p = await producer()
    headers = with_key(p.auth("practitioner"), "key-1")
    p.hooks.fail_after_write = True  # fails after the key was remembered, before commit
    assert (await p.client.post("/things", json=BODY, headers=headers)).status_code == 500
    assert await _counts(p) == (0, 0, 0)
    p.hooks.fail_after_write = False
    retry = await p.client.post("/things", json=BODY, headers=headers)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert await _counts(p) == (1, 1, 1)


async def test_many_different_keys(producer) -> None:
    """Every key works (on PostgreSQL each one maps to an advisory lock key in int4 range)."""
    p = await producer()
    statuses = [
        (
            await p.client.post("/things", json=BODY, headers=with_key(p.auth("practitioner"), f"key-{i}"))
        ).status_code
        for i in range(24)
    ]
    assert statuses == [201] * 24
    assert await _counts(p) == (24, 24, 24)
