"""Handovers from the kept counts: every figure equals the report's definitions applied to the
journeys themselves (recounted here in Python), for every grouping, for ranges of whole months or
not, at one `now` and later ones (live journeys' unallocated time grows); a range grouped by
month, quarter or a key reads the counts kept per month (and key), grouped by week those kept per
ISO week, with those kept per day for a partial edge month or week, and the live journeys; the kept
rows always equal a recount from the facts."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest
from platform_kit import postgres_only
from reporting_kit import closed, contact, decision, half_up, transfer, utc
from sqlalchemy import select

from services.referrals import events as rev
from services.reporting.projections.contact_days import week_of
from services.reporting.projections.day_index import (
    US_PER_DAY,
    US_PER_HOUR,
    day_index,
    london_date,
    microseconds,
)
from services.reporting.projections.journey_months import (
    DAY_BAND,
    STANDARD_TRANSFER_DAYS,
    STANDARD_TRANSFER_WORKING_DAYS,
    UNALLOCATED_DAYS,
    VALUE_COLUMNS,
    hundredths_of_day,
    is_live,
    reason_key,
)
from services.reporting.projections.models import (
    JOURNEY_DAY_TABLES,
    JOURNEY_MONTH_TABLES,
    JOURNEY_WEEK_TABLES,
    AllocationFact,
    JourneyFact,
)
from services.reporting.reports.models import GroupBy
from services.reporting.reports.service import Reports, period_of
from shared.types import now_is

REASONS = ("ABSENC", "LEFTRL", "MANAGE")
TEAMS = ("ASSESS-1", "ASSESS-2")


def allocated(child: uuid.UUID, team: str, worker: str | None, at: datetime) -> rev.JourneyAllocated:
    return rev.JourneyAllocated(
        allocation_id=uuid.uuid4(),
        child_id=child,
        team_id=team,
        area="West",
        service_type="assessment",
        worker_id=worker,
        effective_at=at,
    )


async def build_journeys(w, seed: int = 5, n: int = 70) -> None:
    """`n` journeys opened over January to June 2024 (London), times to the second: some never
    allocated (open: live; or closed), some allocated to a team without a worker first, handed over
    between teams and workers (some handovers leaving them without one: live again), some closed."""
    rng = random.Random(seed)
    # Some handovers recoded TSPROC, drawn apart so that the rest of the journeys stay as they were:
    # standard transfers (changing the team), TSPROC changes of worker within a team, and second
    # TSPROC transfers, which do not count.
    recoded = random.Random(seed + 1001)

    def recode(reason: str) -> str:
        return "TSPROC" if recoded.random() < 0.4 else reason

    for i in range(n):
        journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        at = utc(2024, 1, 1) + timedelta(seconds=rng.randrange(182 * 86400))
        source = rng.choice(("1A", "2A", "6"))
        await w.ref(journey, contact(contact_id, child, at, source, area=("West", "East", "")[i % 3]), at)
        if rng.random() < 0.8:
            at += timedelta(seconds=rng.randrange(3600, 80 * 3600))
            outcome = rng.choice(("NFA", "CIN_ASSESSMENT", "EARLY_HELP"))
            await w.ref(journey, decision(uuid.uuid4(), contact_id, child, outcome, at), at)
        team, worker = rng.choice(TEAMS), None
        if rng.random() < 0.7:
            at += timedelta(seconds=rng.randrange(600, 300 * 3600))
            worker = rng.choice((None, "w-1", "w-2"))
            await w.ref(journey, allocated(child, team, worker, at), at)
            for _ in range(rng.choice((0, 0, 1, 2, 6))):
                at += timedelta(seconds=rng.randrange(600, 400 * 3600))
                to_team, to_worker = rng.choice(TEAMS), rng.choice((None, "w-1", "w-2", "w-3"))
                await w.ref(
                    journey,
                    transfer(
                        child,
                        at,
                        from_team=team,
                        to_team=to_team,
                        from_worker=worker,
                        to_worker=to_worker,
                        reason=recode(rng.choice(REASONS)),
                    ),
                    at,
                )
                team, worker = to_team, to_worker
        if rng.random() < 0.45:
            at += timedelta(seconds=rng.randrange(3600, 900 * 3600))
            await w.ref(journey, closed(child, "FD_NFA" if worker is None else "RC1", at), at)


async def stored(w) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with w.consumer("referrals").db.read_session() as session:
        journeys = [dict(r) for r in (await session.execute(select(JourneyFact.__table__))).mappings()]
        allocations = [dict(r) for r in (await session.execute(select(AllocationFact.__table__))).mappings()]
    return journeys, allocations


def standard_transfers(
    w, journeys: list[dict[str, Any]], allocations: list[dict[str, Any]]
) -> dict[Any, Any]:
    """Each journey's standard transfer from its stored handovers, by the definition: the first
    (in effective order) coded TSPROC that changed the team, as (time, working days on the local
    calendar and hundredths of a day from the first contact); None for a journey without one."""
    local = w.reporting.app.state.service.settings.calendar().local()
    handovers = sorted(
        (a for a in allocations if a["kind"] == "transferred"),
        key=lambda a: (a["effective_at"], a["position"]),
    )
    found: dict[Any, Any] = {j["journey_id"]: None for j in journeys}
    opened = {j["journey_id"]: j["opened_at"] for j in journeys}
    for a in handovers:
        journey_id = a["journey_id"]
        if found[journey_id] is None and a["reason"] == "TSPROC" and a["team_changed"]:
            start = opened[journey_id]
            if start is None:
                found[journey_id] = (a["effective_at"], None, None)
                continue
            end = max(a["effective_at"], start)
            hours = (end - start).total_seconds() / 3600
            found[journey_id] = (
                a["effective_at"],
                local.working_days_between(start, end),
                hundredths_of_day(hours),
            )
    return found


# The journey's column each grouping by a key reads.
KEY_COLUMNS = {"source": "source", "area": "area", "team": "team_id", "outcome": "outcome"}


def group_key(j: dict[str, Any], dimension: str) -> str:
    return j[KEY_COLUMNS[dimension]] or ("undecided" if dimension == "outcome" else "unknown")


def kept_keys(j: dict[str, Any], period: str) -> list[tuple[str, str]]:
    """The (dimension, key) of every kept row of a period a journey counts in: the whole's and each
    key's (per week, the whole's alone)."""
    if period == "week":
        return [("all", "ALL")]
    return [("all", "ALL"), *[(d, group_key(j, d)) for d in KEY_COLUMNS]]


# The kept tables per London month of the first contact, per London day and per ISO week, by their
# period column: (journeys, values, bands, reasons, live).
KEPT_TABLES = {"month": JOURNEY_MONTH_TABLES, "day": JOURNEY_DAY_TABLES, "week": JOURNEY_WEEK_TABLES}


def period_of_day(period: str, day: Any) -> Any:
    """The kept period of a first contact's London date: its month's first day, the day, or its
    week's Monday."""
    return {"month": day.replace(day=1), "day": day, "week": week_of(day)}[period]


