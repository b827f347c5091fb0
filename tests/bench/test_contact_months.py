"""`bench.contact_months` times the contact counts read per day and per month on one rebuilt
projection: only if both readings give the same totals, and it drops its database afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from platform_kit import postgres_only

from bench import contact_months, rebuild

pytestmark = postgres_only("the benchmark rebuilds a PostgreSQL projection")


async def _exists(dsn: str) -> bool:
    server, name = dsn.rsplit("/", 1)
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def test_both_readings_are_timed_on_the_same_totals(
    fresh_database: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database("contact_months", create=False)
    monkeypatch.setattr(rebuild, "PG", url)
    saved: list[str] = []
    monkeypatch.setattr(contact_months, "save", lambda name, *_, **__: saved.append(name))

    out = contact_months.main(events=400, repeats=3)

    assert saved == ["contact-months"] and out["repeats"] == 3
    assert [name for name, *_ in contact_months.CASES] == list(out["cases"])
    for case in out["cases"].values():
        assert case["groups"] > 0 and case["contacts"] > 0
        assert all(case[how]["p50_ms"] > 0 for how in ("per_day", "per_month"))
    assert not asyncio.run(_exists(url.replace("postgresql+asyncpg", "postgresql")))


def test_readings_that_disagree_are_not_timed(
    fresh_database: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database("contact_months_disagree", create=False)
    monkeypatch.setattr(rebuild, "PG", url)
    monkeypatch.setattr(contact_months, "save", lambda *_, **__: None)

    async def nothing(*_: Any) -> dict[str, Any]:
        return {}

    monkeypatch.setattr(contact_months, "per_day", nothing)
    with pytest.raises(AssertionError, match="disagree"):
        contact_months.main(events=400, repeats=3)
