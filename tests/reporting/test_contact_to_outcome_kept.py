"""Contact to outcome from the kept counts: every figure equals the report's definitions applied to
the contacts themselves (recounted here in Python), for every grouping and for ranges of whole
months or not. The percentiles come from the durations counted: per month (those counted per day
on a range's partial edge months added or taken off), per week and day for weeks, and per key and
month for a key (those counted per key and day on its partial edge months added or taken off)."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from reporting_kit import authorised, contact, decision, half_up, utc
from sqlalchemy import select
from test_conversion_days import assert_days_match_contacts, supersede

from services.reporting.projections.contact_days import DURATIONS, US_PER_HOUR, duration_step, step_value
from services.reporting.projections.models import ContactFact
from services.reporting.reports.models import ContactToOutcomeGroupBy, GroupBy
from services.reporting.reports.service import Reports, period_of
from services.reporting.settings import Settings
from shared.working_days import LONDON, london_date

SOURCES = ("1A", "2A", "6")
# Written out here, not taken from the service: the report's day names and their order (ISO).
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
AREAS = ("West", "East", "")


async def build_contacts(w, seed: int = 7, n: int = 60, start: datetime | None = None) -> None:
    """`n` contacts over the 182 days from `start` (January to June 2024, London, by default), times
    to the second: decided (some twice, the first decision superseded), authorised or not,
    undecided, backdated."""
    rng = random.Random(seed)
    for i in range(n):
        journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        received = (start or utc(2024, 1, 1)) + timedelta(seconds=rng.randrange(182 * 86400))
        recorded = received + timedelta(hours=rng.choice((0, 0, 0, 30)))  # some backdated
        await w.ref(
            journey,
            contact(contact_id, child, received, rng.choice(SOURCES), area=AREAS[i % 3], team=f"T{i % 4}"),
            recorded,
        )
        if rng.random() < 0.15:
            continue  # never decided: overdue by now
        first = uuid.uuid4()
        outcome = rng.choice(("NFA", "EARLY_HELP", "CIN_ASSESSMENT", "STRATEGY_S47"))
        decided = received + timedelta(seconds=rng.randrange(1, 120 * 3600))
        await w.ref(journey, decision(first, contact_id, child, outcome, decided), decided)
        current = first
        if rng.random() < 0.2:
            later = decided + timedelta(hours=rng.randrange(1, 48))
            await supersede(w, journey, contact_id, child, first, "CIN_ASSESSMENT", later)
            continue  # the superseding decision (a referral) stays unauthorised
        if outcome in ("CIN_ASSESSMENT", "STRATEGY_S47") and rng.random() < 0.7:
            at = decided + timedelta(seconds=rng.randrange(60, 72 * 3600))
            await w.ref(journey, authorised(current, contact_id, at), at)


def nearest_rank(values: list[float], p: int) -> float:
    return sorted(values)[max(1, math.ceil(p / 100 * len(values))) - 1]


def expected_report(
    contacts: list[dict[str, Any]],
    group_by: GroupBy | ContactToOutcomeGroupBy,
    first: str,
    last: str,
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """The report's rows by group (and ALL), by its definitions, from the contacts' stored columns;
    by day of the week, the weekday of received_at's London date (zoneinfo's, not the service's)."""
    start, end = (datetime.fromisoformat(d).date() for d in (first, last))
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in contacts:
        day = london_date(c["received_at"])
        if not start <= day <= end:
            continue
        if group_by == ContactToOutcomeGroupBy.day_of_week:
            key = DAY_NAMES[c["received_at"].astimezone(LONDON).weekday()]
        elif group_by in (GroupBy.week, GroupBy.month, GroupBy.quarter):
            key = period_of(GroupBy(group_by.value), day)
        else:
            column = {"source": "source", "area": "area", "team": "team_id", "outcome": "current_outcome"}
            value = c[column[group_by.value]]
            key = value or ("undecided" if group_by == GroupBy.outcome else "unknown")
        groups[key].append(c)
        groups["ALL"].append(c)
    rows = {}
    for key, members in groups.items():
        decided = [c for c in members if c["first_decided_at"] is not None]
        auth = [c for c in decided if c["working_hours_to_authorisation"] is not None]
        overdue = sum(1 for c in members if c["first_decided_at"] is None and c["decision_due_at"] < now)
        within = sum(1 for c in decided if c["decided_within_timescale"])
        row: dict[str, Any] = {
            "contacts": len(members),
            "backdated": sum(1 for c in members if c["backdated"]),
            "decided": len(decided),
            "undecided": len(members) - len(decided),
            "with_superseded_decision": sum(1 for c in members if c["decisions"] > 1),
            "due": len(decided) + overdue,
            "decided_within_timescale": within,
            "pct_decided_within_timescale": half_up(100 * within / (len(decided) + overdue))
            if decided or overdue
            else None,
            "authorised": len(auth),
            "awaiting_authorisation": sum(
                1 for c in decided if c["requires_authorisation"] and c["authorised_at"] is None
            ),
        }
        for name, column in DURATIONS.items():
            over = decided if name.startswith("decision") else auth
            values = [c[column] or 0 for c in over]
            if not values:
                row.update({f"{name}_median": None, f"{name}_p90": None, f"{name}_mean": None})
                continue
            hours = name.endswith("_hours")
            total = sum(round(v * US_PER_HOUR) for v in values) / US_PER_HOUR if hours else sum(values)
            row[f"{name}_median"] = step_value(name, duration_step(name, nearest_rank(values, 50)))
            row[f"{name}_p90"] = step_value(name, duration_step(name, nearest_rank(values, 90)))
            row[f"{name}_mean"] = half_up(total / len(values))
        rows[key] = row
    return rows


