"""The front-door -> long-term team transfer lag (TSPROC) in the handovers report, figures worked out by
hand: a journey's standard transfer is its first TSPROC handover that changed the team; its lag runs
from the first contact, in working days (local calendar, as unallocated working days) and in calendar
days.

January 2024 (GMT, so London time is UTC), Mon 15 January a local closure day (the lag's working days
are local, as unallocated working days are: it does not count):
  A  FD-WEST  Thu 11 Jan 10:00; TSPROC change of worker within FD-WEST Mon 15 Jan (not a transfer);
              TSPROC FD-WEST -> ASSESS-1 Tue 16 Jan 10:00: Fri, Tue = 2 working days, 5.00 days;
              TSPROC ASSESS-1 -> ASSESS-2 Mon 22 Jan (a second one: does not count).
  B  FD-EAST  Mon 15 Jan 09:00; TSPROC to ASSESS-2 the same day 17:30: 0 working days, 8.5 h = 0.35 days.
  C  FD-WEST  Fri 26 Jan 15:00; MANAGE to ASSESS-1 Mon 29 Jan (not TSPROC); TSPROC to ASSESS-2 Wed 7
              Feb 09:00: Mon 29 Jan to Wed 7 Feb = 8 working days, 11 days 18 h = 11.75 days.
  D  FD-NORTH Wed 10 Jan 10:00, allocated, never transferred: no standard transfer.
February:
  E  FD-EAST  Thu 1 Feb 10:00; TSPROC to ASSESS-1 Fri 2 Feb 16:00: 1 working day, 30 h = 1.25 days.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

from reporting_kit import contact, transfer, utc
from test_handovers_kept import allocated, assert_kept_match_journeys, report

NOW = utc(2024, 6, 1, 12)
LAG_FIELDS = (
    "standard_transfers",
    "standard_transfer_working_days_median",
    "standard_transfer_working_days_p90",
    "standard_transfer_days_median",
    "standard_transfer_days_p90",
)


def lag(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in LAG_FIELDS)


async def build(w) -> dict[str, uuid.UUID]:
    """The five journeys, event by event, the kept counts checked against a recount after each: a
    transfer arrives after its journey was counted in its month."""
    ids = {name: uuid.uuid4() for name in "ABCDE"}
    children = {name: uuid.uuid4() for name in "ABCDE"}

    async def add(name: str, payload: Any, at: datetime) -> None:
        await w.ref(ids[name], payload, at)
        await w.catch_up("referrals")
        await assert_kept_match_journeys(w)

    def move(name: str, at: datetime, teams: tuple[str, str], workers: tuple[str, str], reason: str) -> Any:
        (from_team, to_team), (from_worker, to_worker) = teams, workers
        return transfer(
            children[name],
            at,
            from_team=from_team,
            to_team=to_team,
            from_worker=from_worker,
            to_worker=to_worker,
            reason=reason,
        )

    a = utc(2024, 1, 11, 10)
    await add("A", contact(uuid.uuid4(), children["A"], a, "6", team="FD-WEST"), a)
    await add("A", allocated(children["A"], "FD-WEST", "w-1", a.replace(hour=12)), a.replace(hour=12))
    within = utc(2024, 1, 15, 10)
    await add("A", move("A", within, ("FD-WEST", "FD-WEST"), ("w-1", "w-2"), "TSPROC"), within)
    first = utc(2024, 1, 16, 10)
    await add("A", move("A", first, ("FD-WEST", "ASSESS-1"), ("w-2", "w-3"), "TSPROC"), first)
    second = utc(2024, 1, 22, 10)
    await add("A", move("A", second, ("ASSESS-1", "ASSESS-2"), ("w-3", "w-4"), "TSPROC"), second)

    b = utc(2024, 1, 15, 9)
    await add("B", contact(uuid.uuid4(), children["B"], b, "1A", team="FD-EAST", area="East"), b)
    await add("B", allocated(children["B"], "FD-EAST", "w-5", b), b)
    same_day = utc(2024, 1, 15, 17, 30)
    await add("B", move("B", same_day, ("FD-EAST", "ASSESS-2"), ("w-5", "w-6"), "TSPROC"), same_day)

    c = utc(2024, 1, 26, 15)
    await add("C", contact(uuid.uuid4(), children["C"], c, "6", team="FD-WEST"), c)
    await add("C", allocated(children["C"], "FD-WEST", "w-1", c), c)
    manage = utc(2024, 1, 29, 10)
    await add("C", move("C", manage, ("FD-WEST", "ASSESS-1"), ("w-1", "w-3"), "MANAGE"), manage)
    tsproc = utc(2024, 2, 7, 9)
    await add("C", move("C", tsproc, ("ASSESS-1", "ASSESS-2"), ("w-3", "w-4"), "TSPROC"), tsproc)

    d = utc(2024, 1, 10, 10)
    await add("D", contact(uuid.uuid4(), children["D"], d, "2A", team="FD-NORTH", area="North"), d)
    await add("D", allocated(children["D"], "FD-NORTH", "w-7", d), d)

    e = utc(2024, 2, 1, 10)
    await add("E", contact(uuid.uuid4(), children["E"], e, "1A", team="FD-EAST", area="East"), e)
    next_day = utc(2024, 2, 2, 16)
    await add("E", move("E", next_day, ("FD-EAST", "ASSESS-1"), ("w-5", "w-8"), "TSPROC"), next_day)
    return ids


async def test_the_standard_transfer_lag_by_month_and_by_team(world_factory, token):
    w = await world_factory(local_closure_days=["2024-01-15"])
    ids = await build(w)
    jan_feb = {"from": "2024-01-01", "to": "2024-02-29"}

    # By month, whole months: the counts kept per month.
    body = await report(w, token, NOW, **jan_feb, group_by="month")
    months = {g["group"]: g for g in body["groups"]}
    # January: A 2 / 5.00, B 0 / 0.35, C 8 / 11.75 (D has none): ranks 2 and 3 of 3.
    assert lag(months["2024-01"]) == (3, 2.0, 8.0, 5.0, 11.75)
    assert months["2024-01"]["journeys"] == 4
    # February: E alone, 1 / 1.25.
    assert lag(months["2024-02"]) == (1, 1.0, 1.0, 1.25, 1.25)
    # The whole: 0, 1, 2, 8 working days and 0.35, 1.25, 5.00, 11.75 days: ranks 2 and 4 of 4.
    assert lag(body["overall"]) == (4, 1.0, 8.0, 1.25, 11.75)
    listed = {j["journey_id"]: j for j in body["journeys"]}
    a = listed[str(ids["A"])]
    assert (a["standard_transfer_at"], a["standard_transfer_working_days"], a["standard_transfer_days"]) == (
        "2024-01-16T10:00:00Z",
        2,
        5.0,
    )
    d = listed[str(ids["D"])]
    assert (d["standard_transfer_at"], d["standard_transfer_working_days"], d["standard_transfer_days"]) == (
        None,
        None,
        None,
    )
    assert "standard_transfer" in body["definitions"]

    # By front-door team (the counts kept per key): FD-WEST A and C; FD-EAST B and E; FD-NORTH D, none.
    teams = await report(w, token, NOW, **jan_feb, group_by="team")
    by_team = {g["group"]: g for g in teams["groups"]}
    assert lag(by_team["FD-WEST"]) == (2, 2.0, 8.0, 5.0, 11.75)
    assert lag(by_team["FD-EAST"]) == (2, 0.0, 1.0, 0.35, 1.25)
    assert lag(by_team["FD-NORTH"]) == (0, None, None, None, None)
    assert lag(teams["overall"]) == lag(body["overall"])

    # January alone, from the 2nd (not whole months: January's counts less its 1st's).
    part = await report(w, token, NOW, **{"from": "2024-01-02", "to": "2024-01-31"})
    assert lag(part["overall"]) == lag(months["2024-01"])

    # The CSV rows carry the new columns, a missing figure blank.
    r = await w.reporting.get(
        "/reports/handovers",
        params={**jan_feb, "group_by": "team"},
        headers={**token("analyst"), "Accept": "text/csv"},
    )
    rows = {x["group"]: x for x in csv.DictReader(io.StringIO(r.text))}
    assert [rows["FD-WEST"][name] for name in LAG_FIELDS] == ["2", "2.0", "8.0", "5.0", "11.75"]
    assert [rows["FD-NORTH"][name] for name in LAG_FIELDS] == ["0", "", "", "", ""]

    # A rebuild in one batch leaves the same rows and reports.
    consumer = w.consumer("referrals")
    consumer.batch_size = consumer.catch_up_batch_size = 500
    await consumer.rebuild()
    await assert_kept_match_journeys(w)
    assert await report(w, token, NOW, **jan_feb, group_by="month") == body
    assert await report(w, token, NOW, **jan_feb, group_by="team") == teams


async def test_a_journey_without_a_standard_transfer_leaves_the_lag_null(world_factory, token):
    """No journey with one: counted as none, its figures null, on both paths."""
    w = await world_factory()
    at = utc(2024, 3, 4, 10)
    await w.ref(uuid.uuid4(), contact(uuid.uuid4(), uuid.uuid4(), at, "6"), at)
    await w.catch_up("referrals")
    for group_by in ("month", "team"):
        body = await report(w, token, NOW, **{"from": "2024-03-01", "to": "2024-03-31", "group_by": group_by})
        assert lag(body["overall"]) == (0, None, None, None, None)
        assert [lag(g) for g in body["groups"]] == [(0, None, None, None, None)]


async def test_a_standard_transfer_before_the_first_contact_counts_once_the_contact_arrives(
    world_factory, token
):
    """F's TSPROC transfer (Tue 5 March 2024 10:00) arrives before its first contact (Mon 4 March
    10:00): no lag until the contact arrives, then 1 working day, 1.00 day. G's transfer is dated
    before its first contact (Wed 6 March 09:00 against 12:00): it lags by nothing."""
    w = await world_factory()
    f, g, child_f, child_g = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    steps = [
        (f, transfer(child_f, utc(2024, 3, 5, 10), from_team="FD-WEST", to_team="ASSESS-1",
                     from_worker="w-1", to_worker="w-2", reason="TSPROC"), utc(2024, 3, 5, 10)),
        (f, contact(uuid.uuid4(), child_f, utc(2024, 3, 4, 10), "6"), utc(2024, 3, 5, 11)),
        (g, contact(uuid.uuid4(), child_g, utc(2024, 3, 6, 12), "6"), utc(2024, 3, 6, 12)),
        (g, transfer(child_g, utc(2024, 3, 6, 9), from_team="FD-WEST", to_team="ASSESS-2",
                     from_worker="w-1", to_worker="w-3", reason="TSPROC"), utc(2024, 3, 6, 13)),
    ]  # fmt: skip
    march = {"from": "2024-03-01", "to": "2024-03-31"}
    for i, (journey, payload, at) in enumerate(steps):
        await w.ref(journey, payload, at)
        await w.catch_up("referrals")
        await assert_kept_match_journeys(w)
        if i == 0:
            assert lag((await report(w, token, NOW, **march))["overall"]) == (0, None, None, None, None)
    body = await report(w, token, NOW, **march)
    # Working days 0 (G) and 1 (F), days 0.00 and 1.00: ranks 1 and 2 of 2.
    assert lag(body["overall"]) == (2, 0.0, 1.0, 0.0, 1.0)
