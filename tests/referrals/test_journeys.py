"""Journeys: allocation, transfers (handovers told apart), closure rules, nothing after closure."""

from __future__ import annotations

from datetime import datetime

import pytest
from fdhelpers import FrontDoor, ago, contact_body, decision_body, referral_body
from pydantic import ValidationError

from services.referrals.journeys.models import Journey
from services.referrals.settings import Settings
from services.reporting.projections.models import JourneyFact
from shared.codes import ClosureReason, FrontDoorClosure


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def names(problem: dict) -> list[str]:
    return [p["name"] for p in problem.get("invalid-params", [])]


async def _journey(fd: FrontDoor, received_minutes_ago: float = 120) -> tuple[dict, dict]:
    child = await fd.child()
    contact = await fd.contact(
        child["id"], received_at=ago(minutes=received_minutes_ago), backdating_reason="Entered late"
    )
    return child, contact


async def _teams(fd: FrontDoor) -> None:
    await fd.team("FD-WEST")
    await fd.team("FD-EAST", area="East")
    await fd.team("AS-EAST", area="East", service_type="assessment")


async def test_allocation_then_transfers_tell_team_and_worker_changes_apart(fd: FrontDoor):
    await _teams(fd)
    child, c = await _journey(fd)
    jid = c["journey_id"]
    r = await fd.client.post(
        f"/journeys/{jid}/allocation",
        json={"team_id": "FD-WEST", "worker_id": "w1", "effective_at": ago(minutes=100)},
        headers=fd.mgr,
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["is_transfer"] is False and first["reason"] is None and first["ended_at"] is None

    # Worker change within the team.
    r = await fd.client.post(
        f"/journeys/{jid}/transfers",
        json={"worker_id": "w2", "reason": "ABSENC", "effective_at": ago(minutes=80)},
        headers=fd.mgr,
    )
    assert r.status_code == 201, r.text
    # Team change (and worker: none named, so the team holds it).
    r = await fd.client.post(
        f"/journeys/{jid}/transfers",
        json={"team_id": "AS-EAST", "reason": "TSPROC", "effective_at": ago(minutes=60)},
        headers=fd.mgr,
    )
    assert r.status_code == 201, r.text

    journey = (await fd.client.get(f"/journeys/{jid}", headers=fd.pract)).json()
    assert journey["team_id"] == "AS-EAST" and journey["worker_id"] is None
    history = journey["allocations"]
    assert [(a["team_id"], a["worker_id"], a["reason"]) for a in history] == [
        ("FD-WEST", "w1", None),
        ("FD-WEST", "w2", "ABSENC"),
        ("AS-EAST", None, "TSPROC"),
    ]
    # Each allocation ends when the next starts.
    assert history[0]["ended_at"] == history[1]["started_at"]
    assert history[1]["ended_at"] == history[2]["started_at"]
    assert history[2]["ended_at"] is None

    events = await fd.events(jid)
    alloc = next(e for e in events if e["type"] == "JourneyAllocated")["payload"]
    assert (alloc["team_id"], alloc["area"], alloc["service_type"], alloc["worker_id"]) == (
        "FD-WEST",
        "West",
        "front_door",
        "w1",
    )
    transfers = [e["payload"] for e in events if e["type"] == "JourneyTransferred"]
    assert [(t["team_changed"], t["worker_changed"]) for t in transfers] == [(False, True), (True, True)]
    assert transfers[1]["from_team_id"] == "FD-WEST" and transfers[1]["to_team_id"] == "AS-EAST"
    assert transfers[1]["from_area"] == "West" and transfers[1]["to_area"] == "East"
    assert transfers[1]["to_service_type"] == "assessment"
    assert transfers[1]["from_worker_id"] == "w2" and transfers[1]["to_worker_id"] is None

    allocations = (await fd.client.get(f"/children/{child['id']}/allocations", headers=fd.pract)).json()
    assert allocations["total"] == 3


async def test_team_change_keeping_no_worker(fd: FrontDoor):
    await _teams(fd)
    _, c = await _journey(fd)
    jid = c["journey_id"]
    await fd.client.post(f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    r = await fd.client.post(
        f"/journeys/{jid}/transfers", json={"team_id": "FD-EAST", "reason": "MANAGE"}, headers=fd.mgr
    )
    assert r.status_code == 201
    t = next(e for e in await fd.events(jid) if e["type"] == "JourneyTransferred")["payload"]
    assert (t["team_changed"], t["worker_changed"]) == (True, False)


async def test_allocation_rules(fd: FrontDoor):
    await _teams(fd)
    _, c = await _journey(fd, received_minutes_ago=60)
    url = f"/journeys/{c['journey_id']}/allocation"
    r = await fd.client.post(url, json={"team_id": "NO-SUCH"}, headers=fd.mgr)
    assert r.status_code == 422 and "team_id" in names(r.json())
    r = await fd.client.post(
        url, json={"team_id": "FD-WEST", "effective_at": ago(minutes=61)}, headers=fd.mgr
    )
    assert r.status_code == 422 and "effective_at" in names(r.json())
    r = await fd.client.post(url, json={"team_id": "FD-WEST", "effective_at": ago(hours=-1)}, headers=fd.mgr)
    assert r.status_code == 422 and "effective_at" in names(r.json())
    r = await fd.client.post(url, json={"team_id": "FD-WEST"}, headers=fd.pract)
    assert r.status_code == 403
    r = await fd.client.post(url, json={"team_id": "FD-WEST"}, headers=fd.mgr)
    assert r.status_code == 201
    r = await fd.client.post(url, json={"team_id": "FD-EAST"}, headers=fd.mgr)
    assert r.status_code == 409 and r.json()["code"] == "already_allocated"
    r = await fd.client.post(
        "/journeys/00000000-0000-0000-0000-000000000000/allocation",
        json={"team_id": "FD-WEST"},
        headers=fd.mgr,
    )
    assert r.status_code == 404


async def test_transfer_rules(fd: FrontDoor):
    await _teams(fd)
    _, c = await _journey(fd)
    url = f"/journeys/{c['journey_id']}/transfers"
    r = await fd.client.post(url, json={"team_id": "FD-EAST", "reason": "MANAGE"}, headers=fd.mgr)
    assert r.status_code == 409 and r.json()["code"] == "not_allocated"
    await fd.client.post(
        f"/journeys/{c['journey_id']}/allocation",
        json={"team_id": "FD-WEST", "worker_id": "w1", "effective_at": ago(minutes=30)},
        headers=fd.mgr,
    )
    # Same team and worker.
    r = await fd.client.post(
        url, json={"team_id": "FD-WEST", "worker_id": "w1", "reason": "MANAGE"}, headers=fd.mgr
    )
    assert r.status_code == 422 and r.json()["code"] == "transfer_to_same"
    assert names(r.json()) == ["team_id"]
    # No team named (it stays with the current one): the worker is the field at fault.
    r = await fd.client.post(url, json={"worker_id": "w1", "reason": "MANAGE"}, headers=fd.mgr)
    assert r.status_code == 422 and r.json()["code"] == "transfer_to_same"
    assert names(r.json()) == ["worker_id"]
    # Before the current allocation started.
    r = await fd.client.post(
        url, json={"team_id": "FD-EAST", "reason": "MANAGE", "effective_at": ago(minutes=31)}, headers=fd.mgr
    )
    assert r.status_code == 422 and "effective_at" in names(r.json())
    # Bad reason, unknown team.
    r = await fd.client.post(url, json={"team_id": "FD-EAST", "reason": "BORED"}, headers=fd.mgr)
    assert r.status_code == 422 and "reason" in names(r.json())
    r = await fd.client.post(url, json={"team_id": "NOPE", "reason": "MANAGE"}, headers=fd.mgr)
    assert r.status_code == 422 and "team_id" in names(r.json())
    r = await fd.client.post(url, json={"team_id": "FD-EAST"}, headers=fd.mgr)
    assert r.status_code == 422 and "reason" in names(r.json())


async def test_rc8_needs_an_assessment_referral(fd: FrontDoor):
    _, c = await _journey(fd)
    jid = c["journey_id"]
    await fd.decide(c["id"], **referral_body(outcome="STRATEGY_S47", threshold_level=4))
    d = (await fd.client.get(f"/contacts/{c['id']}/decisions", headers=fd.pract)).json()[0]
    # Awaiting authorisation blocks any closure.
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "RC7"}, headers=fd.mgr)
    assert r.status_code == 409 and r.json()["code"] == "awaiting_authorisation"
    await fd.client.post(f"/decisions/{d['id']}/authorise", headers=fd.mgr)
    for reason in ("RC8", "RC9"):
        r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": reason}, headers=fd.mgr)
        assert r.status_code == 422 and r.json()["code"] == "assessment_required"
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "RC7"}, headers=fd.mgr)
    assert r.status_code == 200, r.text