async def report(w, token, **params: str) -> dict[str, Any]:
    r = await w.reporting.get("/reports/contact-to-outcome", params=params, headers=token("analyst"))
    assert r.status_code == 200, r.text
    return r.json()


RANGES = [("2024-01-01", "2024-06-30"), ("2024-02-01", "2024-03-31"), ("2024-01-15", "2024-05-20")]


async def test_every_figure_follows_the_definitions_for_every_grouping_and_range(world_factory, token):
    w = await world_factory()
    consumer = w.consumer("referrals")
    consumer.batch_size = consumer.catch_up_batch_size = 7  # contacts change across batches
    await build_contacts(w)
    await w.catch_up("referrals")
    await assert_days_match_contacts(w)
    async with consumer.db.read_session() as session:
        contacts = [dict(r) for r in (await session.execute(select(ContactFact.__table__))).mappings()]
    assert any(c["decisions"] > 1 for c in contacts) and any(c["backdated"] for c in contacts)
    now = datetime.now(UTC)
    for first, last in RANGES:
        for group_by in ContactToOutcomeGroupBy:
            body = await report(w, token, **{"from": first, "to": last, "group_by": group_by.value})
            expected = expected_report(contacts, ContactToOutcomeGroupBy(group_by), first, last, now)
            got = {body["overall"]["group"]: body["overall"]} | {g["group"]: g for g in body["groups"]}
            assert set(got) == set(expected), (first, last, group_by)
            if group_by is ContactToOutcomeGroupBy.day_of_week:
                assert [g["group"] for g in body["groups"]] == [d for d in DAY_NAMES if d in expected]
            for key, row in expected.items():
                assert {k: got[key][k] for k in row} == row, (first, last, group_by, key)

    # A rebuild in one batch gives the same reports, and so does one in batches of three pages.
    before = await report(w, token, **{"from": "2024-01-01", "to": "2024-06-30"})
    assert consumer.rebuild_batch_size == Settings.model_fields["consumer_rebuild_batch_size"].default
    consumer.batch_size = consumer.catch_up_batch_size = 500
    await consumer.rebuild()
    await assert_days_match_contacts(w)
    assert await report(w, token, **{"from": "2024-01-01", "to": "2024-06-30"}) == before
    consumer.batch_size = consumer.catch_up_batch_size = 7
    consumer.rebuild_batch_size = 21
    await consumer.rebuild()
    await assert_days_match_contacts(w)
    assert await report(w, token, **{"from": "2024-01-01", "to": "2024-06-30"}) == before


# Ranges over October 2023 to March 2024: whole months; one day off each end; mid-month to
# mid-month; edges in adjacent months; within one month (its days added, or the month taken whole
# and the days around them taken off); a single day; across the year end.
KEPT_RANGES = [
    ("2023-11-01", "2024-02-29"),
    ("2023-11-02", "2024-02-28"),
    ("2023-10-14", "2024-03-17"),
    ("2023-10-25", "2024-02-05"),
    ("2023-12-20", "2024-01-10"),
    ("2024-01-05", "2024-01-25"),
    ("2024-01-10", "2024-01-12"),
    ("2023-12-31", "2023-12-31"),
]


