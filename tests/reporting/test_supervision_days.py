"""The supervision counts kept per London day and key (rpt_supervision_days) and the overdue spells
(rpt_supervision_overdue) always equal a recount from the journeys and their supervisions, however
the two feeds' events are split into batches and interleaved; and the report read from them gives
exactly what the full scan of every open journey gave (supervision_scan.py)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from platform_kit import postgres_only
from reporting_kit import closed, contact, decision, supervision, utc
from sqlalchemy import select, text
from supervision_scan import ScannedReports

from services.referrals import events as rev
from services.reporting.projections.models import (
    JourneyFact,
    NewlyQualifiedFact,
    SupervisionDay,
    SupervisionFact,
    SupervisionOverdueSpell,
)
from services.reporting.projections.supervision_days import COUNTS, SPELL_COLUMNS, contribution
from services.reporting.reports.models import Freshness, GroupBy
from services.reporting.reports.service import Reports
from services.supervision import events as sev
from shared.events.contract import Envelope

# Short policy intervals and local closure days, so journeys fall overdue and closure days matter
# within a few weeks; Good Friday and Easter Monday 2025 are bank holidays (18, 21 April).
SETTINGS: dict[str, Any] = {
    "supervision_interval_working_days": {"assessment": 3, "early_help": 6},
    "supervision_default_interval_working_days": 4,
    "local_closure_days": [date(2025, 2, 14), date(2025, 3, 3), date(2025, 4, 22)],
}
TEAMS = (("FD-WEST", "West"), ("ASSESS-1", "West"), ("EH-1", "East"), ("ASSESS-2", ""))
SERVICE_TYPES = ("front_door", "assessment", "early_help", "other")
# (from, to, today): ranges in the past, ending today, beyond today, across the clocks going forward
# (30 March 2025), a single day, and wholly after today (nothing counted).
RANGES = (
    (date(2025, 1, 1), date(2025, 4, 30), date(2026, 12, 2)),
    (date(2025, 2, 1), date(2025, 5, 31), date(2025, 3, 20)),
    (date(2025, 3, 24), date(2025, 4, 6), date(2025, 4, 3)),
    (date(2025, 3, 30), date(2025, 3, 30), date(2026, 12, 2)),
    (date(2024, 12, 1), date(2025, 1, 31), date(2026, 12, 2)),
    (date(2025, 6, 1), date(2025, 6, 30), date(2025, 3, 20)),
)


def recorded(
    child_id: uuid.UUID, held_at: datetime, next_due_on: date | None, supervision_id: uuid.UUID
) -> dict[str, Any]:
    """A SupervisionRecorded payload; the producer always sets next_due_on, but reporting reads a
    payload without it (the policy interval then applies), so some are applied without."""
    return {
        "supervision_id": str(supervision_id),
        "child_id": str(child_id),
        "team_id": "ASSESS-1",
        "supervisee_id": "w-test",
        "held_at": held_at.isoformat(),
        "kind": "individual",
        "next_due_on": None if next_due_on is None else next_due_on.isoformat(),
        "actions": 0,
    }


def allocation(child: uuid.UUID, at: datetime, rng: random.Random, first: bool) -> Any:
    team, area = rng.choice(TEAMS)
    service_type = rng.choice(SERVICE_TYPES)
    worker = rng.choice(("w1", "w2", None))
    if first:
        return rev.JourneyAllocated(
            allocation_id=uuid.uuid4(), child_id=child, team_id=team, area=area or "West",
            service_type=service_type, worker_id=worker, effective_at=at,
        )  # fmt: skip
    return rev.JourneyTransferred(
        allocation_id=uuid.uuid4(), child_id=child, from_team_id="FD-WEST", to_team_id=team,
        from_area="West", to_area=area, to_service_type=service_type, from_worker_id="w1",
        to_worker_id=worker, team_changed=True, worker_changed=True, reason="TSPROC", effective_at=at,
    )  # fmt: skip


def write_world(seed: int, journeys: int = 36, policy_dues: bool = True) -> tuple[list, list]:
    """Journeys opening, allocated and transferred (team and service type), closing, supervised on
    time, late, backdated, re-recorded, with and without next_due_on, some supervisions of journeys
    whose first contact comes later. Returns (referrals, supervision) events in feed order, each
    an (at, journey, payload): referrals as the producer's models, supervisions as payloads."""
    rng = random.Random(seed)
    referrals: list[tuple[datetime, uuid.UUID, Any]] = []
    supervisions: list[tuple[datetime, uuid.UUID, Any]] = []
    for _ in range(journeys):
        journey, child, contact_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        # Late evening UTC times fall on the next London day in summer time.
        opened = utc(2025, 1, 6, rng.choice((8, 13, 23)), rng.choice((0, 30)))
        opened += timedelta(days=rng.randrange(90))
        team, area = rng.choice(TEAMS)
        source = rng.choice(("6", "2A", "1A"))
        referrals.append((opened, journey, contact(contact_id, child, opened, source, team=team, area=area)))
        if rng.random() < 0.6:
            at = opened + timedelta(hours=rng.randrange(1, 72))
            outcome = rng.choice(("CIN_ASSESSMENT", "EARLY_HELP", "NFA"))
            referrals.append((at, journey, decision(uuid.uuid4(), contact_id, child, outcome, at)))
        at = opened
        for n in range(rng.choice((0, 1, 1, 2, 3))):
            at = at + timedelta(days=rng.randrange(0, 20), hours=rng.randrange(0, 12))
            referrals.append((at, journey, allocation(child, at, rng, first=n == 0)))
        if rng.random() < 0.4:
            # Same day, within days, or weeks later.
            at = opened + rng.choice((timedelta(hours=1), timedelta(days=rng.randrange(1, 10)),
                                      timedelta(days=rng.randrange(20, 80))))  # fmt: skip
            referrals.append((at, journey, closed(child, "RC8", at)))
        held = opened - timedelta(days=rng.choice((0, 0, 0, 3)))
        for _ in range(rng.choice((0, 1, 2, 3, 4))):
            held = held + timedelta(days=rng.randrange(0, 15), hours=rng.randrange(0, 10))
            due = (held + timedelta(days=rng.randrange(1, 20))).date()
            if policy_dues and rng.random() < 0.4:
                due = None
            supervision_id = uuid.uuid4()
            supervisions.append((held, journey, recorded(child, held, due, supervision_id)))
            if rng.random() < 0.15:
                # Re-recorded later with an earlier time (backdated), then the same day twice.
                earlier = held - timedelta(days=rng.randrange(1, 10))
                again = recorded(child, earlier, due, supervision_id)
                supervisions.append((held + timedelta(days=30), journey, again))
                later = held + timedelta(minutes=5)
                supervisions.append((held, journey, recorded(child, later, due, uuid.uuid4())))
    referrals.sort(key=lambda e: e[0])
    # Mostly in time order, but some supervisions arrive late (recorded after later-held ones).
    supervisions.sort(key=lambda e: e[0] + timedelta(days=rng.choice((0, 0, 0, 25))))
    return referrals, supervisions