async def test_rc_closure_needs_a_referral_and_front_door_closure_needs_none(fd: FrontDoor):
    _, c = await _journey(fd)
    jid = c["journey_id"]
    for reason in ("FD_NFA", "RC7"):
        r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": reason}, headers=fd.mgr)
        assert r.status_code == 409 and r.json()["code"] == "contacts_awaiting_decision"
    await fd.decide(c["id"], outcome="INFO_ADVICE")
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "RC7"}, headers=fd.mgr)
    assert r.status_code == 422 and r.json()["code"] == "no_referral"
    # The closure code must match a decision: advice was given, not early help.
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "FD_EARLY_HELP"}, headers=fd.mgr)
    assert r.status_code == 422 and r.json()["code"] == "front_door_closure_not_allowed"
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "FD_ADVICE"}, headers=fd.mgr)
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "closed" and closed["closure_reason"] == "FD_ADVICE"
    ev = (await fd.events(jid))[-1]
    assert ev["type"] == "JourneyClosed" and ev["payload"]["closure_reason"] == "FD_ADVICE"


@pytest.mark.parametrize(
    ("outcomes", "reason", "refused"),
    [
        (["OTHER"], "FD_OTHER", ["FD_NFA", "FD_ADVICE", "FD_EARLY_HELP", "FD_EXISTING_CASE"]),
        (["EXISTING_OPEN_CASE"], "FD_EXISTING_CASE", ["FD_NFA", "FD_OTHER"]),
        (["NFA", "OTHER"], "FD_OTHER", ["FD_ADVICE", "FD_EXISTING_CASE"]),
        (["EXISTING_OPEN_CASE", "EARLY_HELP"], "FD_EARLY_HELP", ["FD_OTHER"]),
    ],
)
async def test_every_journey_without_a_referral_can_be_closed_at_the_front_door(
    fd: FrontDoor, outcomes: list[str], reason: str, refused: list[str]
):
    # Once a journey held only OTHER or EXISTING_OPEN_CASE decisions, no closure code was allowed,
    # so it stayed open for ever (in its team's list, supervision's due list, reporting's figures).
    child, c = await _journey(fd)
    jid = c["journey_id"]
    contacts = [c] + [
        await fd.contact(child["id"], received_at=ago(minutes=100 - i)) for i in range(len(outcomes) - 1)
    ]
    for contact, outcome in zip(contacts, outcomes, strict=True):
        extra = {"other_reason": "Synthetic reason."} if outcome == "OTHER" else {}
        await fd.decide(contact["id"], outcome=outcome, **extra)
    for code in [*refused, "RC7"]:
        r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": code}, headers=fd.mgr)
        assert r.status_code == 422, (code, r.text)
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": reason}, headers=fd.mgr)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["closure_reason"] == reason
    r = await fd.client.get(f"/journeys/{jid}", headers=fd.mgr)
    assert r.status_code == 200 and r.json()["closure_reason"] == reason
    ev = (await fd.events(jid))[-1]
    assert ev["type"] == "JourneyClosed" and ev["payload"]["closure_reason"] == reason