def test_edge_months_read_the_fewer_days():
    """Each month the range covers in part is either its days in range, added, or the whole month
    less the days outside the range, whichever reads fewer days; together they cover the range."""
    for first, last in [*KEPT_RANGES, *RANGES]:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
        kept, spans = Reports._kept_months(start, end)
        counted: Counter[date] = Counter()
        for month in kept:
            day = month
            while day.month == month.month:
                counted[day] += 1
                day += timedelta(days=1)
        for a, b, sign in spans:
            assert a.replace(day=1) == b.replace(day=1) and a <= b, (first, last)
            assert (b - a).days + 1 <= 16, (first, last)  # at most about half a month
            for i in range((b - a).days + 1):
                counted[a + timedelta(days=i)] += sign
        in_range = {start + timedelta(days=i) for i in range((end - start).days + 1)}
        assert +counted == Counter(in_range), (first, last)
    kept, spans = Reports._kept_months(date(2024, 1, 2), date(2024, 3, 30))
    assert kept == [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    assert spans == [(date(2024, 1, 1), date(2024, 1, 1), -1), (date(2024, 3, 31), date(2024, 3, 31), -1)]
    kept, spans = Reports._kept_months(date(2024, 1, 25), date(2024, 1, 27))
    assert (kept, spans) == ([], [(date(2024, 1, 25), date(2024, 1, 27), 1)])


@pytest.mark.parametrize("group_by", [g.value for g in ContactToOutcomeGroupBy])
async def test_every_grouping_follows_the_definitions_over_whole_and_partial_months(
    world_factory, token, group_by
):
    """Every grouping reads the durations counted: the range's partial edge months from the days'
    counts (the whole, months, quarters, weeks) or, for a key, from its key's days' counts."""
    w = await world_factory()
    await build_contacts(w, seed=11, n=120, start=utc(2023, 10, 1))
    await w.catch_up("referrals")
    async with w.consumer("referrals").db.read_session() as session:
        contacts = [dict(r) for r in (await session.execute(select(ContactFact.__table__))).mappings()]
    now = datetime.now(UTC)
    for first, last in KEPT_RANGES:
        got_report = await report(w, token, **{"from": first, "to": last, "group_by": group_by})
        expected = expected_report(contacts, ContactToOutcomeGroupBy(group_by), first, last, now)
        got = {got_report["overall"]["group"]: got_report["overall"]} | {
            g["group"]: g for g in got_report["groups"]
        }
        assert set(got) == set(expected), (first, last)
        for key, row in expected.items():
            assert {k: got[key][k] for k in row} == row, (first, last, key)


async def test_partial_edge_months_are_read_from_the_durations_counted_per_day(world_factory, token):
    """Whatever the grouping (time or key), no contact row is read for the percentiles, even where
    the range covers months in part: with the contacts gone from the projection (the kept rows left
    as they were), every ranged report is unchanged."""
    from sqlalchemy import delete

    w = await world_factory()
    await build_contacts(w, seed=5, n=90, start=utc(2023, 10, 1))
    await w.catch_up("referrals")
    ranges = [("2023-10-14", "2024-03-17"), ("2023-12-20", "2024-01-10"), ("2024-01-05", "2024-01-25")]
    before = {}
    for first, last in ranges:
        for group_by in ContactToOutcomeGroupBy:
            before[(first, last, group_by)] = await report(
                w, token, **{"from": first, "to": last, "group_by": group_by}
            )
    assert all(b["overall"]["decision_working_hours_median"] is not None for b in before.values())
    async with w.consumer("referrals").db.unit_of_work() as session:
        await session.execute(delete(ContactFact))
    for (first, last, group_by), body in before.items():
        after = await report(w, token, **{"from": first, "to": last, "group_by": group_by})
        assert {k: v for k, v in after.items() if k != "freshness"} == {
            k: v for k, v in body.items() if k != "freshness"
        }, (first, last, group_by)


async def test_hour_percentiles_are_given_to_a_tenth_of_an_hour(world_factory, token):
    w = await world_factory()
    # Received 09:00 on a working day; decided 1 h 14 min 59 s and 1 h 15 min later (London, GMT).
    for minutes, seconds in ((74, 59), (75, 0)):
        journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        received = utc(2024, 1, 9, 9)
        decided = received + timedelta(minutes=minutes, seconds=seconds)
        await w.ref(journey, contact(contact_id, child, received, "6"), received)
        await w.ref(journey, decision(uuid.uuid4(), contact_id, child, "NFA", decided), decided)
    await w.catch_up("referrals")
    # The kept counts for a whole month, less the days after; the contacts' day added to the kept
    # counts (no month whole); the days' counts (week); the key's month; the key's month less its
    # last day's contacts.
    ways = [
        ("2024-01-01", "2024-01-31", "month"),
        ("2024-01-01", "2024-01-30", "month"),
        ("2024-01-09", "2024-01-09", "month"),
        ("2024-01-01", "2024-01-31", "week"),
        ("2024-01-01", "2024-01-31", "source"),
        ("2024-01-01", "2024-01-30", "source"),
    ]
    for first, last, group_by in ways:
        o = (await report(w, token, **{"from": first, "to": last, "group_by": group_by}))["overall"]
        # 1.2497 h rounds to 1.2, 1.25 h (a half) up to 1.3; the mean keeps 2 places.
        assert (o["decision_calendar_hours_median"], o["decision_calendar_hours_p90"]) == (1.2, 1.3)
        assert (o["decision_working_hours_median"], o["decision_working_hours_p90"]) == (1.2, 1.3)
        assert o["decision_calendar_hours_mean"] == 1.25


@pytest.mark.parametrize("within", [1, 3])
def test_every_contact_received_before_the_settled_day_is_past_its_deadline(within):
    """Overdue reads the undecided count kept per day for the days `_past_deadline_before(now)` says
    are settled. Over three weeks around Christmas and New Year (bank holidays, weekends), every
    instant received before that day has its deadline before now, and the day is the first one
    that can be said of (a contact received at its end is not past its deadline)."""
    from types import SimpleNamespace

    from services.reporting.settings import Settings

    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", decision_within_working_days=within)
    reports = Reports(SimpleNamespace(bind=None), settings, None)  # type: ignore[arg-type]
    statutory, n = reports.statutory, within
    for hour in range(0, 21 * 24, 5):
        now = utc(2024, 12, 16) + timedelta(hours=hour, minutes=17)
        settled = reports._past_deadline_before(now)
        for minutes in range(0, 20 * 24 * 60, 45):
            received = now - timedelta(minutes=minutes)
            if london_date(received) < settled:
                assert statutory.deadline(received, n) < now, (now, received)
        last_instant = datetime.combine(settled, datetime.max.time(), tzinfo=LONDON).astimezone(UTC)
        assert settled > london_date(now) or statutory.deadline(last_instant, n) >= now, now


async def test_overdue_counts_recent_contacts_one_by_one_and_older_ones_from_the_kept_rows(
    world_factory, token
):
    w = await world_factory()
    now = datetime.now(UTC)
    ages = [timedelta(hours=2), timedelta(days=3), timedelta(days=10), timedelta(days=40)]
    for i, age in enumerate(ages):
        for decided in (False, True):
            journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            received = now - age
            await w.ref(journey, contact(contact_id, child, received, SOURCES[i % 3]), received)
            if decided:
                at = received + timedelta(minutes=30)
                await w.ref(journey, decision(uuid.uuid4(), contact_id, child, "NFA", at), at)
    await w.catch_up("referrals")
    async with w.consumer("referrals").db.read_session() as session:
        contacts = [dict(r) for r in (await session.execute(select(ContactFact.__table__))).mappings()]
    first, last = (london_date(now) - timedelta(days=60)).isoformat(), london_date(now).isoformat()
    for group_by in (ContactToOutcomeGroupBy.month, GroupBy.source, ContactToOutcomeGroupBy.day_of_week):
        body = await report(w, token, **{"from": first, "to": last, "group_by": group_by.value})
        expected = expected_report(contacts, group_by, first, last, datetime.now(UTC))
        got = {body["overall"]["group"]: body["overall"]} | {g["group"]: g for g in body["groups"]}
        assert {k: (r["due"], r["undecided"]) for k, r in got.items()} == {
            k: (r["due"], r["undecided"]) for k, r in expected.items()
        }
    # Those received 10 and 40 days ago are past their deadline (counted from the kept rows), the
    # newest is not (read one by one); 3 days ago depends on the weekday the test runs.
    overdue = got["ALL"]["due"] - got["ALL"]["decided"]
    assert got["ALL"]["undecided"] == 4 and overdue in (2, 3)