def at_of(r: dict[str, Any]) -> tuple[str, str]:
    """A kept row's (dimension, key): the week's rows have no columns for them (the whole's)."""
    return r.get("dimension", "all"), r.get("key", "ALL")


async def assert_kept_match_journeys(w) -> None:
    """Recount the stored journeys and handovers by the report's definitions, for the whole and per
    key, per London month and per London day of the first contact, and compare with the kept rows:
    exactly, since a row left counting nothing is deleted."""
    journeys, allocations = await stored(w)
    standard = standard_transfers(w, journeys, allocations)
    for j in journeys:
        lag = standard[j["journey_id"]] or (None, None, None)
        assert (
            j["standard_transfer_at"],
            j["standard_transfer_working_days"],
            j["standard_transfer_hundredths"],
        ) == lag
    for period, tables in KEPT_TABLES.items():
        await assert_kept_period_match(w, journeys, allocations, standard, period, tables)


async def assert_kept_period_match(
    w,
    journeys: list[dict[str, Any]],
    allocations: list[dict[str, Any]],
    standard: dict[Any, Any],
    period: str,
    tables: tuple[Any, ...],
) -> None:
    """`assert_kept_match_journeys` for the tables of one period (month or day)."""
    months: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0])
    values: Counter[tuple[Any, ...]] = Counter()
    bands: Counter[tuple[Any, ...]] = Counter()
    reasons: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    live: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    opened = {}
    for j in journeys:
        if j["opened_at"] is None:
            continue
        month = period_of_day(period, london_date(j["opened_at"]))
        opened[j["journey_id"]] = (month, kept_keys(j, period))
        settled = not is_live(j)
        for at in kept_keys(j, period):
            if (lag := standard[j["journey_id"]]) is not None:
                # Live or settled: the lag is fixed once the journey has a standard transfer.
                values[(STANDARD_TRANSFER_WORKING_DAYS, *at, lag[1], month)] += 1
                values[(STANDARD_TRANSFER_DAYS, *at, lag[2], month)] += 1
                bands[(STANDARD_TRANSFER_DAYS, *at, month, lag[2] // DAY_BAND)] += 1
            cell = months[(*at, month)]
            cell[0] += 1
            cell[1] += j["closed_at"] is not None
            cell[2] += round(j["unallocated_hours_closed"] * US_PER_HOUR) if settled else 0
            for name, column in VALUE_COLUMNS.items():
                if name in ("team_transfers", "worker_changes") or settled:
                    values[(name, *at, j[column], month)] += 1
            if settled:
                k = hundredths_of_day(j["unallocated_hours_closed"])
                values[(UNALLOCATED_DAYS, *at, k, month)] += 1
                bands[(UNALLOCATED_DAYS, *at, month, k // DAY_BAND)] += 1
            else:
                # The origin: the open spell's start less the completed spells.
                closed_us = round(j["unallocated_hours_closed"] * US_PER_HOUR)
                origin = microseconds(j["unallocated_since"]) - closed_us
                assert j["unallocated_origin_us"] == origin
                key = (
                    *at,
                    month,
                    j["unallocated_since_day"],
                    j["unallocated_working_days_closed"],
                    origin // US_PER_DAY,
                )
                cell = live[key]
                cell[0] += 1
                cell[1] += closed_us
                cell[2] += microseconds(j["unallocated_since"]) - (origin // US_PER_DAY) * US_PER_DAY
    for a in allocations:
        if a["kind"] == "transferred" and a["journey_id"] in opened:
            month, keys = opened[a["journey_id"]]
            for at in keys:
                cell = reasons[(*at, month, reason_key(a["reason"]))]
                cell[0] += 1
                cell[1] += a["team_changed"]
                cell[2] += a["worker_changed"]
    async with w.consumer("referrals").db.read_session() as session:
        kept = [
            [dict(r) for r in (await session.execute(select(table.__table__))).mappings()] for table in tables
        ]
    kept_months, kept_values, kept_bands, kept_reasons, kept_live = kept
    month_counts = ("journeys", "closed", "sum_settled_unallocated_us")
    assert {(*at_of(r), r[period]): [r[c] for c in month_counts] for r in kept_months} == dict(months)
    assert {(r["metric"], *at_of(r), r["value"], r[period]): r["journeys"] for r in kept_values} == (
        dict(values)
    )
    assert {(r["metric"], *at_of(r), r[period], r["band"]): r["journeys"] for r in kept_bands} == (
        dict(bands)
    )
    reason_counts = ("handovers", "team_transfers", "worker_changes")
    assert {(*at_of(r), r[period], r["reason"]): [r[c] for c in reason_counts] for r in kept_reasons} == dict(
        reasons
    )
    live_counts = ("journeys", "sum_closed_us", "sum_since_offset_us")
    assert {
        (*at_of(r), r[period], r["since_day"], r["closed_days"], r["origin_day"]): [r[c] for c in live_counts]
        for r in kept_live
    } == dict(live)


def nearest_rank(values: list[Any], p: int) -> Any:
    return sorted(values)[max(1, math.ceil(p / 100 * len(values))) - 1]


def expected_report(
    w,
    journeys: list[dict[str, Any]],
    allocations: list[dict[str, Any]],
    group_by: GroupBy,
    first: str,
    last: str,
    now: datetime,
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], list[int]]]:
    """The report's rows by group (and ALL), and its reasons, by its definitions, from the stored
    journeys: a live journey's open spell in the SQL's floating-point operations."""
    local = w.reporting.app.state.service.settings.calendar().local()
    standard = standard_transfers(w, journeys, allocations)
    now_us, now_day = microseconds(now), day_index(local, london_date(now))
    start, end = (datetime.fromisoformat(d).date() for d in (first, last))
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    key_of = {}
    for j in journeys:
        if j["opened_at"] is None or not start <= london_date(j["opened_at"]) <= end:
            continue
        if group_by in (GroupBy.week, GroupBy.month, GroupBy.quarter):
            key = period_of(group_by, london_date(j["opened_at"]))
        else:
            key = group_key(j, group_by.value)
        key_of[j["journey_id"]] = key
        hours, days, us = j["unallocated_hours_closed"], j["unallocated_working_days_closed"], 0
        us = round(hours * US_PER_HOUR)
        if is_live(j) and j["unallocated_since_us"] < now_us:
            hours += float(now_us - j["unallocated_since_us"]) / 1_000_000.0 / 3600.0
            us += now_us - j["unallocated_since_us"]
        if is_live(j) and j["unallocated_since_day"] < now_day:
            days += now_day - j["unallocated_since_day"]
        figures = {**j, "hours": hours, "days": days, "us": us, "standard": standard[j["journey_id"]]}
        groups[key].append(figures)
        groups["ALL"].append(figures)
    rows = {}
    for key, members in groups.items():
        n = len(members)
        row: dict[str, Any] = {"journeys": n, "closed": sum(1 for j in members if j["closed_at"] is not None)}
        for name, column in (
            ("team_transfers", "team_transfers"),
            ("worker_changes", "worker_changes"),
            ("unallocated_working_days", "days"),
        ):
            values = [j[column] for j in members]
            if name != "unallocated_working_days":
                for bucket in range(5):
                    row[f"{name}_{bucket}"] = values.count(bucket)
                row[f"{name}_5_plus"] = sum(1 for v in values if v >= 5)
            row[f"{name}_mean"] = half_up(sum(values) / n)
            row[f"{name}_median"] = half_up(nearest_rank(values, 50))
            row[f"{name}_max"] = max(values)
        hours = [j["hours"] for j in members]
        row["unallocated_days_mean"] = half_up(sum(j["us"] for j in members) / US_PER_HOUR / 24 / n)
        row["unallocated_days_median"] = half_up(nearest_rank(hours, 50) / 24)
        row["unallocated_days_max"] = half_up(max(hours) / 24)
        lags = [j["standard"] for j in members if j["standard"] is not None]
        row["standard_transfers"] = len(lags)
        for p, suffix in ((50, "median"), (90, "p90")):
            row[f"standard_transfer_working_days_{suffix}"] = (
                half_up(nearest_rank([lag[1] for lag in lags], p)) if lags else None
            )
            row[f"standard_transfer_days_{suffix}"] = (
                half_up(nearest_rank([lag[2] for lag in lags], p) / 100) if lags else None
            )
        rows[key] = row
    reasons: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for a in allocations:
        if a["kind"] == "transferred" and a["journey_id"] in key_of:
            for key in ("ALL", key_of[a["journey_id"]]):
                cell = reasons[(key, reason_key(a["reason"]))]
                cell[0] += 1
                cell[1] += a["team_changed"]
                cell[2] += a["worker_changed"]
    return rows, dict(reasons)


async def report(w, token, at: datetime, **params: str) -> dict[str, Any]:
    with now_is(at):
        r = await w.reporting.get("/reports/handovers", params=params, headers=token("analyst"))
    assert r.status_code == 200, r.text
    return r.json()


# Whole months; edges of more than half a month (each month taken whole, its days outside the range
# taken off: `Reports._kept_months`); edges of at most half a month (their days added); one month in
# part (taken whole, its days either side taken off); a few days of one month (added).
RANGES = [
    ("2024-01-01", "2024-06-30"),
    ("2024-02-01", "2024-03-31"),
    ("2024-01-15", "2024-05-20"),
    ("2024-01-03", "2024-05-28"),
    ("2024-01-20", "2024-04-10"),
    ("2024-03-05", "2024-03-20"),
    ("2024-04-09", "2024-04-13"),
]
NOWS = [utc(2024, 4, 10, 14, 7, 3), utc(2024, 9, 2, 8, 30)]


def edge_nows(live: list[dict[str, Any]]) -> list[datetime]:
    """Times at the kept counts' edges: just after the latest live spell began (a spell begun on
    the day of `now`, read rather than derived), just before another began that day (a spell not
    begun by `now`), and exactly where a live journey's unallocated days round half-way between
    two hundredths at a whole-day band's edge (3 days less half a hundredth after its origin)."""
    latest = max(j["unallocated_since"] for j in live)
    origin = min(j["unallocated_origin_us"] for j in live)
    at_edge = datetime(1970, 1, 1, tzinfo=latest.tzinfo) + timedelta(
        microseconds=origin + (3 * DAY_BAND * US_PER_DAY // 100) - US_PER_DAY // 200
    )
    return [latest + timedelta(minutes=20), latest - timedelta(minutes=1), at_edge]


async def test_every_figure_follows_the_definitions_for_every_grouping_range_and_now(world_factory, token):
    w = await world_factory()
    consumer = w.consumer("referrals")
    consumer.batch_size = consumer.catch_up_batch_size = 7  # journeys change across batches
    await build_journeys(w)
    await w.catch_up("referrals")
    await assert_kept_match_journeys(w)
    journeys, allocations = await stored(w)
    live = [j for j in journeys if is_live(j)]
    # Live journeys never allocated and left without a worker by a handover; settled ones of both.
    assert any(j["unallocated_hours_closed"] > 0 for j in live) and any(
        j["unallocated_hours_closed"] == 0 for j in live
    )
    assert any(j["closed_at"] is not None and j["transfers"] for j in journeys)
    assert any(j["team_transfers"] >= 5 for j in journeys) or any(j["worker_changes"] >= 5 for j in journeys)
    # Standard transfers, live and settled; TSPROC handovers within a team and second TSPROC transfers.
    standard = [j for j in journeys if j["standard_transfer_at"] is not None]
    assert any(is_live(j) for j in standard) and any(not is_live(j) for j in standard)
    tsproc = [a for a in allocations if a["reason"] == "TSPROC"]
    assert any(not a["team_changed"] for a in tsproc)
    firsts = {j["standard_transfer_at"] for j in standard}
    assert any(a["team_changed"] and a["effective_at"] not in firsts for a in tsproc)
    whole, _ = expected_report(w, journeys, allocations, GroupBy.month, *RANGES[0], NOWS[0])
    for name in ("standard_transfer_working_days", "standard_transfer_days"):
        assert whole["ALL"][f"{name}_median"] < whole["ALL"][f"{name}_p90"]
    for now in [*NOWS, *edge_nows(live)]:
        for first, last in RANGES:
            for group_by in GroupBy:
                params = {"from": first, "to": last, "group_by": group_by.value}
                body = await report(w, token, now, **params)
                expected, reasons = expected_report(w, journeys, allocations, group_by, first, last, now)
                got = {body["overall"]["group"]: body["overall"]} | {g["group"]: g for g in body["groups"]}
                assert set(got) == set(expected), params
                for key, row in expected.items():
                    assert {k: got[key][k] for k in row} == row, (now, params, key)
                assert {
                    (r["group"], r["reason"]): [r["handovers"], r["team_transfers"], r["worker_changes"]]
                    for r in body["reasons"]
                } == reasons
                assert body["journeys_total"] == expected["ALL"]["journeys"]

    # A rebuild in one batch leaves the same rows and reports.
    params = [{"from": first, "to": last, "group_by": g} for first, last in RANGES for g in ("month", "week")]
    before = [await report(w, token, NOWS[0], **p) for p in params]
    consumer.batch_size = consumer.catch_up_batch_size = 500
    await consumer.rebuild()
    await assert_kept_match_journeys(w)
    assert [await report(w, token, NOWS[0], **p) for p in params] == before


async def test_a_journey_counts_where_its_first_contact_falls_as_it_changes(world_factory, token):
    """A journey whose handovers arrive before its contact counts nowhere until the contact
    arrives; a handover, a closure and a later handover each move its contribution."""
    w = await world_factory()
    journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    opened = utc(2024, 3, 4, 10)
    await w.ref(journey, allocated(child, "ASSESS-1", "w-1", opened + timedelta(hours=30)), opened)
    await w.catch_up("referrals")
    await assert_kept_match_journeys(w)
    await w.ref(journey, contact(contact_id, child, opened, "6"), opened)
    await w.catch_up("referrals")
    await assert_kept_match_journeys(w)
    at = opened + timedelta(days=3)
    moves = (
        transfer(
            child,
            at,
            from_team="ASSESS-1",
            to_team="ASSESS-2",
            from_worker="w-1",
            to_worker=None,
            reason="LEFTRL",
        ),
        closed(child, "RC1", at + timedelta(days=2)),
    )
    for payload in moves:
        await w.ref(journey, payload, at)
        await w.catch_up("referrals")
        await assert_kept_match_journeys(w)
    o = (await report(w, token, utc(2024, 6, 1), **{"from": "2024-03-01", "to": "2024-03-31"}))["overall"]
    # 30 h to the first worker, then 48 h without one until the closure: 78 h = 3.25 days.
    assert (o["journeys"], o["closed"], o["unallocated_days_max"], o["team_transfers_1"]) == (1, 1, 3.25, 1)


@postgres_only("the reports benchmark clones PostgreSQL projections")
async def test_the_benchmarks_clone_keeps_the_kept_journey_counts_equal_to_the_journeys(world_factory, token):
    """bench/reports.py doubles the projection with fresh ids: the counts kept per month double
    with the journeys (they hold no ids), and the report doubles its counts."""
    from bench.reports import clone_projection

    w = await world_factory()
    await build_journeys(w, seed=3, n=20)
    await w.catch_up("referrals")
    now = utc(2024, 9, 1)
    params = {"from": "2024-01-01", "to": "2024-06-30"}
    before = await report(w, token, now, **params)
    await clone_projection(w.consumer("referrals").db.url, 1)
    await assert_kept_match_journeys(w)
    after = await report(w, token, now, **params)
    for name in ("journeys", "closed", "team_transfers_0", "worker_changes_1"):
        assert after["overall"][name] == 2 * before["overall"][name]
    for name in ("unallocated_days_median", "unallocated_days_max", "unallocated_working_days_mean"):
        assert after["overall"][name] == before["overall"][name]
    assert [r["handovers"] for r in after["reasons"]] == [2 * r["handovers"] for r in before["reasons"]]


@pytest.mark.parametrize("shift", [1, -1, 3])
async def test_medians_hold_when_the_first_guess_of_a_live_band_is_out(
    world_factory, token, monkeypatch, shift
):
    """A live journey's band is first guessed from the middle of its origin day, so a day's journeys
    may sit one band either side of it: with every guess out by `shift`, the band read first is
    wrong, and the medians must come out the same by reading the next band (or the next again)."""
    w = await world_factory()
    await build_journeys(w, seed=9, n=50)
    await w.catch_up("referrals")
    journeys, allocations = await stored(w)
    real = Reports._origin_band
    monkeypatch.setattr(Reports, "_origin_band", staticmethod(lambda now_us, day: real(now_us, day) + shift))
    # Whole months, and edges taken off months taken whole and added.
    ranges = [RANGES[0], ("2024-01-03", "2024-05-28"), ("2024-01-20", "2024-04-10")]
    for now in [*NOWS, *edge_nows([j for j in journeys if is_live(j)])]:
        for first, last in ranges:
            for group_by in (GroupBy.month, GroupBy.quarter, GroupBy.area, GroupBy.team, GroupBy.outcome):
                params = {"from": first, "to": last, "group_by": group_by.value}
                body = await report(w, token, now, **params)
                expected, _ = expected_report(w, journeys, allocations, group_by, first, last, now)
                got = {body["overall"]["group"]: body["overall"]} | {g["group"]: g for g in body["groups"]}
                for name in ("unallocated_days_median", "unallocated_days_max", "unallocated_days_mean"):
                    assert {k: got[k][name] for k in got} == {k: row[name] for k, row in expected.items()}


async def test_a_live_median_half_way_between_two_hundredths_is_rounded_as_the_report_rounds(
    world_factory, token
):
    """Live values are counted in SQL from whole microseconds, except within a millisecond of half a
    hundredth of a day, where the hours are read and rounded in Python: the median journey here is
    exactly half-way (2.375 days), and both its neighbours are a clear count away."""
    w = await world_factory()
    opened = utc(2024, 2, 5, 9, 0, 0)
    for hours in (0, 5, 10):
        contact_id, child = uuid.uuid4(), uuid.uuid4()
        at = opened + timedelta(hours=hours)
        await w.ref(uuid.uuid4(), contact(contact_id, child, at, "6"), at)
    await w.catch_up("referrals")
    journeys, allocations = await stored(w)
    assert all(is_live(j) for j in journeys)
    middle = sorted(j["unallocated_origin_us"] for j in journeys)[1]
    now = datetime(1970, 1, 1, tzinfo=opened.tzinfo) + timedelta(
        microseconds=middle + 237 * US_PER_DAY // 100 + US_PER_DAY // 200
    )
    expected, _ = expected_report(w, journeys, allocations, GroupBy.month, "2024-02-01", "2024-02-29", now)
    body = await report(w, token, now, **{"from": "2024-02-01", "to": "2024-02-29"})
    assert body["overall"]["unallocated_days_median"] == expected["ALL"]["unallocated_days_median"] == 2.38


async def test_a_periods_longest_live_spell_is_found_from_its_first_london_moment_to_its_last(
    world_factory, token
):
    """Grouped by time, each period's longest live spell is probed among the journeys whose first
    contact falls in the period's London days: here each period's only live journeys arrive at its
    first or last London moment (GMT and BST, the clocks' change on Sunday 31 March 2024 included), so
    a period's span a moment short at either end would leave it without a maximum. March's last
    journey was allocated and left without a worker again, so its unallocated time's origin is later
    than that of April's first, on the same day: a span a moment long would probe April's for March."""
    w = await world_factory()
    moments = [
        utc(2024, 1, 31, 23, 59, 59),  # Wednesday: January's, Q1's and week 5's last moment (GMT)
        utc(2024, 2, 1),  # February's first
        utc(2024, 2, 11, 23, 59, 59),  # Sunday: week 6's last
        utc(2024, 2, 12),  # week 7's first
        utc(2024, 3, 31, 22, 59, 59),  # Sunday, 23:59:59 BST: March's, Q1's and week 13's last
        utc(2024, 3, 31, 23),  # 00:00 BST on 1 April: April's, Q2's and week 14's first
        utc(2024, 6, 30, 22, 59, 59),  # Sunday, 23:59:59 BST: June's, Q2's and week 26's last
    ]
    for at in moments:
        journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await w.ref(journey, contact(contact_id, child, at, "6"), at)
        if at == moments[4]:
            worker_from, worker_to = at + timedelta(minutes=10), at + timedelta(minutes=50)
            await w.ref(journey, allocated(child, TEAMS[0], "w-1", worker_from), worker_from)
            left = transfer(
                child,
                worker_to,
                from_team=TEAMS[0],
                to_team=TEAMS[0],
                from_worker="w-1",
                to_worker=None,
                reason="ABSENC",
            )
            await w.ref(journey, left, worker_to)
    await w.catch_up("referrals")
    journeys, allocations = await stored(w)
    assert len(journeys) == len(moments) and all(is_live(j) for j in journeys)
    origin_of = {j["opened_at"]: j["unallocated_origin_us"] for j in journeys}
    march, april = origin_of[moments[4]], origin_of[moments[5]]
    assert april < march and april // US_PER_DAY == march // US_PER_DAY
    now = utc(2024, 9, 2, 8, 30)
    for first, last in (("2024-01-01", "2024-06-30"), ("2024-01-20", "2024-04-10")):
        for group_by in (GroupBy.week, GroupBy.month, GroupBy.quarter):
            params = {"from": first, "to": last, "group_by": group_by.value}
            body = await report(w, token, now, **params)
            expected, _ = expected_report(w, journeys, allocations, group_by, first, last, now)
            got = {g["group"]: g["unallocated_days_max"] for g in body["groups"]}
            assert got == {k: row["unallocated_days_max"] for k, row in expected.items() if k != "ALL"}, (
                params
            )
            assert None not in got.values(), params


async def test_grouped_by_a_key_the_kept_rows_come_summed_per_key(world_factory):
    """Grouped by a key, a row's period does not decide its groups, so the kept rows of every month
    and edge span come back summed per key (one row per key and value, whatever the range's
    months); grouped by month, each month keeps its rows. Both net to the same counts."""
    from services.reporting.projections.models import JourneyMonthBand
    from services.reporting.reports.service import _KeptGroups

    w = await world_factory()
    await build_journeys(w)
    await w.catch_up("referrals")
    first, last = (datetime.fromisoformat(d).date() for d in ("2024-01-15", "2024-05-20"))
    found: dict[GroupBy, list[Any]] = {}
    async with w.consumer("referrals").db.read_session() as session:
        for group_by in (GroupBy.team, GroupBy.month):
            groups = _KeptGroups(first, last, group_by, Reports._journey_group_sql(group_by, first, last))
            query = groups.select(JourneyMonthBand, ("metric", "band"), ("journeys",), groups.read)
            found[group_by] = (await session.execute(query)).all()
    by_key = [(d, k, m, b) for d, k, _, m, b, _ in found[GroupBy.team]]
    assert by_key and len(by_key) == len(set(by_key))
    assert {start for _, _, start, *_ in found[GroupBy.team]} == {first}
    assert len({start for _, _, start, *_ in found[GroupBy.month]}) > 1
    # The whole's rows, summed or not, count the same journeys in each band.
    whole: dict[GroupBy, Counter[tuple[str, int]]] = {g: Counter() for g in found}
    for group_by, rows in found.items():
        for dimension, _, _, metric, band, n in rows:
            if dimension == "all":
                whole[group_by][(metric, band)] += n
    assert +whole[GroupBy.team] == +whole[GroupBy.month] and whole[GroupBy.team]