def test_every_closure_code_fits_the_stored_closure_reason():
    # Referrals and reporting store the code in a 20-character column (PostgreSQL refuses longer).
    for table in (Journey.__table__, JourneyFact.__table__):
        length = table.c.closure_reason.type.length
        assert [c for c in [*ClosureReason, *FrontDoorClosure] if len(c.value) > length] == []


async def test_a_front_door_closure_is_refused_beside_an_existing_open_case_on_a_referral(fd: FrontDoor):
    # A repeat contact on a journey with a referral is recorded as EXISTING_OPEN_CASE; that journey
    # ends a referral, so it closes with an RC code, never at the front door.
    child, c = await _journey(fd)
    jid = c["journey_id"]
    await fd.refer(c["id"])
    repeat = await fd.contact(child["id"], received_at=ago(minutes=30))
    await fd.decide(repeat["id"], outcome="EXISTING_OPEN_CASE")
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "FD_EXISTING_CASE"}, headers=fd.mgr)
    assert r.status_code == 422 and r.json()["code"] == "front_door_closure_not_allowed"
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "RC7"}, headers=fd.mgr)
    assert r.status_code == 200, r.text


async def test_repeat_contact_awaiting_decision_blocks_closure(fd: FrontDoor):
    child, c = await _journey(fd)
    await fd.decide(c["id"])
    await fd.contact(child["id"], received_at=ago(minutes=10))
    r = await fd.client.post(
        f"/journeys/{c['journey_id']}/closure", json={"reason": "FD_NFA"}, headers=fd.mgr
    )
    assert r.status_code == 409 and r.json()["code"] == "contacts_awaiting_decision"


