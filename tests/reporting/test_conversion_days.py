"""The counts kept per London day and key (rpt_contact_days) and per London month and key
(rpt_contact_months), and the durations counted per London
month, day, ISO week, month and weekday, key and month, and key and day (rpt_contact_duration_months,
_days, _weeks, _weekday_months, _key_months, _key_days, and their bands) always equal counting the
contacts, re-referral flags included, however the events are split into batches."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest
from platform_kit import postgres_only
from reporting_kit import contact, decision, utc
from sqlalchemy import Column, MetaData, func, inspect, select, text
from sqlalchemy.engine import Connection

from services.referrals import events as rev
from services.reporting.projections.contact_days import (
    BAND,
    COUNTS,
    counts,
    duration_step,
    durations,
    group_keys,
)
from services.reporting.projections.models import (
    ContactDay,
    ContactDurationBand,
    ContactDurationDay,
    ContactDurationDayBand,
    ContactDurationKeyBand,
    ContactDurationKeyDay,
    ContactDurationKeyDayBand,
    ContactDurationKeyMonth,
    ContactDurationMonth,
    ContactDurationWeek,
    ContactDurationWeekBand,
    ContactDurationWeekdayBand,
    ContactDurationWeekdayMonth,
    ContactFact,
    ContactMonth,
)
from shared.dates import one_year_before
from shared.db import Database
from shared.migrations import downgrade, upgrade
from shared.working_days import london_date

ALL_TIME = {"from": "2023-01-01", "to": "2025-12-31"}
REFERRALS = {"CIN_ASSESSMENT", "STRATEGY_S47"}


async def assert_days_match_contacts(w) -> None:
    """Recount the stored contacts by the report's definitions and compare with the kept rows."""
    async with w.consumer("referrals").db.read_session() as session:
        contacts = [dict(row) for row in (await session.execute(select(ContactFact.__table__))).mappings()]
        kept = (await session.execute(select(ContactDay.__table__))).mappings().all()
        kept_contact_months = (await session.execute(select(ContactMonth.__table__))).mappings().all()
        kept_months = (await session.execute(select(ContactDurationMonth.__table__))).mappings().all()
        kept_bands = (await session.execute(select(ContactDurationBand.__table__))).mappings().all()
        kept_days = (await session.execute(select(ContactDurationDay.__table__))).mappings().all()
        kept_day_bands = (await session.execute(select(ContactDurationDayBand.__table__))).mappings().all()
        kept_weeks = (await session.execute(select(ContactDurationWeek.__table__))).mappings().all()
        kept_week_bands = (await session.execute(select(ContactDurationWeekBand.__table__))).mappings().all()
        kept_weekday_months = (
            (await session.execute(select(ContactDurationWeekdayMonth.__table__))).mappings().all()
        )
        kept_weekday_bands = (
            (await session.execute(select(ContactDurationWeekdayBand.__table__))).mappings().all()
        )
        kept_key_months = (await session.execute(select(ContactDurationKeyMonth.__table__))).mappings().all()
        kept_key_bands = (await session.execute(select(ContactDurationKeyBand.__table__))).mappings().all()
        kept_key_days = (await session.execute(select(ContactDurationKeyDay.__table__))).mappings().all()
        kept_key_day_bands = (
            (await session.execute(select(ContactDurationKeyDayBand.__table__))).mappings().all()
        )
    for c in contacts:
        # Brute force: any other referral of the child received before it on or after its London
        # date a year earlier, or at the same instant with a lower id.
        c["re_referral"] = c["current_outcome"] in REFERRALS and any(
            o["child_id"] == c["child_id"]
            and o["contact_id"] != c["contact_id"]
            and o["current_outcome"] in REFERRALS
            and (
                (
                    o["received_at"] < c["received_at"]
                    and london_date(o["received_at"]) >= one_year_before(london_date(c["received_at"]))
                )
                or (o["received_at"] == c["received_at"] and o["contact_id"] < c["contact_id"])
            )
            for o in contacts
        )
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    for c in contacts:
        for dimension, key in group_keys(c):
            cell = expected[(london_date(c["received_at"]), dimension, key)]
            for i, value in enumerate(counts(c)):
                cell[i] += value
    stored = {
        (row["day"], row["dimension"], row["key"]): [row[name] for name in COUNTS]
        for row in kept
        if any(row[name] for name in COUNTS)
    }
    assert stored == dict(expected)
    # A month's counts are its days' added up.
    expected_months: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    for (day, dimension, key), cell in expected.items():
        month = expected_months[(day.replace(day=1), dimension, key)]
        month[:] = [a + b for a, b in zip(month, cell, strict=True)]
    stored_months = {
        (row["month"], row["dimension"], row["key"]): [row[name] for name in COUNTS]
        for row in kept_contact_months
        if any(row[name] for name in COUNTS)
    }
    assert stored_months == {at: cell for at, cell in expected_months.items() if any(cell)}
    months: dict[tuple, int] = defaultdict(int)
    bands: dict[tuple, int] = defaultdict(int)
    days: dict[tuple, int] = defaultdict(int)
    day_bands: dict[tuple, int] = defaultdict(int)
    weeks: dict[tuple, int] = defaultdict(int)
    week_bands: dict[tuple, int] = defaultdict(int)
    weekday_months: dict[tuple, int] = defaultdict(int)
    weekday_bands: dict[tuple, int] = defaultdict(int)
    key_months: dict[tuple, int] = defaultdict(int)
    key_bands: dict[tuple, int] = defaultdict(int)
    key_days: dict[tuple, int] = defaultdict(int)
    key_day_bands: dict[tuple, int] = defaultdict(int)
    for c in contacts:
        for name, value in durations(c):
            day, step = london_date(c["received_at"]), duration_step(name, value)
            months[(day.replace(day=1), name, step)] += 1
            bands[(day.replace(day=1), name, step // BAND)] += 1
            days[(day, name, step)] += 1
            day_bands[(day, name, step // BAND)] += 1
            # Brute force: the Monday of the day's ISO week.
            monday = date.fromisocalendar(*day.isocalendar()[:2], 1)
            weeks[(monday, name, step)] += 1
            week_bands[(monday, name, step // BAND)] += 1
            # Brute force: ISO weekday 1 (Monday) .. 7 is kept as 0 .. 6.
            weekday = day.isoweekday() - 1
            weekday_months[(day.replace(day=1), weekday, name, step)] += 1
            weekday_bands[(day.replace(day=1), weekday, name, step // BAND)] += 1
            for dimension, key in group_keys(c)[1:]:
                key_months[(dimension, key, day.replace(day=1), name, step)] += 1
                key_bands[(dimension, key, day.replace(day=1), name, step // BAND)] += 1
                key_days[(dimension, key, day, name, step)] += 1
                key_day_bands[(dimension, key, day, name, step // BAND)] += 1
    for rows, columns, recounted in (
        (kept_months, ("month", "metric", "value"), months),
        (kept_bands, ("month", "metric", "band"), bands),
        (kept_days, ("day", "metric", "value"), days),
        (kept_day_bands, ("day", "metric", "band"), day_bands),
        (kept_weeks, ("week", "metric", "value"), weeks),
        (kept_week_bands, ("week", "metric", "band"), week_bands),
        (kept_weekday_months, ("month", "weekday", "metric", "value"), weekday_months),
        (kept_weekday_bands, ("month", "weekday", "metric", "band"), weekday_bands),
        (kept_key_months, ("dimension", "key", "month", "metric", "value"), key_months),
        (kept_key_bands, ("dimension", "key", "month", "metric", "band"), key_bands),
        (kept_key_days, ("dimension", "key", "day", "metric", "value"), key_days),
        (kept_key_day_bands, ("dimension", "key", "day", "metric", "band"), key_day_bands),
    ):
        stored_counts = {tuple(r[c] for c in columns): r["contacts"] for r in rows if r["contacts"]}
        assert stored_counts == dict(recounted)


async def conversion(w, token, **params: str) -> dict:
    r = await w.reporting.get("/reports/conversion", params={**ALL_TIME, **params}, headers=token("analyst"))
    assert r.status_code == 200, r.text
    return r.json()


async def supersede(w, journey: uuid.UUID, contact_id: uuid.UUID, child: uuid.UUID, old: uuid.UUID,
                    outcome: str, at: datetime) -> None:  # fmt: skip
    new = uuid.uuid4()
    await w.ref(journey, decision(new, contact_id, child, outcome, at, supersedes=old), at)
    await w.ref(
        journey,
        rev.ThresholdDecisionSuperseded(
            decision_id=old, contact_id=contact_id, superseded_by_decision_id=new, reason="new_information"
        ),
        at,
    )


async def test_re_referrals_follow_a_childs_outcomes_across_journeys(world_factory, token):
    w = await world_factory()
    consumer = w.consumer("referrals")
    consumer.batch_size = consumer.catch_up_batch_size = 1  # every event its own batch: all deltas
    child = uuid.uuid4()
    received = [utc(2024, 1, 10, 9), utc(2024, 3, 1, 9), utc(2024, 6, 1, 9)]
    outcomes = ["CIN_ASSESSMENT", "STRATEGY_S47", "CIN_ASSESSMENT"]
    journeys = [uuid.uuid4() for _ in received]
    contacts = [uuid.uuid4() for _ in received]
    decisions = [uuid.uuid4() for _ in received]
    for journey, contact_id, decision_id, at, outcome in zip(
        journeys, contacts, decisions, received, outcomes, strict=True
    ):
        await w.ref(journey, contact(contact_id, child, at, "6"), at)
        await w.ref(journey, decision(decision_id, contact_id, child, outcome, at.replace(hour=12)), at)
    await w.catch_up("referrals")
    await assert_days_match_contacts(w)
    o = (await conversion(w, token))["overall"]
    assert (o["contacts"], o["referrals"], o["re_referrals"]) == (3, 3, 2)

    # The first referral becomes NFA: the second has no referral before it any more.
    await supersede(w, journeys[0], contacts[0], child, decisions[0], "NFA", utc(2024, 6, 10, 9))
    await w.catch_up("referrals")
    await assert_days_match_contacts(w)
    o = (await conversion(w, token))["overall"]
    assert (o["nfa"], o["referrals"], o["re_referrals"]) == (1, 2, 1)

    # The second becomes early help: the third has none either.
    await supersede(w, journeys[1], contacts[1], child, decisions[1], "EARLY_HELP", utc(2024, 6, 11, 9))
    await w.catch_up("referrals")
    await assert_days_match_contacts(w)
    body = await conversion(w, token, group_by="outcome")
    assert (body["overall"]["referrals"], body["overall"]["re_referrals"]) == (1, 0)
    # The outcome groups follow the current decisions; the emptied S47 row is not a group.
    groups = {g["group"]: g["contacts"] for g in body["groups"]}
    assert groups == {"NFA": 1, "EARLY_HELP": 1, "CIN_ASSESSMENT": 1}

    # A rebuild in one batch keeps the same rows and the same report.
    months = await conversion(w, token, group_by="month")
    consumer.batch_size = consumer.catch_up_batch_size = 500
    await consumer.rebuild()
    await assert_days_match_contacts(w)
    assert await conversion(w, token, group_by="month") == months
    assert [g["group"] for g in months["groups"]] == ["2024-01", "2024-03", "2024-06"]


async def test_a_new_contact_of_a_known_child_is_counted_against_the_childs_earlier_referrals(
    world_factory, token
):
    w = await world_factory()
    child = uuid.uuid4()
    first, second = utc(2024, 2, 1, 9), utc(2024, 9, 1, 9)
    j1, c1 = uuid.uuid4(), uuid.uuid4()
    await w.ref(j1, contact(c1, child, first, "6"), first)
    await w.ref(j1, decision(uuid.uuid4(), c1, child, "STRATEGY_S47", first.replace(hour=12)), first)
    await w.catch_up("referrals")
    # The later journey arrives in a batch of its own: the earlier referral is only in the database.
    j2, c2 = uuid.uuid4(), uuid.uuid4()
    await w.ref(j2, contact(c2, child, second, "2A"), second)
    await w.ref(j2, decision(uuid.uuid4(), c2, child, "CIN_ASSESSMENT", second.replace(hour=12)), second)
    await w.catch_up("referrals")
    await assert_days_match_contacts(w)
    body = await conversion(w, token, group_by="source")
    assert (body["overall"]["referrals"], body["overall"]["re_referrals"]) == (2, 1)
    assert {g["group"]: g["re_referrals"] for g in body["groups"]} == {"2A": 1, "6": 0}


@postgres_only("the reports benchmark clones PostgreSQL projections")
async def test_the_benchmarks_clone_keeps_the_kept_counts_equal_to_the_contacts(world_factory, token):
    """bench/reports.py doubles the projection with fresh ids; the per-day counts must double with it,
    or the benchmark would time a report on rows that disagree with the contacts."""
    from bench.reports import clone_projection

    w = await world_factory()
    child = uuid.uuid4()
    for at in (utc(2024, 2, 1, 9), utc(2024, 5, 1, 9)):
        journey, contact_id = uuid.uuid4(), uuid.uuid4()
        await w.ref(journey, contact(contact_id, child, at, "6"), at)
        await w.ref(journey, decision(uuid.uuid4(), contact_id, child, "CIN_ASSESSMENT", at), at)
    await w.catch_up("referrals")
    before = (await conversion(w, token))["overall"]
    assert (before["contacts"], before["re_referrals"]) == (2, 1)

    await clone_projection(w.consumer("referrals").db.url, 1)
    await assert_days_match_contacts(w)
    after = (await conversion(w, token))["overall"]
    assert (after["contacts"], after["referrals"], after["re_referrals"]) == (4, 4, 2)


@postgres_only("the reports benchmark pads PostgreSQL projections")
async def test_the_benchmarks_padding_counts_every_tenth_of_an_hour_in_every_month(world_factory, token):
    """bench/reports.py times contact to outcome again with the durations counted per month padded
    to a worst case: every value up to its bounds, once more, in each month of its range, for the
    whole and for each team key the data has."""
    from bench.reports import PADDED_DAYS, PADDED_HOURS, RANGE, pad_duration_months

    w = await world_factory()
    # Two teams known from undecided contacts outside the range (so no durations of their own).
    for team in ("T1", "T2"):
        journey, contact_id, at = uuid.uuid4(), uuid.uuid4(), utc(2024, 3, 1, 9)
        await w.ref(journey, contact(contact_id, uuid.uuid4(), at, "6", team=team), at)
    await w.catch_up("referrals")
    consumer = w.consumer("referrals")
    rows = await pad_duration_months(consumer.db.url)
    assert RANGE == ("2025-01-01", "2025-12-31")
    per_month = 4 * (PADDED_HOURS * 10 + 1) + 2 * (PADDED_DAYS + 1)
    assert rows == {"months": 12 * per_month, "key_months": 2 * 12 * per_month}
    # The bands count the same values: per month, key and duration, their totals agree.
    async with consumer.db.read_session() as session:
        for values, bands, keys in (
            (ContactDurationMonth, ContactDurationBand, ()),
            (ContactDurationKeyMonth, ContactDurationKeyBand, ("dimension", "key")),
        ):
            totals = []
            for table in (values.__table__, bands.__table__):
                grouped = [table.c.month, table.c.metric, *(table.c[k] for k in keys)]
                query = select(*grouped, func.sum(table.c.contacts)).group_by(*grouped)
                totals.append({tuple(row[:-1]): row[-1] for row in await session.execute(query)})
            assert totals[0] == totals[1] and len(totals[0]) == 12 * 6 * (2 if keys else 1)
    for group_by in ("month", "team"):
        r = await w.reporting.get(
            "/reports/contact-to-outcome",
            params={"from": RANGE[0], "to": RANGE[1], "group_by": group_by},
            headers=token("analyst"),
        )
        assert r.status_code == 200, r.text


# The durations each day row of the migrations' tests counts: (metric, value, its band).
DAY_VALUES = (("decision_working_hours", 34, 3), ("decision_working_days", 2, 0))


async def filled_from_days(
    db: Database, before: str, revision: str, days: list[tuple[date, int]], *tables: type
) -> list[list[dict]]:
    """The rows of `tables` once a projection at `before`, kept per day (each of `days` counting
    its contacts at each of DAY_VALUES), is upgraded to `revision`."""
    await upgrade("reporting", db.engine, before)
    async with db.engine.begin() as conn:
        for day, n in days:
            for metric, value, band in DAY_VALUES:
                values = {"metric": metric, "value": value, "band": band, "day": day, "n": n}
                for sql in (
                    "INSERT INTO rpt_contact_duration_days VALUES (:metric, :value, :day, :n)",
                    "INSERT INTO rpt_contact_duration_day_bands VALUES (:day, :metric, :band, :n)",
                ):
                    await conn.execute(text(sql), values)
    await upgrade("reporting", db.engine, revision)
    async with db.read_session() as session:
        return [[dict(r) for r in (await session.execute(select(t.__table__))).mappings()] for t in tables]


async def test_the_week_counts_migration_fills_them_from_the_day_counts(fresh_database):
    """e7c1a4f0b2d8 adds the durations counted per ISO week to a projection already kept per day:
    each week is the sum of its days (Monday to Sunday, across a year's end too), so no replay."""
    db = Database(fresh_database("reporting_weeks_migration"))
    days = [
        (date(2024, 12, 30), 3),  # a Monday: ISO week 2025-W01
        (date(2025, 1, 1), 2),
        (date(2025, 1, 5), 1),  # Sunday, the same week
        (date(2025, 1, 6), 4),  # Monday, the next
        (date(2025, 1, 12), 0),  # a row left at zero counts nothing
        (date(2025, 3, 30), 5),  # the Sunday the clocks go forward
    ]
    try:
        # The next revision empties the projections.
        weeks, week_bands = await filled_from_days(
            db, "d9f3a5b72c4e", "e7c1a4f0b2d8", days, ContactDurationWeek, ContactDurationWeekBand
        )
    finally:
        await db.dispose()
    expected: dict[date, int] = defaultdict(int)
    for day, n in days:
        if n:
            expected[date.fromisocalendar(*day.isocalendar()[:2], 1)] += n
    assert expected == {date(2024, 12, 30): 6, date(2025, 1, 6): 4, date(2025, 3, 24): 5}
    assert {(r["week"], r["metric"], r["value"]): r["contacts"] for r in weeks} == {
        (week, metric, value): n for week, n in expected.items() for metric, value, _ in DAY_VALUES
    }
    assert {(r["week"], r["metric"], r["band"]): r["contacts"] for r in week_bands} == {
        (week, metric, band): n for week, n in expected.items() for metric, _, band in DAY_VALUES
    }


async def test_the_weekday_counts_migration_fills_them_from_the_day_counts(fresh_database):
    """4b8e1f6c2a07 adds the durations counted per London month and weekday to a projection kept
    per day: each is the sum of that month's days of that weekday (0 Monday .. 6 Sunday), so no
    replay; and keys the day rows by day first, keeping every one (as its downgrade keeps them,
    keyed as before)."""
    db = Database(fresh_database("reporting_weekdays_migration"))
    days = [
        (date(2024, 12, 30), 3),  # a Monday, in the ISO week of 2025-01-01 but in December's month
        (date(2025, 1, 3), 1),  # a Friday
        (date(2025, 1, 31), 2),  # a Friday: the same month and weekday
        (date(2025, 2, 7), 4),  # a Friday of the next month
        (date(2025, 1, 6), 0),  # a row left at zero counts nothing
        (date(2025, 3, 30), 5),  # the Sunday the clocks go forward
        (date(2025, 3, 31), 6),  # the Monday after
    ]
    try:
        rows, bands, kept_days = await filled_from_days(
            db,
            "7d2f9b4e6a13",
            "4b8e1f6c2a07",
            days,
            ContactDurationWeekdayMonth,
            ContactDurationWeekdayBand,
            ContactDurationDay,
        )

        def keyed(conn: Connection) -> tuple[list[str], dict[tuple, int]]:
            rows = conn.execute(text("SELECT day, metric, value, contacts FROM rpt_contact_duration_days"))
            found = {(date.fromisoformat(str(day)), metric, value): n for day, metric, value, n in rows}
            return inspect(conn).get_pk_constraint("rpt_contact_duration_days")["constrained_columns"], found

        await downgrade("reporting", db.engine, "7d2f9b4e6a13")
        async with db.engine.connect() as conn:
            downgraded = await conn.run_sync(keyed)
    finally:
        await db.dispose()
    expected: dict[tuple[date, int], int] = defaultdict(int)
    for day, n in days:
        if n:
            expected[(day.replace(day=1), day.isoweekday() - 1)] += n
    assert expected == {
        (date(2024, 12, 1), 0): 3,
        (date(2025, 1, 1), 4): 3,
        (date(2025, 2, 1), 4): 4,
        (date(2025, 3, 1), 6): 5,
        (date(2025, 3, 1), 0): 6,
    }
    assert {(r["month"], r["weekday"], r["metric"], r["value"]): r["contacts"] for r in rows} == {
        (*at, metric, value): n for at, n in expected.items() for metric, value, _ in DAY_VALUES
    }
    assert {(r["month"], r["weekday"], r["metric"], r["band"]): r["contacts"] for r in bands} == {
        (*at, metric, band): n for at, n in expected.items() for metric, _, band in DAY_VALUES
    }
    # The day rows, keyed anew by day first, are all still there.
    stored = {(day, metric, value): n for day, n in days for metric, value, _ in DAY_VALUES}
    assert {(r["day"], r["metric"], r["value"]): r["contacts"] for r in kept_days} == stored
    assert downgraded == (["metric", "value", "day"], stored)


async def test_the_week_counts_migration_keys_them_by_week_before_value(fresh_database):
    """9ee92a08cf45 keys the durations counted per week (metric, week, value), so that a week's band
    is one range of the key: every row is kept, and its downgrade keys them as before, keeping
    them too."""
    db = Database(fresh_database("reporting_weeks_key_migration"))
    rows = {
        ("decision_working_hours", 34, date(2025, 1, 6), 3),
        ("decision_working_hours", 34, date(2025, 1, 13), 2),
        ("decision_working_hours", 35, date(2025, 1, 6), 1),
        ("decision_working_days", 2, date(2024, 12, 30), 4),
    }

    def keyed(conn: Connection) -> tuple[list[str], set[tuple]]:
        found = conn.execute(text("SELECT metric, value, week, contacts FROM rpt_contact_duration_weeks"))
        kept = {(metric, value, date.fromisoformat(str(week)), n) for metric, value, week, n in found}
        return inspect(conn).get_pk_constraint("rpt_contact_duration_weeks")["constrained_columns"], kept

    try:
        await upgrade("reporting", db.engine, "4b8e1f6c2a07")
        async with db.engine.begin() as conn:
            for metric, value, week, n in rows:
                await conn.execute(
                    text("INSERT INTO rpt_contact_duration_weeks VALUES (:metric, :value, :week, :n)"),
                    {"metric": metric, "value": value, "week": week, "n": n},
                )
        await upgrade("reporting", db.engine, "9ee92a08cf45")
        async with db.engine.connect() as conn:
            upgraded = await conn.run_sync(keyed)
        await downgrade("reporting", db.engine, "4b8e1f6c2a07")
        async with db.engine.connect() as conn:
            downgraded = await conn.run_sync(keyed)
    finally:
        await db.dispose()
    assert upgraded == (["metric", "week", "value"], rows)
    assert downgraded == (["metric", "value", "week"], rows)


async def test_the_key_day_counts_migration_replays_the_feeds(fresh_database):
    """b3f8d2e6a4c1 adds durations counted per key and day, which only the contacts' London days can
    give: it empties every projection and sets both feeds' positions to 0, so the consumers replay
    them; other positions are left alone."""
    from services.reporting.db import metadata

    db = Database(fresh_database("reporting_key_days_migration"))
    try:
        await upgrade("reporting", db.engine, "e7c1a4f0b2d8")
        async with db.engine.begin() as conn:
            for sql in (
                "INSERT INTO rpt_contact_duration_key_months"
                " VALUES ('team', 'decision_working_days', 'T1', 2, '2025-01-01', 3)",
                "INSERT INTO rpt_contact_duration_weeks VALUES ('decision_working_days', 2, '2025-01-06', 3)",
                "INSERT INTO rpt_contact_duration_days VALUES ('decision_working_days', 2, '2025-01-06', 3)",
            ):
                await conn.execute(text(sql))
            for feed, position in (("referrals", 120), ("supervision", 40), ("elsewhere", 7)):
                await conn.execute(
                    text(
                        "INSERT INTO consumer_positions (feed, position, updated_at)"
                        " VALUES (:feed, :position, CURRENT_TIMESTAMP)"
                    ),
                    {"feed": feed, "position": position},
                )
        await upgrade("reporting", db.engine)
        async with db.engine.connect() as conn:
            left = {
                table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                for table in metadata.sorted_tables
                if table.name.startswith("rpt_")
            }
            positions = dict(
                (await conn.execute(text("SELECT feed, position FROM consumer_positions"))).all()
            )
    finally:
        await db.dispose()
    assert "rpt_contact_duration_key_days" in left and "rpt_contact_duration_key_day_bands" in left
    assert set(left.values()) == {0}
    assert positions == {"referrals": 0, "supervision": 0, "elsewhere": 7}


@pytest.mark.parametrize(
    ("before", "revision"),
    [
        # Re-referral flags and counts kept by instant, not date; hundredths and tenths kept rounded
        # halves to even.
        ("b3f8d2e6a4c1", "ed88f9f9216a"),
        # Journeys kept without their current worker, counts without the newly-qualified register.
        ("ed88f9f9216a", "c2d7e5f81a94"),
        # The handovers' counts kept per key too: their tables made anew with new keys.
        ("091fd86f0724", "5e0c3b7d9a21"),
        # The handovers' counts kept per London day too, for a range's partial edge months.
        ("5e0c3b7d9a21", "3c9e7a5d1f48"),
        # The handovers' counts kept per ISO week too, for handovers by week.
        ("3c9e7a5d1f48", "7d2f9b4e6a13"),
    ],
)
async def test_the_migrations_that_change_kept_values_replay_the_feeds(fresh_database, before, revision):
    """A migration after which the values kept are stale empties every projection table there is (a
    row put in each, found by reading the schema, not from a list) and sets both feeds' positions
    to 0, so the consumers replay them."""
    samples: dict[type, object] = {
        int: 1,
        float: 1.0,
        bool: True,
        str: "x",
        date: date(2025, 1, 6),
        datetime: datetime(2025, 1, 6, 9, tzinfo=UTC),
        uuid.UUID: uuid.uuid4(),
        object: {},  # JSON
    }

    def sample(column: Column) -> object:
        try:
            return samples[column.type.python_type]
        except NotImplementedError:  # a type Python does not name, such as SQLite's CHAR(32) uuids
            return "x"

    db = Database(fresh_database(f"reporting_replay_migration_{revision}"))
    try:
        await upgrade("reporting", db.engine, before)
        async with db.engine.begin() as conn:
            schema = MetaData()
            await conn.run_sync(schema.reflect)
            projections = [t for t in schema.sorted_tables if t.name.startswith("rpt_")]
            for table in projections:
                await conn.execute(table.insert().values({c.name: sample(c) for c in table.columns}))
            for feed, position in (("referrals", 120), ("supervision", 40), ("elsewhere", 7)):
                await conn.execute(
                    text(
                        "INSERT INTO consumer_positions (feed, position, updated_at)"
                        " VALUES (:feed, :position, CURRENT_TIMESTAMP)"
                    ),
                    {"feed": feed, "position": position},
                )
        await upgrade("reporting", db.engine, revision)
        async with db.engine.connect() as conn:
            left = {
                t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                for t in projections
            }
            positions = dict(
                (await conn.execute(text("SELECT feed, position FROM consumer_positions"))).all()
            )
    finally:
        await db.dispose()
    assert len(left) >= 25 and "rpt_contacts" in left and "rpt_contact_days" in left
    assert left == dict.fromkeys(left, 0)
    assert positions == {"referrals": 0, "supervision": 0, "elsewhere": 7}
