"""Contact to outcome by day of the week: the London weekday of received_at (the day the week
grouping counts a contact on), Monday first. Each weekday's row is the report over that weekday's
contacts alone: shown by projecting those contacts alone into a world of their own and comparing
its whole (read by other paths: month counts and edge days) with the weekday's row; by hand-checked
figures across both clock changes and out of hours; and, for the overdue contacts read one by one,
at many a `now` around a clock change."""

from __future__ import annotations

import importlib
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from dbutil import delete_all
from reporting_kit import contact, decision, utc
from sqlalchemy import select
from test_contact_to_outcome_kept import DAY_NAMES, build_contacts, expected_report, report

from services.referrals import events as rev
from services.reporting.projections.models import ContactFact
from services.reporting.reports.models import DAY_OF_WEEK, ContactToOutcomeGroupBy
from services.reporting.reports.service import Reports, freshness
from shared.events.contract import EventPayload
from shared.working_days import LONDON

COUNTS = (
    "contacts",
    "backdated",
    "decided",
    "undecided",
    "with_superseded_decision",
    "due",
    "decided_within_timescale",
    "authorised",
    "awaiting_authorisation",
)


class Recorder:
    """Stands in for a world while the contacts are built: keeps each journey's events, to be
    appended to whichever worlds take that journey."""

    def __init__(self) -> None:
        self.events: list[tuple[uuid.UUID, EventPayload, datetime]] = []

    async def ref(self, journey_id: uuid.UUID, payload: EventPayload, at: datetime) -> None:
        self.events.append((journey_id, payload, at))

    def received(self) -> dict[uuid.UUID, datetime]:
        """Each journey's contact's received_at."""
        return {j: p.received_at for j, p, _ in self.events if isinstance(p, rev.ContactReceived)}


async def boundary_contacts(w: Any) -> None:
    """Contacts whose London weekday is not their UTC weekday: at the clock changes of 2024 and on
    summer nights, decided or not, and one received out of hours on a weekday."""
    received = [
        (utc(2024, 3, 30, 23, 30), utc(2024, 4, 2, 9)),  # Sat 23:30 GMT, hours before the change
        (utc(2024, 3, 31, 0, 59), utc(2024, 4, 2, 12)),  # Sun 00:59 GMT, a minute before it
        (utc(2024, 3, 31, 23, 30), None),  # Mon 00:30 BST (Easter Monday)
        (utc(2024, 6, 30, 23, 30), utc(2024, 7, 1, 9, 30)),  # Mon 00:30 BST
        (utc(2024, 7, 3, 17, 30), utc(2024, 7, 4, 8, 30)),  # Wed 18:30 BST, out of hours
        (utc(2024, 7, 6, 23), utc(2024, 7, 9, 15)),  # Sun 00:00 BST
        (utc(2024, 10, 26, 23, 30), utc(2024, 10, 28, 10)),  # Sun 00:30 BST
        (utc(2024, 10, 27, 0, 30), None),  # Sun 01:30 BST, the first of the two
        (utc(2024, 10, 27, 1, 30), utc(2024, 10, 29, 16)),  # Sun 01:30 GMT, the second
        (utc(2024, 10, 27, 23, 30), utc(2024, 10, 28, 9, 15)),  # Sun 23:30 GMT
    ]
    for i, (at, decided) in enumerate(received):
        journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await w.ref(journey, contact(contact_id, child, at, ("1A", "6")[i % 2], team=f"T{i % 3}"), at)
        if decided is not None:
            await w.ref(journey, decision(uuid.uuid4(), contact_id, child, "NFA", decided), decided)


async def wipe(db_urls: dict[str, str]) -> None:
    """Empty the referrals log and reporting's projection, for a world of other contacts."""
    for name in ("reporting", "referrals"):
        metadata = importlib.import_module(f"services.{name}.db").metadata
        await delete_all(db_urls[name], [t.name for t in reversed(metadata.sorted_tables)])


def rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {body["overall"]["group"]: body["overall"]} | {g["group"]: g for g in body["groups"]}


# Whole months; partial edge months (the whole from month counts less or plus edge days); one ISO
# week; a single Sunday.
ALONE_RANGES = [
    ("2024-03-01", "2024-10-31"),
    ("2024-03-09", "2024-10-27"),
    ("2024-07-01", "2024-07-07"),
    ("2024-10-27", "2024-10-27"),
]


