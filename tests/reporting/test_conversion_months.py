"""Conversion and contact to outcome from the counts kept per London month and key
(rpt_contact_months): the months a range covers whole, or more than half of, are read from the month
rows, and only its edge months' other days from the day rows (rpt_contact_days), so every figure
still equals counting the contacts, over whole and partial months alike."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import pytest
from reporting_kit import utc
from sqlalchemy import delete, or_, select, text
from test_contact_to_outcome_kept import KEPT_RANGES, build_contacts, report
from test_conversion_days import assert_days_match_contacts

from services.reporting.projections.models import ContactDay, ContactFact, ContactMonth
from services.reporting.reports.models import GroupBy
from services.reporting.reports.service import Reports, period_of
from shared.db import Database
from shared.migrations import downgrade, upgrade
from shared.working_days import london_date

OUTCOMES = {
    "nfa": "NFA",
    "info_advice": "INFO_ADVICE",
    "early_help": "EARLY_HELP",
    "cin_assessment": "CIN_ASSESSMENT",
    "strategy_s47": "STRATEGY_S47",
    "existing_open_case": "EXISTING_OPEN_CASE",
    "other": "OTHER",
}


def expected_conversion(
    contacts: list[dict[str, Any]], group_by: GroupBy, first: str, last: str
) -> dict[str, dict[str, int]]:
    """The conversion counts by group (and ALL) from the contacts' stored columns."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in contacts:
        day = london_date(c["received_at"])
        if not start <= day <= end:
            continue
        if group_by in (GroupBy.week, GroupBy.month, GroupBy.quarter):
            key = period_of(group_by, day)
        else:
            column = {"source": "source", "area": "area", "team": "team_id", "outcome": "current_outcome"}
            key = c[column[group_by.value]] or ("undecided" if group_by is GroupBy.outcome else "unknown")
        outcome = c["current_outcome"]
        for row in (rows[key], rows["ALL"]):
            row["contacts"] += 1
            row["repeat_contacts"] += int(c["repeat_contact"])
            row["decided"] += int(bool(outcome))
            row["referrals"] += int(outcome in ("CIN_ASSESSMENT", "STRATEGY_S47"))
            row["re_referrals"] += int(c["re_referral"])
            for name, code in OUTCOMES.items():
                row[name] += int(outcome == code)
    return {key: dict(row) for key, row in rows.items()}


async def conversion(w, token, **params: str) -> dict[str, dict[str, int]]:
    r = await w.reporting.get("/reports/conversion", params=params, headers=token("analyst"))
    assert r.status_code == 200, r.text
    body = r.json()
    return {g["group"]: g for g in [body["overall"], *body["groups"]]}


async def stored_contacts(w) -> list[dict[str, Any]]:
    async with w.consumer("referrals").db.read_session() as session:
        return [dict(r) for r in (await session.execute(select(ContactFact.__table__))).mappings()]


@pytest.mark.parametrize("group_by", list(GroupBy))
async def test_conversion_follows_the_contacts_over_whole_and_partial_months(world_factory, token, group_by):
    w = await world_factory()
    consumer = w.consumer("referrals")
    consumer.batch_size = consumer.catch_up_batch_size = 9  # contacts change across batches
    await build_contacts(w, seed=13, n=120, start=utc(2023, 10, 1))
    await w.catch_up("referrals")
    await assert_days_match_contacts(w)
    contacts = await stored_contacts(w)
    for first, last in KEPT_RANGES:
        got = await conversion(w, token, **{"from": first, "to": last, "group_by": group_by.value})
        expected = expected_conversion(contacts, group_by, first, last)
        assert set(got) == set(expected), (first, last)
        for key, row in expected.items():
            assert {k: got[key][k] for k in row} == row, (first, last, key)