async def append_referrals(w, referrals: list) -> None:
    for _, journey, payload in referrals:
        await w.ref(journey, payload, payload_time(payload))


async def append_supervisions(w, supervisions: list) -> None:
    for at, journey, payload in supervisions:
        await w.sup(journey, sev.SupervisionRecorded.model_validate(payload), at)


async def apply_supervisions(w, supervisions: list, first_position: int) -> None:
    """Apply supervision payloads straight to the projection in one batch (as the consumer would),
    so payloads the producer would not write can be applied."""
    events = [
        Envelope(
            position=first_position + i, event_id=uuid.uuid4(), type="SupervisionRecorded",
            schema_version=1, journey_id=journey, stream_version=1, occurred_at=at, recorded_at=at,
            producer="supervision", actor="m-test", payload=payload, hash="0" * 64,
        )
        for i, (at, journey, payload) in enumerate(supervisions)
    ]  # fmt: skip
    consumer = w.consumer("supervision")
    async with consumer.db.unit_of_work() as session:
        await consumer.projection.apply_batch(session, events)


def payload_time(payload: Any) -> datetime:
    for name in ("received_at", "decided_at", "effective_at", "closed_at"):
        if (at := getattr(payload, name, None)) is not None:
            return at
    raise AssertionError(payload)


async def assert_kept_equal_recount(w) -> None:
    """Recount every journey's contribution from the stored facts and compare with the kept rows."""
    settings = w.reporting.app.state.service.settings
    calendar = settings.calendar().local()
    async with w.consumer("referrals").db.read_session() as session:
        journeys = [dict(r) for r in (await session.execute(select(JourneyFact.__table__))).mappings()]
        held: dict[uuid.UUID, list[dict]] = defaultdict(list)
        for s in (await session.execute(select(SupervisionFact.__table__))).mappings():
            held[s["journey_id"]].append(dict(s))
        register = dict((await session.execute(select(NewlyQualifiedFact.__table__))).all())
        kept = (await session.execute(select(SupervisionDay.__table__))).mappings().all()
        spells = (await session.execute(select(SupervisionOverdueSpell.__table__))).mappings().all()
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    expected_spells = []
    for journey in journeys:
        found = contribution(calendar, settings, journey, held.get(journey["journey_id"], []), register)
        expected_spells += found.spells
        for day, values in found.days.items():
            for dimension, key in found.keys:
                cell = expected[(dimension, day, key)]
                for i, v in enumerate(values):
                    cell[i] += v
    # Rows whose changes cancel out are not kept.
    assert {(r["dimension"], r["day"], r["key"]): [r[c] for c in COUNTS] for r in kept} == {
        cell: values for cell, values in expected.items() if any(values)
    }
    assert sorted(tuple(str(r[c]) for c in SPELL_COLUMNS) for r in spells) == sorted(
        tuple(str(v) for v in s) for s in expected_spells
    )