async def test_each_weekday_row_is_the_report_over_that_weekdays_contacts_alone(
    world_factory, token, db_urls
):
    """The contacts are projected all together, and then each weekday's alone (the log and the
    projection emptied in between): each weekday's row is that projection's whole, which the report
    takes by other paths (month counts, and edge days added or taken off)."""
    recorder = Recorder()
    await build_contacts(recorder, seed=23, n=140, start=utc(2024, 3, 1))
    await boundary_contacts(recorder)
    weekday = {j: DAY_NAMES[at.astimezone(LONDON).weekday()] for j, at in recorder.received().items()}

    async def reports_of(day: str | None, **grouping: str) -> list[dict[str, Any]]:
        """The reports over ALONE_RANGES with the contacts of `day` alone (None: all of them)."""
        await wipe(db_urls)
        w = await world_factory()
        for journey, payload, at in recorder.events:
            if day is None or weekday[journey] == day:
                await w.ref(journey, payload, at)
        await w.catch_up("referrals")
        return [await report(w, token, **{"from": a, "to": b}, **grouping) for a, b in ALONE_RANGES]

    whole = await reports_of(None)
    grouped = await reports_of(None, group_by="day_of_week")
    alone = {day: [body["overall"] for body in await reports_of(day)] for day in DAY_NAMES}
    assert whole[0]["overall"]["decided"] > 100 and whole[0]["overall"]["authorised"] > 5
    assert whole[0]["overall"]["backdated"] > 5
    for i, (first, last) in enumerate(ALONE_RANGES):
        body = grouped[i]
        assert body["group_by"] == "day_of_week"
        by_day = rows(body)
        # Monday first, only the days with contacts in the range.
        assert [g["group"] for g in body["groups"]] == [d for d in DAY_NAMES if d in by_day]
        for day in DAY_NAMES:
            if not alone[day][i]["contacts"]:
                assert day not in by_day, (first, last, day)
                continue
            assert {**by_day[day], "group": "ALL"} == alone[day][i], (first, last, day)
        # The counts of the days add up to the whole's, and the whole is the report's however grouped.
        for name in COUNTS:
            assert sum(g[name] for g in body["groups"]) == body["overall"][name], (first, last, name)
        assert body["overall"] == whole[i]["overall"]


async def test_the_weekday_is_received_ats_london_date_by_hand(world_factory, token):
    """Figures worked out by hand: a contact at 23:30 UTC on a summer Sunday is a Monday's, one at
    23:00 UTC on a summer Saturday a Sunday's, and on the October change both 01:30s are Sunday's;
    each is counted on the same day, and so in the same ISO week, as the week grouping counts it."""
    w = await world_factory()
    events = [
        # Monday: Sun 30 June 23:30 UTC (Mon 00:30 BST, out of hours) decided Mon 10:30 BST
        # (10 calendar hours; 1.5 working hours from the 09:00 opening); Mon 1 July 10:00 BST
        # decided 14:00 BST (4 h and 4 h).
        (utc(2024, 6, 30, 23, 30), utc(2024, 7, 1, 9, 30)),
        (utc(2024, 7, 1, 9), utc(2024, 7, 1, 13)),
        # Wednesday, out of hours: Wed 3 July 18:30 BST decided Thu 09:30 BST (15 h; 0.5 h).
        (utc(2024, 7, 3, 17, 30), utc(2024, 7, 4, 8, 30)),
        # Saturday: Sat 6 July 23:59 BST decided Mon 10:59 BST (35 h; 1 h 59 min); Sat 30 March
        # 23:30 GMT, the night the clocks go forward, decided Tue 2 April 10:00 BST after Easter
        # Monday (57.5 h; 1 h).
        (utc(2024, 7, 6, 22, 59), utc(2024, 7, 8, 9, 59)),
        (utc(2024, 3, 30, 23, 30), utc(2024, 4, 2, 9)),
        # Sunday: Sun 7 July 00:00 BST, undecided; Sun 27 October 00:30 BST decided Mon 10:00 GMT
        # (34.5 h; 1 h); 01:30 BST and 23:30 GMT that Sunday, undecided.
        (utc(2024, 7, 6, 23), None),
        (utc(2024, 10, 26, 23, 30), utc(2024, 10, 28, 10)),
        (utc(2024, 10, 27, 0, 30), None),
        (utc(2024, 10, 27, 23, 30), None),
    ]
    for at, decided in events:
        journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await w.ref(journey, contact(contact_id, child, at, "6"), at)
        if decided is not None:
            await w.ref(journey, decision(uuid.uuid4(), contact_id, child, "NFA", decided), decided)
    await w.catch_up("referrals")
    params = {"from": "2024-03-01", "to": "2024-10-31"}
    body = await report(w, token, **params, group_by="day_of_week")
    assert [g["group"] for g in body["groups"]] == ["Monday", "Wednesday", "Saturday", "Sunday"]
    figures = (
        "contacts",
        "decided",
        "undecided",
        "due",
        "decided_within_timescale",
        "pct_decided_within_timescale",
        "decision_calendar_hours_median",
        "decision_calendar_hours_p90",
        "decision_calendar_hours_mean",
        "decision_working_hours_median",
        "decision_working_hours_p90",
        "decision_working_hours_mean",
    )
    got = {key: tuple(row[f] for f in figures) for key, row in rows(body).items()}
    assert got == {
        "Monday": (2, 2, 0, 2, 2, 100.0, 4.0, 10.0, 7.0, 1.5, 4.0, 2.75),
        "Wednesday": (1, 1, 0, 1, 1, 100.0, 15.0, 15.0, 15.0, 0.5, 0.5, 0.5),
        # Working hours 1 and 1.9833: the 90th percentile to a tenth, the mean to 2 places.
        "Saturday": (2, 2, 0, 2, 2, 100.0, 35.0, 57.5, 46.25, 1.0, 2.0, 1.49),
        # Three undecided, long past their deadlines: due, not within.
        "Sunday": (4, 1, 3, 4, 1, 25.0, 34.5, 34.5, 34.5, 1.0, 1.0, 1.0),
        "ALL": (9, 6, 3, 9, 6, 66.67, 15.0, 57.5, 26.0, 1.0, 4.0, 1.66),
    }
    assert body["definitions"]["day_of_week"]
    # The same days as the week grouping: the summer Sunday night's contact in the week of Monday
    # 1 July (2024-W27), the October ones in the week ending Sunday 27 October (W43).
    weeks = rows(await report(w, token, **params, group_by="week"))
    assert {k: r["contacts"] for k, r in weeks.items()} == {
        "ALL": 9,
        "2024-W13": 1,
        "2024-W27": 5,
        "2024-W43": 3,
    }
    # The CSV has the same rows in the same order.
    csv = await w.reporting.get(
        "/reports/contact-to-outcome",
        params={**params, "group_by": "day_of_week"},
        headers={**token("analyst"), "Accept": "text/csv"},
    )
    assert csv.status_code == 200, csv.text
    assert [line.split(",")[0] for line in csv.text.splitlines()] == [
        "group",
        "ALL",
        "Monday",
        "Wednesday",
        "Saturday",
        "Sunday",
    ]
    # Any range the other groupings take, however long: seven groups at most, no period limit.
    r = await w.reporting.get(
        "/reports/contact-to-outcome",
        params={"from": "2000-01-01", "to": "2099-12-31", "group_by": "day_of_week"},
        headers=token("analyst"),
    )
    assert r.status_code == 200, r.text
    assert rows(r.json()) == rows(body)