async def test_the_months_taken_whole_are_read_from_the_month_rows(world_factory, token):
    """With every day row deleted but those of the spans the range reads from them (its edge
    months' days in range, or those out of range of a month taken whole), conversion, contact to
    outcome and the control bands are unchanged; by week, which reads every day's row, they are not."""
    w = await world_factory()
    await build_contacts(w, seed=17, n=120, start=utc(2023, 10, 1))
    await w.catch_up("referrals")
    first, last = "2023-10-14", "2024-03-17"
    ranged = {"from": first, "to": last}
    whole = {"from": "2023-11-01", "to": "2024-02-29"}
    before = {
        "source": await conversion(w, token, **ranged, group_by="source"),
        "month": await conversion(w, token, **ranged, group_by="month"),
        "week": await conversion(w, token, **ranged, group_by="week"),
        "outcome": await report(w, token, **ranged, group_by="team"),
    }
    bands = await w.reporting.get("/reports/conversion/control-bands", params=whole, headers=token("analyst"))
    assert bands.status_code == 200, bands.text
    kept, spans = Reports._kept_months(date.fromisoformat(first), date.fromisoformat(last))
    assert kept and spans
    days = ContactDay.__table__  # type: ignore[attr-defined]
    async with w.consumer("referrals").db.unit_of_work() as session:
        deleted = await session.execute(
            delete(days).where(~or_(*[days.c.day.between(a, b) for a, b, _ in spans]))
        )
        assert deleted.rowcount > 0
    assert await conversion(w, token, **ranged, group_by="source") == before["source"]
    assert await conversion(w, token, **ranged, group_by="month") == before["month"]
    after = await report(w, token, **ranged, group_by="team")
    assert {k: v for k, v in after.items() if k != "freshness"} == {
        k: v for k, v in before["outcome"].items() if k != "freshness"
    }
    again = await w.reporting.get("/reports/conversion/control-bands", params=whole, headers=token("analyst"))
    assert {k: v for k, v in again.json().items() if k != "freshness"} == {
        k: v for k, v in bands.json().items() if k != "freshness"
    }
    assert await conversion(w, token, **ranged, group_by="week") != before["week"]


async def test_the_contact_months_migration_fills_them_from_the_day_counts(fresh_database):
    """5c1e8a3f9d27 adds the counts kept per London month and key to a projection kept per day:
    each month and key is the sum of its days', so no replay; a key left at zeros on every day of
    a month counts nothing. Its downgrade drops them and keeps the day rows."""
    db = Database(fresh_database("reporting_contact_months_migration"))
    days = [
        (date(2024, 12, 31), "all", "ALL", 3, 1),
        (date(2025, 1, 1), "all", "ALL", 2, 2),
        (date(2025, 1, 31), "all", "ALL", 4, 0),
        (date(2025, 1, 15), "source", "6", 5, 1),
        (date(2025, 1, 16), "source", "6", 1, 1),
        (date(2025, 1, 20), "outcome", "NFA", 0, 0),  # its contacts moved to another outcome
        (date(2025, 3, 30), "team", "T1", 6, 6),  # the Sunday the clocks go forward
    ]
    try:
        await upgrade("reporting", db.engine, "9ee92a08cf45")
        async with db.engine.begin() as conn:
            for day, dimension, key, contacts, referrals in days:
                await conn.execute(
                    text(
                        "INSERT INTO rpt_contact_days (day, dimension, key, contacts, repeat_contacts,"
                        " decided, nfa, info_advice, early_help, cin_assessment, strategy_s47,"
                        " existing_open_case, other, referrals, re_referrals, first_decided, backdated,"
                        " with_superseded_decision, decided_within_timescale, authorised,"
                        " awaiting_authorisation, sum_decision_working_hours_us, sum_decision_working_days,"
                        " sum_decision_calendar_hours_us, sum_authorisation_working_hours_us,"
                        " sum_authorisation_working_days, sum_authorisation_calendar_hours_us)"
                        " VALUES (:day, :dimension, :key, :contacts, 0, :referrals, 0, 0, 0, :referrals, 0,"
                        " 0, 0, :referrals, 0, :referrals, 0, 0, 0, 0, 0, :us, 0, :us, 0, 0, 0)"
                    ),
                    {
                        "day": day,
                        "dimension": dimension,
                        "key": key,
                        "contacts": contacts,
                        "referrals": referrals,
                        "us": referrals * 3_600_000_000_000,  # over 2**31: the sums are big integers
                    },
                )
        await upgrade("reporting", db.engine, "5c1e8a3f9d27")
        async with db.read_session() as session:
            months = [dict(r) for r in (await session.execute(select(ContactMonth.__table__))).mappings()]
        await downgrade("reporting", db.engine, "9ee92a08cf45")
        async with db.engine.connect() as conn:
            kept_days = (await conn.execute(text("SELECT count(*) FROM rpt_contact_days"))).scalar_one()
            tables = await conn.run_sync(lambda c: c.dialect.get_table_names(c))
    finally:
        await db.dispose()
    found = {
        (r["month"], r["dimension"], r["key"]): (
            r["contacts"],
            r["referrals"],
            r["sum_decision_working_hours_us"],
        )
        for r in months
    }
    hour = 3_600_000_000_000
    assert found == {
        (date(2024, 12, 1), "all", "ALL"): (3, 1, hour),
        (date(2025, 1, 1), "all", "ALL"): (6, 2, 2 * hour),
        (date(2025, 1, 1), "source", "6"): (6, 2, 2 * hour),
        (date(2025, 3, 1), "team", "T1"): (6, 6, 6 * hour),
    }
    assert kept_days == len(days) and "rpt_contact_months" not in tables
