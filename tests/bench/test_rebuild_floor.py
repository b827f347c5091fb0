"""`bench.rebuild_floor` copies back every row a rebuild ended with, into empty tables each time:
its COPY time is a floor for the rebuild only if it stores the same rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest
from platform_kit import postgres_only

from bench import rebuild, rebuild_floor

pytestmark = postgres_only("the floor is PostgreSQL's COPY")


async def _counts(dsn: str, tables: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}
    finally:
        await conn.close()


def test_the_floor_stores_what_the_rebuild_stored(
    fresh_database: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database("rebuild_floor", create=False)
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    monkeypatch.setattr(rebuild, "PG", url)
    monkeypatch.setattr(rebuild_floor, "DSN", dsn)
    saved: list[str] = []
    monkeypatch.setattr(rebuild_floor, "save", lambda name, *_, **__: saved.append(name))

    out = rebuild_floor.main(events=400)

    rows = out["final_rows"]
    assert rows["rpt_contacts"] > 0 and rows["rpt_timeline"] == out["rebuild"]["total"]["events"]
    # After the second COPY the database holds the rebuild's rows once, not twice.
    assert asyncio.run(_counts(dsn, list(rows))) == rows
    assert len(out["copy_in_s"]) == 2 and all(s > 0 for s in out["copy_in_s"])
    assert out["client_cpu_s"] > 0 and out["postgresql_cpu_s"] > 0
    # The ceiling is the machine's cores over the CPU both sides spent per event.
    per_event = (out["client_cpu_s"] + out["postgresql_cpu_s"]) / out["rebuild"]["total"]["events"]
    assert out["cpu_bound_events_per_s"] == pytest.approx(out["cores"] / per_event, rel=0.05)
    assert saved == ["rebuild-floor"]