async def assert_report_equals_scan(w) -> None:
    settings = w.reporting.app.state.service.settings
    fresh = Freshness(latest_event_at=None, feeds=[])
    async with w.consumer("referrals").db.read_session() as session:
        kept, scanned = Reports(session, settings, fresh), ScannedReports(session, settings, fresh)
        for from_date, to_date, today in RANGES:
            for group_by in GroupBy:
                for limit in (3, 500):
                    new = await kept.supervision(from_date, to_date, group_by, today, limit)
                    old = await scanned.supervision(from_date, to_date, group_by, today, limit)
                    label = (from_date, to_date, today, group_by, limit)
                    same = {"exclude": {"definitions"}}
                    assert new.model_dump(**same) == old.model_dump(**same), label


async def test_kept_counts_give_the_full_scans_report_for_every_grouping_and_range(world_factory):
    w = await world_factory(**SETTINGS)
    referrals, supervisions = write_world(seed=8)
    await append_referrals(w, referrals)
    ref = w.consumer("referrals")
    # Small batches, alternating, supervisions first: many arrive before their journey.
    ref.batch_size = 7
    await apply_supervisions(w, supervisions[:5], 1)
    for i in range(5, len(supervisions), 3):
        await ref.poll_once()
        await apply_supervisions(w, supervisions[i : i + 3], i + 1)
        await assert_kept_equal_recount(w)
    await w.catch_up("referrals")
    await assert_kept_equal_recount(w)
    body = await kept_report(w)
    # The world is not trivial: journeys overdue, supervised, and closed by the end.
    assert body.overdue_total > 0 and body.overall.supervised > 0
    await assert_report_equals_scan(w)


async def kept_report(w) -> Any:
    settings = w.reporting.app.state.service.settings
    async with w.consumer("referrals").db.read_session() as session:
        reports = Reports(session, settings, Freshness(latest_event_at=None, feeds=[]))
        first, last, today = date(2025, 1, 1), date(2025, 3, 31), date(2025, 3, 1)
        return await reports.supervision(first, last, GroupBy.month, today, 5)


async def test_rebuilding_one_feed_alone_keeps_the_counts_equal_to_a_recount(world_factory):
    """A supervision rebuild takes every supervision out of the counts before replaying them; a
    referrals rebuild empties the counts with the journeys they need."""
    w = await world_factory(**SETTINGS)
    referrals, supervisions = write_world(seed=9, journeys=20, policy_dues=False)
    await append_referrals(w, referrals)
    await append_supervisions(w, supervisions)
    await w.catch_up()
    before = (await kept_report(w)).model_dump()
    for feed in ("supervision", "referrals", "supervision"):
        async with w.consumer(feed).db.unit_of_work() as session:
            await w.consumer(feed).projection.reset(session)
        await assert_kept_equal_recount(w)
        await w.consumer(feed).rebuild()
        await assert_kept_equal_recount(w)
    assert (await kept_report(w)).model_dump() == before


