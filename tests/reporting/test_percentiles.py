"""Nearest-rank percentiles in SQL against the definition (value at rank ceil(p/100 x n)), on the
backend under test: PostgreSQL's percentile_disc path and the window-function path must both agree
with nearest_rank_of for awkward counts, ties, filtered rows and descending order."""

from __future__ import annotations

import math
import os
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from platform_kit import postgres_only
from sqlalchemy import func, text
from sqlmodel import col

from services.reporting.projections.models import ContactFact
from services.reporting.reports.models import GroupBy
from services.reporting.reports.service import Reports, count_if, freshness, nearest_rank_of

BACKEND = os.environ.get("FRONTDOOR_TEST_DB", "sqlite")
PS = (1, 10, 33, 50, 67, 90, 99, 100)
# Group sizes around the awkward ranks: n where p x n is or just misses a whole number.
SIZES = {"A": 1, "B": 2, "C": 3, "D": 7, "E": 10, "F": 11, "G": 29, "H": 30, "I": 31, "J": 101}
BASE = datetime(2025, 3, 1, tzinfo=UTC)


def facts() -> list[ContactFact]:
    pick = random.Random(7)
    rows = []
    for source, n in SIZES.items():
        for _ in range(n):
            received = BASE + timedelta(minutes=pick.choice(range(0, 600, 20)))  # many ties
            hours = pick.choice([None, 0.0, 0.5, 1.25, 1.25, 7.0, 3.1, 12.75])
            rows.append(
                ContactFact(
                    contact_id=uuid.UUID(int=pick.getrandbits(128)),
                    journey_id=uuid.uuid4(),
                    child_id=uuid.uuid4(),
                    received_at=received,
                    recorded_at=received,
                    decision_due_at=received,
                    source=source,
                    first_decided_at=None if hours is None else received,
                    working_hours_to_decision=hours,
                    working_days_to_decision=None if hours is None else int(hours // 3),
                )
            )
    return rows


def expected(values: list[Any], descending: bool = False) -> dict[int, Any]:
    """The definition, spelled out: the value at rank ceil(p/100 x n) of the sorted values."""
    ordered = sorted(values, reverse=descending)
    return {p: ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] for p in PS} if ordered else {}


async def test_sql_percentiles_are_nearest_rank(app_client: Any) -> None:
    client = await app_client("reporting")
    service = client.app.state.service
    rows = facts()
    async with service.db.unit_of_work() as session:
        session.add_all(rows)
    decided = col(ContactFact.first_decided_at).is_not(None)
    hours = func.coalesce(col(ContactFact.working_hours_to_decision), 0.0)
    days = func.coalesce(col(ContactFact.working_days_to_decision), 0)
    source = col(ContactFact.source)
    metrics = {
        "hours": (hours, decided),
        "days": (days, decided),
        "received": (col(ContactFact.received_at), None),
    }
    counts = [func.count().label("contacts"), count_if(decided).label("decided")]

    def want(members: list[ContactFact]) -> dict[str, dict[int, Any]]:
        done = [r for r in members if r.first_decided_at is not None]
        figures = {
            "hours": expected([r.working_hours_to_decision for r in done]),
            "days": expected([r.working_days_to_decision for r in done]),
            "received": expected([r.received_at for r in members]),
        }
        # The Python helper the handover report uses agrees with the definition too.
        days = Counter(int(r.working_days_to_decision or 0) for r in done)
        assert figures["days"] == ({p: nearest_rank_of(days, p) for p in PS} if done else {})
        return {k: v for k, v in figures.items() if v}

    by_source = {s: [r for r in rows if r.source == s] for s in SIZES}
    async with service.db.unit_of_work() as session:
        reports = Reports(session, service.settings, await freshness(session, []))
        assert reports.postgres is (BACKEND == "postgres")
        paths = [True, False] if reports.postgres else [False]  # PostgreSQL can run both
        for postgres in paths:
            reports.postgres = postgres
            overall, totals, whole, ranks = await reports._figures([], source, counts, metrics, PS)
            assert (overall["contacts"], overall["decided"]) == (
                len(rows),
                sum(r.first_decided_at is not None for r in rows),
            )
            assert whole == want(rows)
            assert sorted(totals) == sorted(SIZES)
            for s, members in by_source.items():
                assert totals[s]["contacts"] == len(members)
                assert ranks.get(s, {}) == want(members), (postgres, s)

            # Descending, and with no grouping.
            whole, ranks = await reports._nearest_ranks(
                [], None, {"received": col(ContactFact.received_at)}, PS, True
            )
            assert whole == {"received": expected([r.received_at for r in rows], descending=True)}
            assert ranks == {}

            # No rows: an overall row of zero, no percentiles, no groups.
            nothing = [col(ContactFact.received_at) < BASE]
            overall, totals, whole, ranks = await reports._figures(nothing, source, counts, metrics, PS)
            assert (overall["contacts"], totals, whole, ranks) == (0, {}, {}, {})