async def test_front_door_closure_refused_after_a_referral(fd: FrontDoor):
    _, c = await _journey(fd)
    await fd.refer(c["id"])
    r = await fd.client.post(
        f"/journeys/{c['journey_id']}/closure", json={"reason": "FD_NFA"}, headers=fd.mgr
    )
    assert r.status_code == 422


async def test_nothing_after_closure_and_a_new_contact_opens_a_new_journey(fd: FrontDoor):
    await _teams(fd)
    child, c = await _journey(fd)
    jid = c["journey_id"]
    await fd.client.post(f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    d = await fd.refer(c["id"])
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "RC8"}, headers=fd.mgr)
    assert r.status_code == 200
    journey = (await fd.client.get(f"/journeys/{jid}", headers=fd.pract)).json()
    assert journey["allocations"][0]["ended_at"] is not None  # closure ends the allocation

    checks = [
        ("post", f"/journeys/{jid}/closure", {"reason": "RC7"}),
        ("post", f"/journeys/{jid}/transfers", {"team_id": "FD-EAST", "reason": "MANAGE"}),
        ("post", f"/journeys/{jid}/allocation", {"team_id": "FD-EAST"}),
        ("post", f"/contacts/{c['id']}/decisions", decision_body()),
        ("post", f"/decisions/{d['id']}/authorise", None),
        (
            "post",
            f"/decisions/{d['id']}/supersede",
            {"decision": decision_body(), "reason": "other", "note": "x"},
        ),
        ("post", f"/contacts/{c['id']}/referrer-feedback", {"kind": "feedback", "sent_at": ago(minutes=0)}),
    ]
    for _, url, body in checks:
        r = await fd.client.post(url, json=body, headers=fd.mgr)
        assert r.status_code == 409, (url, r.text)
        assert r.json()["code"] == "journey_closed"
    # A stale If-Match is answered first (404, then 412, then 409), wherever one is accepted.
    for _, url, body in checks:
        if "/decisions/" in url or "/journeys/" in url:
            r = await fd.client.post(url, json=body, headers={**fd.mgr, "If-Match": '"stale"'})
            assert r.status_code == 412, (url, r.text)

    again = await fd.contact(child["id"], received_at=ago(minutes=0))  # received after the closure
    assert again["journey_id"] != jid and again["opens_journey"] is True
    new_events = await fd.events(again["journey_id"])
    assert [(e["type"], e["stream_version"]) for e in new_events] == [("ContactReceived", 1)]


async def _closed_an_hour_ago(fd: FrontDoor) -> tuple[dict, str, dict]:
    """A child, its journey (opened three hours ago, decided NFA) and that journey closed an hour ago."""
    child, c = await _journey(fd, received_minutes_ago=180)
    jid = c["journey_id"]
    await fd.decide(c["id"], outcome="NFA", decided_at=ago(minutes=170), backdating_reason="Synthetic.")
    closed = await fd.client.post(
        f"/journeys/{jid}/closure", json={"reason": "FD_NFA", "closed_at": ago(minutes=60)}, headers=fd.mgr
    )
    assert closed.status_code == 200, closed.text
    return child, jid, closed.json()


