"""The policy and GET /supervisions/due: when each open journey is next due, and which are overdue."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pydantic
import pytest
from sqlalchemy import text

from services.reporting.projections.supervision_days import contribution
from services.reporting.settings import Settings as ReportingSettings
from services.supervision.policy import Policy
from services.supervision.settings import Settings
from services.supervision.supervisions.models import Supervision
from shared.codes import ServiceType
from shared.types import utcnow
from shared.working_days import STATUTORY


async def test_due_list_for_a_team(h) -> None:
    # All journeys start Mon 2 Mar 2026 (the harness default) unless said otherwise.
    fd, _ = await h.journey(worker="w1")
    fs, _ = await h.journey(worker="w1", service_type=ServiceType.family_safeguarding)
    nq, _ = await h.journey(worker="w5")
    supervised, _ = await h.journey(worker="w1")
    recent, _ = await h.journey(worker="w1", received_at=utcnow() - timedelta(hours=1))
    closed, closed_child = await h.journey(worker="w1")
    await h.close(closed, closed_child)
    await h.journey(team="AS-EAST", worker="w1", service_type=ServiceType.assessment)
    await h.sync()
    assert (
        await h.client.put("/workers/w5", json={"newly_qualified_until": "2099-12-31"}, headers=h.manager())
    ).status_code == 201
    assert (await h.record(supervised, actions=[])).status_code == 201  # held 16 Mar: next due 15 Apr

    r = await h.client.get("/supervisions/due", headers=h.manager())
    assert r.status_code == 200, r.text
    items = {i["journey_id"]: i for i in r.json()["items"]}
    assert r.json()["total"] == 5 and set(items) == {str(j) for j in (fd, fs, nq, supervised, recent)}
    # Front door every 20 working days from Mon 2 Mar: 4 whole weeks, no holidays -> Mon 30 Mar.
    assert (items[str(fd)]["due_on"], items[str(fd)]["basis"], items[str(fd)]["interval_working_days"]) == (
        "2026-03-30",
        "journey_start",
        20,
    )
    # Family safeguarding (not configured: 30 days): 21 working days to 31 Mar, then 1, 2, 7, 8, 9, 10,
    # 13, 14, 15 Apr (3 and 6 Apr are Good Friday and Easter Monday) -> Wed 15 Apr.
    assert (items[str(fs)]["due_on"], items[str(fs)]["interval_working_days"]) == ("2026-04-15", 30)
    # Newly qualified: 10 working days -> Mon 16 Mar.
    assert (items[str(nq)]["due_on"], items[str(nq)]["interval_working_days"]) == ("2026-03-16", 10)
    assert (items[str(supervised)]["due_on"], items[str(supervised)]["basis"]) == (
        "2026-04-15",
        "last_supervision",
    )
    assert items[str(supervised)]["last_held_at"] == "2026-03-16T10:00:00Z"
    assert all(items[str(j)]["overdue"] for j in (fd, fs, nq, supervised))
    assert (
        items[str(recent)]["overdue"] is False and items[str(recent)]["due_on"] > utcnow().date().isoformat()
    )

    order = [i["journey_id"] for i in r.json()["items"]]
    assert order[0] == str(nq) and order[1] == str(fd) and order[-1] == str(recent)

    overdue = await h.client.get("/supervisions/due?team=FD-WEST&overdue=true", headers=h.manager())
    assert {i["journey_id"] for i in overdue.json()["items"]} == {str(j) for j in (fd, fs, nq, supervised)}
    not_yet = await h.client.get("/supervisions/due?overdue=false", headers=h.manager())
    assert [i["journey_id"] for i in not_yet.json()["items"]] == [str(recent)]
    page = await h.client.get("/supervisions/due?overdue=true&limit=2&offset=1", headers=h.manager())
    assert [i["journey_id"] for i in page.json()["items"]] == order[1:3]
    assert page.json()["total"] == 4
    worker = await h.client.get("/supervisions/due?worker=w5", headers=h.manager())
    assert [i["journey_id"] for i in worker.json()["items"]] == [str(nq)]


async def test_due_list_access(h) -> None:
    mine, _ = await h.journey(worker="w1")
    await h.journey(worker="w2")
    east, _ = await h.journey(team="AS-EAST", worker="w1", service_type=ServiceType.assessment)
    other = await h.client.get("/supervisions/due?team=AS-EAST", headers=h.manager())
    assert other.status_code == 403
    w1 = await h.client.get("/supervisions/due", headers=h.token("practitioner", sub="w1"))
    assert {i["journey_id"] for i in w1.json()["items"]} == {str(mine), str(east)}
    w1_west = await h.client.get("/supervisions/due?team=FD-WEST", headers=h.token("practitioner", sub="w1"))
    assert [i["journey_id"] for i in w1_west.json()["items"]] == [str(mine)]
    nosy = await h.client.get("/supervisions/due?worker=w2", headers=h.token("practitioner", sub="w1"))
    assert nosy.status_code == 403
    bad = await h.client.get("/supervisions/due?overdue=perhaps", headers=h.manager())
    assert bad.status_code == 422 and bad.json()["invalid-params"][0]["name"] == "overdue"
    bad_page = await h.client.get("/supervisions/due?limit=0", headers=h.manager())
    assert bad_page.status_code == 422 and bad_page.json()["invalid-params"][0]["name"] == "limit"
    huge = await h.client.get("/supervisions/due?offset=9223372036854775808", headers=h.manager())
    assert huge.status_code == 422 and huge.json()["invalid-params"][0]["name"] == "offset"


async def test_a_transfer_moves_the_journey_to_the_new_teams_list_without_restarting_the_clock(h) -> None:
    journey_id, child_id = await h.journey(worker="w1")
    await h.transfer(
        journey_id, child_id, to_team="AS-EAST", to_worker="w2", service_type=ServiceType.assessment
    )
    await h.sync()
    assert (await h.client.get("/supervisions/due", headers=h.manager())).json()["items"] == []
    east = (await h.client.get("/supervisions/due", headers=h.manager("AS-EAST"))).json()["items"]
    # Assessment is also every 20 working days from the journey start (Mon 2 Mar) -> Mon 30 Mar.
    assert [(i["journey_id"], i["due_on"], i["worker_id"]) for i in east] == [
        (str(journey_id), "2026-03-30", "w2")
    ]


async def test_frequencies_are_configurable(make_harness) -> None:
    h = await make_harness(
        frequency_working_days={"front_door": 5},
        default_frequency_working_days=15,
        newly_qualified_frequency_working_days=3,
    )
    fd, _ = await h.journey(worker="w1")
    other, _ = await h.journey(worker="w1", service_type=ServiceType.early_help)
    assessment, _ = await h.journey(worker="w1", service_type=ServiceType.assessment)
    items = {
        i["journey_id"]: i
        for i in (await h.client.get("/supervisions/due", headers=h.manager())).json()["items"]
    }
    # 5 working days after Mon 2 Mar -> Mon 9 Mar; 15 -> Mon 23 Mar.
    assert items[str(fd)]["due_on"] == "2026-03-09" and items[str(other)]["due_on"] == "2026-03-23"
    # A service type the map does not name keeps the policy's interval (assessment: 20 working days ->
    # Mon 30 Mar), not the default for other service types.
    assert (
        items[str(assessment)]["due_on"] == "2026-03-30"
        and items[str(assessment)]["interval_working_days"] == 20
    )
    recorded = await h.record(fd, actions=[])
    # Held Mon 16 Mar + 5 working days -> Mon 23 Mar.
    assert recorded.json()["next_due_on"] == "2026-03-23"


@pytest.mark.parametrize(
    ("calendar", "due_on"),
    [
        ({}, "2026-03-09"),  # 5 working days after Mon 2 Mar
        ({"counting": "day_1"}, "2026-03-06"),  # Mon 2 Mar is day 1
        ({"local_closure_days": ["2026-03-04"]}, "2026-03-10"),  # the council closed on Wed 4 Mar
    ],
)
async def test_the_policys_working_days_are_configured_as_reportings(
    make_harness, calendar: dict, due_on: str
) -> None:
    """Supervision is a local measure (REFERENCE.md 4.1): council closure days are not working days,
    and the counting convention is a setting. Set as reporting's, the two services agree."""
    h = await make_harness(frequency_working_days={"front_door": 5}, **calendar)
    journey_id, _ = await h.journey(worker="w1")
    items = (await h.client.get("/supervisions/due", headers=h.manager())).json()["items"]
    assert [(i["journey_id"], i["due_on"]) for i in items] == [(str(journey_id), due_on)]
    reporting = ReportingSettings(database_url="sqlite+aiosqlite:///:memory:", **calendar)
    assert reporting.calendar().local().add_working_days(date(2026, 3, 2), 5) == date.fromisoformat(due_on)


