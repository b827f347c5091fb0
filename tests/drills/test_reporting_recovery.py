"""Drills: reporting killed with SIGKILL mid catch-up, and the referrals feed down while reporting polls.

The services run as real uvicorn subprocesses. Journey events are written straight into the producers'
logs (the generator in bench/ builds them with the catalogue models and correct hash chains), so the
drills exercise only the feed, the consumer and reporting's projections.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from drillkit import (
    ServerFactory,
    bearer,
    head,
    live,
    positions,
    scalar,
    wait_for,
    write_journeys,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

# Columns that say when a row was (re)computed rather than what it describes.
VOLATILE = {"updated_at", "projected_at", "applied_at", "refreshed_at", "last_applied_at"}
PLATFORM_TABLES = {"consumer_positions", "audit_log", "idempotency_keys", "alembic_version"}


async def snapshot(url: str) -> dict[str, list[tuple[str, ...]]]:
    """Every projection row, as sorted tuples of strings, without volatile bookkeeping columns."""
    from services.reporting.db import metadata

    engine = create_async_engine(url)
    out: dict[str, list[tuple[str, ...]]] = {}
    try:
        async with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name in PLATFORM_TABLES:
                    continue
                cols = [c for c in table.columns if c.name not in VOLATILE]
                rows = (await conn.execute(select(*cols))).all()
                out[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    finally:
        await engine.dispose()
    return out


async def rebuild_from_zero(url: str, referrals_url: str, supervision_url: str) -> None:
    from services.reporting.main import build_service
    from services.reporting.settings import Settings

    service = build_service(
        Settings(
            database_url=url,
            referrals_url=referrals_url,
            supervision_url=supervision_url,
            environment="test",
            rate_limit_per_minute=0,
        )
    )
    try:
        for consumer in service.consumers:
            await consumer.rebuild()
    finally:
        for consumer in service.consumers:
            await consumer.close()
        await service.db.dispose()


def reporting_env(referrals_url: str, supervision_url: str) -> dict[str, str]:
    return {"REPORTING_REFERRALS_URL": referrals_url, "REPORTING_SUPERVISION_URL": supervision_url}


async def caught_up(db_urls: dict[str, str]) -> bool:
    pos = await positions(db_urls["reporting"])
    return pos.get("referrals") == await head(db_urls["referrals"]) and pos.get("supervision") == await head(
        db_urls["supervision"]
    )


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(1500, id="short"),
        pytest.param(20_000, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(7200)]),
    ],
)
async def test_kill9_during_catch_up_then_restart_equals_rebuild_from_zero(
    servers: ServerFactory, db_urls: dict[str, str], events: int
) -> None:
    written = await write_journeys(db_urls, events, register=True)
    referrals = servers("referrals")
    supervision = servers("supervision")
    env = reporting_env(referrals.url, supervision.url)
    reporting = servers("reporting", **env)

    async def some_applied() -> int:
        return (await positions(db_urls["reporting"])).get("referrals", 0)

    at_kill = await wait_for(some_applied, within=120, every=0.005)
    reporting.kill9()
    ref_head = await head(db_urls["referrals"])
    assert written["referrals"] >= events
    # The kill landed mid catch-up: some batches committed, not all.
    assert 0 < at_kill < ref_head, (at_kill, ref_head)

    reporting = servers("reporting", **env)
    await wait_for(lambda: caught_up(db_urls), within=600, every=0.2)
    reporting.stop()
    after_restart = await snapshot(db_urls["reporting"])

    await rebuild_from_zero(db_urls["reporting"], referrals.url, supervision.url)
    assert await caught_up(db_urls)
    rebuilt = await snapshot(db_urls["reporting"])

    assert sum(len(rows) for rows in rebuilt.values()) > 0
    # The kept counts are compared too: a catch-up split by the kill gives the rebuild's rows.
    assert rebuilt["rpt_supervision_days"] and rebuilt["rpt_supervision_overdue"]
    # ... and so is the newly-qualified register, with the journeys' current workers it applies to.
    assert rebuilt["rpt_newly_qualified"]
    assert after_restart.keys() == rebuilt.keys()
    for name in rebuilt:
        assert after_restart[name] == rebuilt[name], f"{name} differs after kill -9 and restart"


@pytest.mark.parametrize(
    "outage_seconds",
    [
        pytest.param(3.0, id="short"),
        pytest.param(30.0, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(7200)]),
    ],
)
async def test_referrals_down_reporting_keeps_serving_reports_lag_and_catches_up(
    servers: ServerFactory, db_urls: dict[str, str], outage_seconds: float
) -> None:
    await write_journeys(db_urls, 400, seed=2)
    referrals = servers("referrals")
    supervision = servers("supervision")
    reporting = servers("reporting", **reporting_env(referrals.url, supervision.url))
    await wait_for(lambda: caught_up(db_urls), within=120)

    referrals_port = referrals.port
    referrals.stop()
    # Written while the feed is unreachable (as if committed just before the outage).
    more = await write_journeys(db_urls, 300, seed=3)
    analyst = bearer("analyst", sub="drill-analyst")
    statuses: list[int] = []
    readiness: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=reporting.url, timeout=10) as client:
        loop = asyncio.get_running_loop()
        end = loop.time() + outage_seconds
        while loop.time() < end:
            assert reporting.proc is not None and reporting.proc.poll() is None, "reporting crashed"
            r = await client.get("/health/ready")
            statuses.append(r.status_code)
            readiness.append(r.json())
            await asyncio.sleep(0.25)
        report = await client.get(
            "/reports/contact-to-outcome", params={"from": "2025-01-01", "to": "2026-12-31"}, headers=analyst
        )
    assert live(reporting)
    assert report.status_code == 200, report.text
    last = {c["feed"]: c for c in readiness[-1]["consumers"]}["referrals"]
    assert last["upstream_ok"] is False
    assert last["last_error"]
    assert last["lag_seconds"] > 0
    assert all(s in (200, 503) for s in statuses)

    servers("referrals", port=referrals_port)
    await wait_for(lambda: caught_up(db_urls), within=120, every=0.2)

    async def ready_and_fresh() -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=5) as c:
            r = (await c.get(f"{reporting.url}/health/ready")).json()
        feed = {c["feed"]: c for c in r["consumers"]}["referrals"]
        return feed if feed["upstream_ok"] and feed["lag_events"] == 0 else None

    feed = await wait_for(ready_and_fresh, within=60, every=0.2)
    assert feed["lag_seconds"] == 0
    # Every contact written during the outage reached the contact projection.
    contacts = await scalar(
        db_urls["referrals"], "SELECT count(*) FROM journey_events WHERE type = 'ContactReceived'"
    )
    assert contacts > more["referrals"] // 10
    assert await scalar(db_urls["reporting"], "SELECT count(*) FROM rpt_contacts") == contacts
