"""Awaiting decision from the undecided counts kept per day: when no contact was decided after
as_of, the figures come from the kept counts (reading only the contacts received since the last
day all past their deadline, and those of the days where a median or the oldest falls), and equal
the queue read in full, for every grouping, for ranges that end before, at and after that day,
at an as_of inside a day's contacts and one long after; with a decision after as_of, the queue is
read in full."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from reporting_kit import contact, decision, utc

from services.reporting.reports.models import GroupBy
from services.reporting.reports.service import Reports

TEAMS = ("FD-WEST", "FD-EAST", "")
AREAS = ("West", "East", "")
# No decision is recorded after this: the kept path applies to every as_of from then on.
LAST_DECISION = utc(2024, 4, 30, 11, 0)
KEPT_AS_OF = [utc(2024, 4, 30, 15, 0), utc(2024, 5, 20, 9, 0)]
READ_AS_OF = utc(2024, 4, 15, 12, 0)  # decisions follow it: the queue is read in full
RANGES = [("2024-02-01", "2024-04-30"), ("2024-02-10", "2024-04-29"), ("2024-02-01", "2024-03-15")]


async def build_contacts(w, seed: int = 11, n: int = 90) -> None:
    """`n` contacts from February to the end of April 2024 (London), times to the second, about
    half never decided; a team whose contacts all arrive on the last day (its median among the
    contacts read, not counted); two contacts received at the same instant."""
    rng = random.Random(seed)
    times = [utc(2024, 2, 1) + timedelta(seconds=rng.randrange(89 * 86400)) for _ in range(n)]
    times += [utc(2024, 3, 5, 10, 30)] * 2
    late = [utc(2024, 4, 30, 8) + timedelta(minutes=37 * i) for i in range(14)]  # 08:00 to 16:01
    for i, at in enumerate([*times, *late]):
        contact_id, child = uuid.uuid4(), uuid.uuid4()
        team = "FD-LATE" if at in late else rng.choice(TEAMS)
        received = contact(contact_id, child, at, rng.choice(("1A", "2A", "6")), team=team, area=AREAS[i % 3])
        journey = uuid.uuid4()
        await w.ref(journey, received, at)
        decided_at = at + timedelta(seconds=rng.randrange(600, 400 * 3600))
        if rng.random() < 0.5 and decided_at <= LAST_DECISION:
            outcome = rng.choice(("NFA", "EARLY_HELP", "CIN_ASSESSMENT"))
            await w.ref(journey, decision(uuid.uuid4(), contact_id, child, outcome, decided_at), decided_at)


async def report(w, token, as_of: datetime, **params: str) -> dict[str, Any]:
    r = await w.reporting.get(
        "/reports/awaiting-decision",
        params={**params, "as_of": as_of.isoformat(), "limit": "500"},
        headers=token("analyst"),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_kept_awaiting_figures_equal_the_queue_read_in_full(world_factory, token, monkeypatch):
    w = await world_factory()
    consumer = w.consumer("referrals")
    consumer.batch_size = consumer.catch_up_batch_size = 9
    await build_contacts(w)
    await w.catch_up("referrals")
    real = Reports._kept_awaiting
    kept_used: list[bool] = []

    async def spy(self: Reports, *args: Any) -> Any:
        result = await real(self, *args)
        kept_used.append(result is not None)
        return result

    async def read_in_full(self: Reports, *args: Any) -> None:
        return None

    for as_of in [*KEPT_AS_OF, READ_AS_OF]:
        for first, last in RANGES:
            for group_by in GroupBy:
                params = {"from": first, "to": last, "group_by": group_by.value}
                monkeypatch.setattr(Reports, "_kept_awaiting", spy)
                kept_used.clear()
                body = await report(w, token, as_of, **params)
                assert kept_used == [as_of in KEPT_AS_OF], (as_of, params)
                monkeypatch.setattr(Reports, "_kept_awaiting", read_in_full)
                assert await report(w, token, as_of, **params) == body, (as_of, params)
    # The figures cover the cases the kept path splits: waiting contacts counted (before the cut)
    # and read (since), groups whose median falls in either, and contacts received after as_of.
    monkeypatch.setattr(Reports, "_kept_awaiting", real)
    body = await report(
        w, token, KEPT_AS_OF[0], **{"from": RANGES[0][0], "to": RANGES[0][1], "group_by": "team"}
    )
    teams = {g["group"]: g for g in body["groups"]}
    assert teams["FD-LATE"]["waiting"] < 14 and teams["FD-LATE"]["breached"] == 0
    assert body["overall"]["breached"] > teams["FD-WEST"]["breached"] > 0
    assert body["overall"]["waiting"] > body["overall"]["breached"]