async def test_a_contact_received_before_the_last_closure_is_refused(fd: FrontDoor):
    """Received while the earlier journey was open, it belongs to that journey, which is closed now."""
    await _teams(fd)
    child, jid, _ = await _closed_an_hour_ago(fd)
    late = await fd.client.post(
        "/contacts",
        json=contact_body([child["id"]], received_at=ago(minutes=90), backdating_reason="Entered late"),
        headers=fd.pract,
    )
    assert late.status_code == 409, late.text
    problem = late.json()
    assert problem["code"] == "received_before_previous_closure"
    assert [p["name"] for p in problem["invalid-params"]] == ["received_at"]
    assert [e["type"] for e in await fd.events(jid)][-1] == "JourneyClosed"  # nothing was written
    after = await fd.contact(child["id"], received_at=ago(minutes=30), backdating_reason="Entered late")
    assert after["opens_journey"] is True and after["journey_id"] != jid


async def test_a_partner_refused_for_a_contact_before_the_last_closure_is_not_told_when_it_closed(
    fd: FrontDoor,
):
    """A partner gets receipts only: the refusal names received_at, not the child's closure time."""
    child, _, closed = await _closed_an_hour_ago(fd)
    closed_at = closed["closed_at"]
    body = contact_body([child["id"]], source="6", received_at=ago(minutes=90), backdating_reason="Late")
    late = await fd.client.post("/contacts", json=body, headers=fd.partner)
    assert late.status_code == 409, late.text
    problem = late.json()
    assert problem["code"] == "received_before_previous_closure"
    assert [p["name"] for p in problem["invalid-params"]] == ["received_at"]
    assert closed_at[:16] not in late.text  # to the minute, in any form
    # Staff are told when, so they can see which journey the contact belonged to.
    staff = await fd.client.post("/contacts", json=body, headers=fd.pract)
    assert staff.status_code == 409 and closed_at[:16] in staff.text


async def test_closure_time_rules(fd: FrontDoor):
    _, c = await _journey(fd, received_minutes_ago=60)
    jid = c["journey_id"]
    await fd.decide(c["id"], decided_at=ago(minutes=30))
    r = await fd.client.post(
        f"/journeys/{jid}/closure", json={"reason": "FD_NFA", "closed_at": ago(minutes=40)}, headers=fd.mgr
    )
    assert r.status_code == 422 and "closed_at" in names(r.json())
    r = await fd.client.post(
        f"/journeys/{jid}/closure", json={"reason": "FD_NFA", "closed_at": ago(hours=-1)}, headers=fd.mgr
    )
    assert r.status_code == 422 and "closed_at" in names(r.json())
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "RC10"}, headers=fd.mgr)
    assert r.status_code == 422 and any(n.startswith("reason") for n in names(r.json()))
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "FD_NFA"}, headers=fd.pract)
    assert r.status_code == 403