def test_policy_settings_from_the_environment_and_refused_when_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISION_FREQUENCY_WORKING_DAYS", '{"front_door": 15, "leaving_care": 40}')
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:")
    # Over the policy's defaults: assessment keeps its 20.
    assert settings.frequency_working_days == {
        ServiceType.front_door: 15,
        ServiceType.assessment: 20,
        ServiceType.leaving_care: 40,
    }
    with pytest.raises(pydantic.ValidationError):
        Settings(database_url="sqlite+aiosqlite:///:memory:", frequency_working_days={"bogus": 10})
    with pytest.raises(pydantic.ValidationError):
        Settings(database_url="sqlite+aiosqlite:///:memory:", frequency_working_days={"front_door": 0})


@pytest.mark.parametrize(
    ("interval", "setting"),
    [
        ({"frequency_working_days": {"assessment": 1}}, "SUPERVISION_FREQUENCY_WORKING_DAYS"),
        ({"default_frequency_working_days": 1}, "SUPERVISION_DEFAULT_FREQUENCY_WORKING_DAYS"),
        ({"newly_qualified_frequency_working_days": 1}, "SUPERVISION_NEWLY_QUALIFIED_FREQUENCY_WORKING_DAYS"),
    ],
)
def test_day_1_counting_refuses_an_interval_of_one_working_day(interval: dict, setting: str) -> None:
    """Counting the day held as day 1, an interval of 1 makes the default next due date the day held,
    which recording refuses (it must be after that day): every supervision without next_due_on would
    be a 422 naming a field the client never sent. Refused at start-up instead, as reporting refuses
    day_1 with a decision timescale of 0."""
    with pytest.raises(pydantic.ValidationError, match=setting):
        Settings(database_url="sqlite+aiosqlite:///:memory:", counting="day_1", **interval)
    # Either alone is fine: day_0 counts 1 working day after the day held, and 2 is the day after.
    Settings(database_url="sqlite+aiosqlite:///:memory:", **interval)
    Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        counting="day_1",
        **{k: {t: 2 for t in v} if isinstance(v, dict) else 2 for k, v in interval.items()},
    )