async def test_report_transactions_get_one_snapshot_the_configured_work_mem_and_custom_plans(
    app_client: Any, token: Any, monkeypatch: Any
) -> None:
    client = await app_client("reporting", report_work_mem_mb=48)
    service = client.app.state.service
    async with service.db.unit_of_work() as session:
        await Reports.configure_transaction(session, service.settings)  # a no-op on SQLite
        if BACKEND == "postgres":
            isolation = (await session.execute(text("SHOW transaction_isolation"))).scalar_one()
            assert isolation == "repeatable read"
            assert (await session.execute(text("SHOW work_mem"))).scalar_one() == "48MB"
            assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == "force_custom_plan"
    # Every report route sets it, before its first read.
    calls: list[str] = []
    configure_transaction = Reports.configure_transaction

    async def recorded(session: Any, settings: Any) -> None:
        # SET TRANSACTION fails once the transaction has read anything: this is its first statement.
        await configure_transaction(session, settings)
        show = "SHOW transaction_isolation" if BACKEND == "postgres" else "SELECT 'snapshot'"
        calls.append((await session.execute(text(show))).scalar_one())

    monkeypatch.setattr(Reports, "configure_transaction", staticmethod(recorded))
    r = await client.get(
        "/reports/conversion", params={"from": "2025-01-01", "to": "2025-01-31"}, headers=token("analyst")
    )
    assert r.status_code == 200, r.text
    assert calls == ["repeatable read" if BACKEND == "postgres" else "snapshot"]


@postgres_only("PostgreSQL's plan cache")
@pytest.mark.parametrize("configured", [True, False])
async def test_a_report_run_many_times_on_one_connection_is_planned_for_its_values(
    app_client: Any, configured: bool
) -> None:
    """The driver prepares a statement once per connection; from its sixth run PostgreSQL may use a
    generic plan, made without the date range's values. Report transactions ask for custom plans.
    (Unconfigured, the same runs do get a generic plan: the check below can fail.)"""
    client = await app_client("reporting")
    service = client.app.state.service
    async with service.db.unit_of_work() as session:
        if configured:
            await Reports.configure_transaction(session, service.settings)
        reports = Reports(session, service.settings, await freshness(session, []))
        as_of = datetime(2025, 3, 1, tzinfo=UTC)
        for _ in range(8):
            await reports.awaiting(BASE.date(), as_of.date(), GroupBy.team, as_of, 200)
        plans = (
            await session.execute(
                text(
                    "SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements"
                    " WHERE statement LIKE '%rpt_contacts%' AND statement NOT LIKE '%pg_prepared%'"
                )
            )
        ).all()
    generic = sum(p[0] for p in plans)
    if configured:
        assert generic == 0 and all(p[1] >= 8 for p in plans), plans
    else:
        assert generic > 0, plans