async def test_journey_etag_and_if_match(fd: FrontDoor):
    await _teams(fd)
    _, c = await _journey(fd)
    jid = c["journey_id"]
    r = await fd.client.get(f"/journeys/{jid}", headers=fd.pract)
    etag = r.headers["ETag"]
    assert [x["id"] for x in r.json()["contacts"]] == [c["id"]]
    await fd.decide(c["id"])
    r2 = await fd.client.get(f"/journeys/{jid}", headers=fd.pract)
    assert r2.headers["ETag"] != etag and len(r2.json()["decisions"]) == 1
    r = await fd.client.post(
        f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST"}, headers={**fd.mgr, "If-Match": etag}
    )
    assert r.status_code == 412
    r = await fd.client.post(
        f"/journeys/{jid}/allocation",
        json={"team_id": "FD-WEST"},
        headers={**fd.mgr, "If-Match": r2.headers["ETag"]},
    )
    assert r.status_code == 201
    r = await fd.client.get("/journeys/00000000-0000-0000-0000-000000000000", headers=fd.pract)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "fd-west", "name": "x", "area": "West", "service_type": "front_door"}, "id"),
        ({"id": "X", "name": "x", "area": "West", "service_type": "front_door"}, "id"),
        ({"id": "FD-NORTH", "name": "x", "area": "North", "service_type": "front_door"}, "area"),
        ({"id": "FD-NORTH", "name": "x", "area": "West", "service_type": "space"}, "service_type"),
        ({"id": "FD-NORTH", "name": "", "area": "West", "service_type": "front_door"}, "name"),
        # Read as formulas by a spreadsheet opening a CSV export (Annex A List 3, reports by team).
        ({"id": "-A1", "name": "x", "area": "West", "service_type": "front_door"}, "id"),
        ({"id": "FD-NORTH", "name": "=1+1", "area": "West", "service_type": "front_door"}, "name"),
        ({"id": "FD-NORTH", "name": "+44 team", "area": "West", "service_type": "front_door"}, "name"),
        ({"id": "FD-NORTH", "name": "-North", "area": "West", "service_type": "front_door"}, "name"),
        ({"id": "FD-NORTH", "name": " @SUM(A1)", "area": "West", "service_type": "front_door"}, "name"),
        # Full-width look-alikes, which a spreadsheet may read as = and @.
        ({"id": "FD-NORTH", "name": "\uff1d1+1", "area": "West", "service_type": "front_door"}, "name"),
        ({"id": "FD-NORTH", "name": "\uff20SUM(A1)", "area": "West", "service_type": "front_door"}, "name"),
    ],
)
async def test_team_register_rules(fd: FrontDoor, body: dict, field: str):
    r = await fd.client.post("/teams", json=body, headers=fd.mgr)
    assert r.status_code == 422 and field in names(r.json())


async def test_team_register(fd: FrontDoor):
    await _teams(fd)
    r = await fd.client.post(
        "/teams",
        json={"id": "FD-WEST", "name": "x", "area": "West", "service_type": "front_door"},
        headers=fd.mgr,
    )
    assert r.status_code == 409
    r = await fd.client.post(
        "/teams",
        json={"id": "FD-NEW", "name": "x", "area": "West", "service_type": "front_door"},
        headers=fd.pract,
    )
    assert r.status_code == 403
    listed = (await fd.client.get("/teams", params={"area": "East"}, headers=fd.pract)).json()
    assert [t["id"] for t in listed["items"]] == ["AS-EAST", "FD-EAST"]
    listed = (await fd.client.get("/teams", params={"service_type": "assessment"}, headers=fd.pract)).json()
    assert [t["id"] for t in listed["items"]] == ["AS-EAST"]


async def test_areas_are_a_setting(app_client, token):
    client = await app_client("referrals", areas=["North", "South"])
    h = token("manager", sub="m1")
    body = {"id": "FD-NORTH", "name": "North", "area": "North", "service_type": "front_door"}
    assert (await client.post("/teams", json=body, headers=h)).status_code == 201
    body = {"id": "FD-WEST", "name": "West", "area": "West", "service_type": "front_door"}
    assert (await client.post("/teams", json=body, headers=h)).status_code == 422


@pytest.mark.parametrize("area", ["=North", "+North", "-North", "@North", "\uff0bNorth", "\uff0dNorth"])
def test_an_area_a_spreadsheet_would_run_is_refused(area: str) -> None:
    with pytest.raises(ValidationError, match="areas"):
        Settings(areas=["South", area])


async def test_closure_not_before_feedback_sent_to_the_referrer(fd: FrontDoor):
    """Census 2990: nothing recorded on the journey may fall after its closure, and the referrer's
    acknowledgement and feedback are recorded on it (as ReferrerFeedbackSent)."""
    c = await fd.contact((await fd.child())["id"], received_at=ago(minutes=60))
    await fd.decide(c["id"], decided_at=ago(minutes=50))
    url = f"/contacts/{c['id']}/referrer-feedback"
    for kind, minutes in (("feedback", 10), ("acknowledgement", 5)):
        r = await fd.client.post(url, json={"kind": kind, "sent_at": ago(minutes=minutes)}, headers=fd.pract)
        assert r.status_code == 201, r.text
    closure = f"/journeys/{c['journey_id']}/closure"
    for before in (40, 7):  # before both, and between the feedback and the later acknowledgement
        r = await fd.client.post(
            closure, json={"reason": "FD_NFA", "closed_at": ago(minutes=before)}, headers=fd.mgr
        )
        assert r.status_code == 422 and r.json()["code"] == "closed_before_activity", r.text
        assert [p["name"] for p in r.json()["invalid-params"]] == ["closed_at"]
    r = await fd.client.post(closure, json={"reason": "FD_NFA", "closed_at": ago(minutes=1)}, headers=fd.mgr)
    assert r.status_code == 200, r.text
    assert [e["type"] for e in await fd.events(c["journey_id"])][-1] == "JourneyClosed"