async def test_overdue_contacts_read_one_by_one_fall_on_their_london_weekday(world_factory):
    """The overdue contacts received on or after the first day not all past their deadline are read
    one by one and grouped by a CASE over the instants London days begin (from that day to today
    only): at every `now` over the week of the October 2024 clock change, every weekday's row is as
    the definitions give it, whether the range ends before today or after."""
    w = await world_factory()
    at = utc(2024, 10, 24)
    i = 0
    while at < utc(2024, 10, 31):
        journey, contact_id, child = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await w.ref(journey, contact(contact_id, child, at, "6"), at)
        if i % 4 == 0:
            decided = at + timedelta(hours=30)
            await w.ref(journey, decision(uuid.uuid4(), contact_id, child, "NFA", decided), decided)
        # Every 2 h 30 min: each hour of the day is met, midnights and the repeated 01:30 among them.
        at += timedelta(hours=2, minutes=30)
        i += 1
    await w.catch_up("referrals")
    service = w.reporting.app.state.service
    async with service.db.read_session() as session:
        contacts = [dict(r) for r in (await session.execute(select(ContactFact.__table__))).mappings()]
        reports = Reports(session, service.settings, await freshness(session, []))
        now = utc(2024, 10, 25)
        read_one_by_one = 0  # overdue contacts received on or after the day settled at `now`
        while now < utc(2024, 11, 1, 12):
            settled = reports._past_deadline_before(now)
            read_one_by_one += sum(
                1
                for c in contacts
                if c["first_decided_at"] is None
                and c["decision_due_at"] < now
                and c["received_at"].astimezone(LONDON).date() >= settled
            )
            for first, last in (("2024-10-01", "2024-11-30"), ("2024-10-26", "2024-10-28")):
                got = await reports.contact_to_outcome(
                    date.fromisoformat(first), date.fromisoformat(last), DAY_OF_WEEK, now
                )
                body = got.model_dump(mode="json")
                expected = expected_report(contacts, ContactToOutcomeGroupBy.day_of_week, first, last, now)
                assert set(rows(body)) == set(expected), (now, first)
                for key, row in expected.items():
                    assert {k: rows(body)[key][k] for k in row} == row, (now, first, key)
            now += timedelta(hours=3, minutes=20)
    assert read_one_by_one > 10