@postgres_only("two consumers write concurrently only on PostgreSQL (SQLite serialises writers)")
async def test_a_referrals_batch_and_a_supervision_batch_of_one_journey_at_once(world_factory):
    """The referrals feed closes a journey while the supervision feed records its supervision, each
    in its own transaction: the second must wait for the first and see its facts, or both would
    take off the same old contribution."""
    w = await world_factory(**SETTINGS)
    journey, child, contact_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await w.ref(journey, contact(contact_id, child, utc(2025, 1, 6, 9), "6"), utc(2025, 1, 6, 9))
    await w.sup(journey, supervision(child, utc(2025, 1, 7, 9), date(2025, 1, 10)), utc(2025, 1, 7, 9))
    await w.catch_up()
    await w.ref(journey, closed(child, "RC8", utc(2025, 2, 20, 9)), utc(2025, 2, 20, 9))
    await w.sup(journey, supervision(child, utc(2025, 1, 20, 9), date(2025, 2, 3)), utc(2025, 1, 20, 9))
    ref, sup = w.consumer("referrals"), w.consumer("supervision")
    waited: list[bool] = []
    late: list[asyncio.Task] = []

    async def supervision_batch_meanwhile(events: Any) -> None:
        """Before the referrals batch commits: run the supervision batch until it finishes or waits
        for a lock (the referrals batch's)."""
        task = asyncio.create_task(sup.catch_up())
        late.append(task)
        async with ref.db.read_session() as session:
            for _ in range(1000):
                if task.done():
                    break
                query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if await session.scalar(query):
                    waited.append(True)
                    break
                await asyncio.sleep(0.01)

    ref.before_commit = supervision_batch_meanwhile
    await ref.catch_up()
    ref.before_commit = None
    await late[0]
    assert waited == [True]
    await assert_kept_equal_recount(w)
    # 31 Jan: open, supervised 20 Jan (due 3 Feb), so not overdue; 28 Feb: closed on the 20th.
    months = {g.group: (g.open_journeys, g.supervised, g.overdue) for g in (await kept_report(w)).groups}
    assert months == {"2025-01": (1, 1, 0), "2025-02": (0, 0, 0), "2025-03": (0, 0, 0)}


@postgres_only("the reports benchmark clones PostgreSQL projections")
async def test_the_benchmarks_clone_keeps_the_kept_counts_equal_to_a_recount(world_factory):
    """bench/reports.py doubles the projection with fresh ids: the per-day changes (no uuid column)
    double in place, the overdue spells are copied with their journeys' new ids, so the benchmark
    times the report on rows that agree with the journeys."""
    from bench.reports import clone_projection

    w = await world_factory(**SETTINGS)
    referrals, supervisions = write_world(seed=10, journeys=12, policy_dues=False)
    await append_referrals(w, referrals)
    await append_supervisions(w, supervisions)
    await w.catch_up()
    before = await kept_report(w)
    assert before.overdue_total > 0

    await clone_projection(w.consumer("referrals").db.url, 1)
    await assert_kept_equal_recount(w)
    after = await kept_report(w)
    assert after.overdue_total == 2 * before.overdue_total
    assert [g.open_journeys for g in after.groups] == [2 * g.open_journeys for g in before.groups]
    await assert_report_equals_scan(w)


async def test_a_batch_adds_its_net_changes_and_deletes_the_rows_they_bring_to_zero(world_factory):
    """SupervisionDayChanges.write on either backend (PostgreSQL: one upsert of arrays that names
    the rows it left at zero, then a delete of just those; SQLite: executemany, then a delete of
    the zero rows on the days touched), and the overdue spells of the replaced journeys only."""
    from services.reporting.projections.supervision_days import SupervisionDayChanges

    w = await world_factory(**SETTINGS)
    db = w.consumer("supervision").db
    d1, d2 = date(2025, 3, 3), date(2025, 3, 4)
    kept_journey, replaced_journey = uuid.uuid4(), uuid.uuid4()

    def spell(journey: uuid.UUID, start: date) -> tuple[Any, ...]:
        return (journey, start, None, 10, None, start - timedelta(days=1), utc(2025, 3, 1, 9))

    first = SupervisionDayChanges()
    first.net = {
        ("all", d1, "ALL"): [1, 0, 0],
        ("area", d1, "West"): [1, 1, 0],
        ("team", d2, "T"): [0, 0, -1],
    }
    first.replaced = {kept_journey, replaced_journey}
    first.spells = [spell(kept_journey, d1), spell(replaced_journey, d1)]
    second = SupervisionDayChanges()
    second.net = {
        ("all", d1, "ALL"): [-1, 0, 0],  # to zero: deleted
        ("area", d1, "West"): [0, -1, 0],
        ("team", d2, "T"): [0, 0, 1],  # to zero: deleted
        ("all", d2, "ALL"): [2, 0, 0],  # new
        ("source", d2, "6"): [0, 0, 0],  # no change: no row
    }
    second.replaced = {replaced_journey}
    second.spells = [spell(replaced_journey, d2)]
    for batch in (first, second):
        async with db.unit_of_work() as session:
            await batch.write(session)
    async with db.read_session() as session:
        rows = (await session.execute(select(SupervisionDay.__table__))).mappings().all()
        spells = (await session.execute(select(SupervisionOverdueSpell.__table__))).mappings().all()
    assert {(r["dimension"], r["day"], r["key"]): [r[c] for c in COUNTS] for r in rows} == {
        ("area", d1, "West"): [1, 0, 0],
        ("all", d2, "ALL"): [2, 0, 0],
    }
    assert sorted((s["journey_id"], s["overdue_from"]) for s in spells) == sorted(
        [(kept_journey, d1), (replaced_journey, d2)]
    )
