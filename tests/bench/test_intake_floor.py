"""The intake floor (`bench/intake_floor.py`) writes what `POST /contacts` writes.

Its figure is only a floor for the real route if it does the same work: the same rows in the same
tables, with the same values (ids and clocks aside), an event that passes the hash-chain check, and
the same answer. A column, an audit row or an event field added to the route and not to the floor
fails this test."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from platform_kit import postgres_only
from sqlalchemy import text

from bench.intake import contact_body
from bench.intake_floor import create as create_floor
from services.referrals.db import platform
from shared.db import Database
from shared.events.verify import verify_log

pytestmark = postgres_only("the floor writes with asyncpg, as the intake benchmark runs it")

TABLES = ("children", "journeys", "contacts", "audit_log", "idempotency_keys", "journey_events")
# Different on every request, or a hash over such values.
_VARYING = {"hash", "request_hash", "position", "id", "request_id", "correlation_id", "key"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def _same_shape(value: Any) -> Any:
    """The value with ids and instants replaced by what they are, recursively."""
    if isinstance(value, dict):
        return {k: "<varies>" if k in _VARYING else _same_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_same_shape(v) for v in value]
    if isinstance(value, uuid.UUID) or (isinstance(value, str) and _UUID.match(value)):
        return "<uuid>"
    if hasattr(value, "isoformat") and hasattr(value, "hour"):
        return "<instant>"
    if isinstance(value, str) and _INSTANT.match(value):
        return "<instant>"
    return value


async def _rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    async with db.read_session() as session:
        return {
            table: sorted(
                (
                    _same_shape(dict(r._mapping))
                    for r in await session.execute(text(f"SELECT * FROM {table}"))
                ),
                key=repr,
            )
            for table in TABLES
        }


async def _post(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.post("/contacts", json=contact_body(), headers={**headers, "Idempotency-Key": "k-1"})
    assert r.status_code == 201, r.text
    return dict(_same_shape(r.json()))


async def test_the_floor_writes_what_the_route_writes(app_client, settings_for, token, clean_db):
    settings = settings_for("referrals")
    headers = token("practitioner", sub="bench-practitioner", team="FD-WEST")
    client = await app_client("referrals")
    team = {"id": "FD-WEST", "name": "West", "area": "West", "service_type": "front_door"}
    assert (await client.post("/teams", json=team, headers=token("manager", sub="m1"))).status_code == 201
    db = client.app.state.service.db  # type: ignore[attr-defined]

    async with db.unit_of_work() as session:
        await session.execute(text("DELETE FROM audit_log"))  # the team's creation, not the contact's
    answer = await _post(client, headers)
    route_rows = await _rows(db)
    async with db.unit_of_work() as session:
        for table in reversed(TABLES):
            await session.execute(text(f"DELETE FROM {table}"))

    floor = create_floor(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=floor), base_url="http://floor") as c:
        assert await _post(c, headers) == answer
    assert await _rows(db) == route_rows
    assert [len(route_rows[t]) for t in TABLES] == [1, 1, 1, 2, 1, 1]
    assert route_rows["journey_events"][0]["payload"]["area"] == "West"
    assert platform.events is not None
    async with db.read_session() as session:
        assert (await verify_log(session, platform.events)).ok
    for pool in floor.state.floor_pool:
        await pool.close()
    await floor.state.service.db.dispose()