@pytest.mark.parametrize("service_type", ["family_help", "macpt"])
async def test_a_journey_can_go_to_family_help_or_a_multi_agency_child_protection_team(
    fd: FrontDoor, service_type: str
):
    """Families First (REFERENCE.md 4): the team model must represent both as destinations."""
    await fd.team("FD-WEST")
    await fd.team("FF-EAST", area="East", service_type=service_type)
    _, c = await _journey(fd)
    jid = c["journey_id"]
    r = await fd.client.post(f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    assert r.status_code == 201, r.text
    r = await fd.client.post(
        f"/journeys/{jid}/transfers", json={"team_id": "FF-EAST", "reason": "TSPROC"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    transfer = next(e for e in await fd.events(jid) if e["type"] == "JourneyTransferred")["payload"]
    assert (transfer["to_team_id"], transfer["to_service_type"]) == ("FF-EAST", service_type)


async def test_closure_not_before_a_decision_was_superseded(fd: FrontDoor):
    """Census 2990: a supersession is recorded on the journey when it is made (its event's time), so
    the journey cannot close before it, however early the replacing decision was made."""
    c = await fd.contact((await fd.child())["id"], received_at=ago(minutes=60))
    d = await fd.decide(c["id"], decided_at=ago(minutes=50))
    r = await fd.client.post(
        f"/decisions/{d['id']}/supersede",
        json={
            "decision": decision_body(outcome="INFO_ADVICE", decided_at=ago(minutes=40)),
            "reason": "new_information",
            "note": "Synthetic: more was learnt.",
        },
        headers=fd.pract,
    )
    assert r.status_code == 201, r.text
    closure = f"/journeys/{c['journey_id']}/closure"
    r = await fd.client.post(
        closure, json={"reason": "FD_ADVICE", "closed_at": ago(minutes=10)}, headers=fd.mgr
    )
    assert r.status_code == 422 and r.json()["code"] == "closed_before_activity", r.text
    assert [p["name"] for p in r.json()["invalid-params"]] == ["closed_at"]
    r = await fd.client.post(closure, json={"reason": "FD_ADVICE"}, headers=fd.mgr)
    assert r.status_code == 200, r.text
    assert [e["type"] for e in await fd.events(c["journey_id"])][-1] == "JourneyClosed"


async def test_a_change_given_no_time_is_not_refused_for_activity_within_the_clock_skew(fd: FrontDoor):
    """A time may lie up to future_tolerance_seconds ahead of the server's clock (a client's clock
    may run fast). An allocation, transfer or closure sent without a time takes effect now, but never
    before what it must follow: not a 422 naming a field the client did not send."""
    await _teams(fd)
    soon = ago(seconds=-60)  # within the default 120 s allowance
    c = await fd.contact((await fd.child())["id"], received_at=soon)
    jid = c["journey_id"]
    r = await fd.client.post(f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    assert r.status_code == 201, r.text
    assert _at(r.json()["started_at"]) >= _at(c["received_at"])
    r = await fd.client.post(
        f"/journeys/{jid}/transfers", json={"team_id": "FD-EAST", "reason": "MANAGE"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    await fd.decide(c["id"], decided_at=soon)
    east = fd.manager_of("FD-EAST")  # the team holding the journey now
    r = await fd.client.post(f"/journeys/{jid}/closure", json={"reason": "FD_NFA"}, headers=east)
    assert r.status_code == 200, r.text
    assert _at(r.json()["closed_at"]) >= _at(c["received_at"])
    assert [e["type"] for e in await fd.events(jid)][-1] == "JourneyClosed"