async def test_day_1_counting_with_the_shortest_interval_allowed_defaults_to_the_next_working_day(
    make_harness,
) -> None:
    h = await make_harness(counting="day_1", frequency_working_days={"front_door": 2})
    journey_id, _ = await h.journey(worker="w1")
    # Held Fri 13 Mar (day 1): day 2 is Mon 16 Mar.
    recorded = await h.record(journey_id, actions=[], held_at="2026-03-13T10:00:00Z")
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["next_due_on"] == "2026-03-16"


async def test_two_supervisions_held_at_once_the_latest_is_reportings_the_higher_id(
    h, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reporting takes, of supervisions held at the same instant, the one with the higher id as the
    latest (its README). The due list and the child's history (newest first) must take the same one,
    whatever order they were recorded in: here the first recorded has the higher id."""
    journey_id, child_id = await h.journey(worker="w1")
    high, low = uuid.UUID(int=(1 << 128) - 1), uuid.UUID(int=1)
    ids = iter([high, low])
    monkeypatch.setattr(Supervision.model_fields["id"], "default_factory", lambda: next(ids))
    first = await h.record(journey_id, actions=[], next_due_on="2026-03-18")
    second = await h.record(journey_id, actions=[], next_due_on="2026-03-25")
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert (first.json()["id"], second.json()["id"]) == (str(high), str(low))

    held = datetime.fromisoformat(first.json()["held_at"])
    journey = {
        "journey_id": journey_id,
        "opened_at": datetime(2026, 3, 2, 10, tzinfo=UTC),
        "closed_at": None,
        "current_service_type": "front_door",
        "current_worker_id": "w1",
        "due_base_day": 0,
        **dict.fromkeys(("current_area", "area", "current_team_id", "team_id", "source", "outcome")),
    }
    supervisions = [
        {"supervision_id": s, "held_at": held, "next_due_on": due, "next_due_half_day": 0, "due_base_day": 0}
        for s, due in ((high, date(2026, 3, 18)), (low, date(2026, 3, 25)))
    ]
    reporting = contribution(STATUTORY, ReportingSettings(), journey, supervisions, {})
    reporting_due = reporting.spells[-1][5]  # the spell after the latest supervision: its due date
    assert reporting_due == date(2026, 3, 18)

    items = (await h.client.get("/supervisions/due", headers=h.manager())).json()["items"]
    assert [(i["last_supervision_id"], i["due_on"]) for i in items] == [
        (str(high), reporting_due.isoformat())
    ]
    history = (await h.client.get(f"/children/{child_id}/supervisions", headers=h.manager())).json()
    assert [s["id"] for s in history["items"]] == [str(high), str(low)]


async def _due(h) -> dict[str, dict]:
    r = await h.client.get("/supervisions/due", headers=h.manager())
    assert r.status_code == 200, r.text
    return {i["journey_id"]: i for i in r.json()["items"]}


async def test_a_supervised_journeys_interval_is_the_one_its_due_date_came_from(h) -> None:
    """The interval shown is the one that produced due_on: the supervisee's newly-qualified status on
    the day held, not the current worker's today (a lapsed entry, or one added since)."""
    lapsed, _ = await h.journey(worker="w5")
    added, _ = await h.journey(worker="w6")
    # w5 was newly qualified until the end of March: at a supervision on Mon 16 Mar, 10 working days.
    put = await h.client.put("/workers/w5", json={"newly_qualified_until": "2026-03-31"}, headers=h.manager())
    assert put.status_code == 201, put.text
    first = await h.record(lapsed, actions=[], supervisee_id="w5")
    assert first.json()["next_due_on"] == "2026-03-30"  # Mon 16 Mar + 10 working days
    second = await h.record(added, actions=[], supervisee_id="w6")
    assert second.json()["next_due_on"] == "2026-04-15"  # + 20 (3 and 6 Apr are bank holidays)
    # w6 joins the register after the supervision.
    put = await h.client.put("/workers/w6", json={"newly_qualified_until": "2099-12-31"}, headers=h.manager())
    assert put.status_code == 201, put.text

    items = await _due(h)
    assert (items[str(lapsed)]["due_on"], items[str(lapsed)]["interval_working_days"]) == ("2026-03-30", 10)
    assert (items[str(added)]["due_on"], items[str(added)]["interval_working_days"]) == ("2026-04-15", 20)


async def test_a_supervision_recorded_before_intervals_were_kept_shows_the_one_its_policy_due_date_gives(
    h,
) -> None:
    journey_id, _ = await h.journey(worker="w1")
    assert (await h.record(journey_id, actions=[], next_due_on="2026-03-20")).status_code == 201
    async with h.service.db.unit_of_work() as session:
        await session.execute(text("UPDATE supervisions SET interval_working_days = NULL"))
    await h.client.put("/workers/w1", json={"newly_qualified_until": "2099-12-31"}, headers=h.manager())
    # Held Mon 16 Mar, policy due Wed 15 Apr: 20 working days, whatever the register says now.
    item = (await _due(h))[str(journey_id)]
    assert (item["due_on"], item["interval_working_days"]) == ("2026-03-20", 20)


async def test_a_never_supervised_journeys_interval_takes_the_workers_status_when_the_journey_started(
    h,
) -> None:
    """Never supervised, the clock runs from the journey's start, and so the newly-qualified status
    counted is the current worker's on that day: an entry that lapses later does not move the due date
    back after the fact, and one that ended before the journey started does not apply."""
    lapsed, _ = await h.journey(worker="w5")
    ended_before, _ = await h.journey(worker="w6")
    for worker, until in (("w5", "2026-03-31"), ("w6", "2026-02-27")):
        put = await h.client.put(
            f"/workers/{worker}", json={"newly_qualified_until": until}, headers=h.manager()
        )
        assert put.status_code == 201, put.text
    items = await _due(h)
    # From Mon 2 Mar: 10 working days -> Mon 16 Mar; 20 -> Mon 30 Mar.
    assert (items[str(lapsed)]["due_on"], items[str(lapsed)]["interval_working_days"]) == ("2026-03-16", 10)
    assert (items[str(ended_before)]["due_on"], items[str(ended_before)]["interval_working_days"]) == (
        "2026-03-30",
        20,
    )


@pytest.mark.parametrize("counting", ["day_0", "day_1"])
def test_the_interval_between_a_day_and_its_policy_due_date_is_the_interval(counting: str) -> None:
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:", counting=counting, local_closure_days=["2026-04-08"]
    )
    policy = Policy.from_settings(settings)
    # Working days, a weekend, Good Friday and Easter Monday, a closure day.
    for start in [date(2026, 3, 30) + timedelta(days=d) for d in range(12)]:
        for interval in range(1, 26):
            assert policy.interval_between(start, policy.due_after(start, interval)) == interval, start
