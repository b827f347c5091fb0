"""Whose journey it is: a journey no team holds is the front door's (any manager allocates or closes it);
once a team holds it, only that team's managers transfer or close it, and after a handover the receiving
team's managers do, not the team that handed it over."""

from __future__ import annotations

import httpx
from fdhelpers import FrontDoor, race_held
from platform_kit import postgres_only

import services.referrals.journeys.service as journeys_service


async def _teams(fd: FrontDoor) -> None:
    await fd.team("FD-WEST")
    await fd.team("FD-EAST", area="East")
    await fd.team("AS-WEST", service_type="assessment")


def assert_refused(r: httpx.Response, code: str, holder: str) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["code"], body["team_id"]) == (code, holder), body
    assert holder in body["detail"]


async def _event_types(fd: FrontDoor, jid: str) -> list[str]:
    return [e["type"] for e in await fd.events(jid)]


async def test_only_the_holding_teams_managers_transfer_or_close_a_journey(fd: FrontDoor):
    await _teams(fd)
    c = await fd.contact((await fd.child())["id"])
    jid = c["journey_id"]
    transfers, closure = f"/journeys/{jid}/transfers", f"/journeys/{jid}/closure"
    east, nobody = fd.manager_of("FD-EAST"), fd.manager_of(None)
    assessment, assessment_2 = fd.manager_of("AS-WEST"), fd.manager_of("AS-WEST", sub="m-as-west-2")
    r = await fd.client.post(
        f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST", "worker_id": "w1"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    await fd.decide(c["id"])  # NFA: the journey could close at the front door

    # FD-WEST holds it: another team's manager, and a manager whose token names no team, are refused.
    move = {"team_id": "FD-EAST", "reason": "MANAGE"}
    assert_refused(await fd.client.post(transfers, json=move, headers=east), "not_your_team", "FD-WEST")
    assert_refused(
        await fd.client.post(closure, json={"reason": "FD_NFA"}, headers=east), "not_your_team", "FD-WEST"
    )
    assert_refused(await fd.client.post(transfers, json=move, headers=nobody), "no_team", "FD-WEST")
    assert_refused(
        await fd.client.post(closure, json={"reason": "FD_NFA"}, headers=nobody), "no_team", "FD-WEST"
    )
    # Allocating it again is another team's act too (its own team's managers get 409: transfer it).
    again = f"/journeys/{jid}/allocation"
    assert_refused(
        await fd.client.post(again, json={"team_id": "FD-EAST"}, headers=east), "not_your_team", "FD-WEST"
    )
    r = await fd.client.post(again, json={"team_id": "FD-EAST"}, headers=fd.mgr2)
    assert r.status_code == 409 and r.json()["code"] == "already_allocated", r.text
    # Nothing was written by the refusals.
    assert await _event_types(fd, jid) == ["ContactReceived", "JourneyAllocated", "ThresholdDecisionRecorded"]

    # The front door's manager hands it over to the assessment team...
    r = await fd.client.post(
        transfers, json={"team_id": "AS-WEST", "worker_id": "w9", "reason": "TSPROC"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    # ...after which the front door's managers may neither move it nor close it,
    for who in (fd.mgr, fd.mgr2):
        back = {"team_id": "FD-WEST", "reason": "MANAGE"}
        assert_refused(await fd.client.post(transfers, json=back, headers=who), "not_your_team", "AS-WEST")
        r = await fd.client.post(closure, json={"reason": "FD_NFA"}, headers=who)
        assert_refused(r, "not_your_team", "AS-WEST")
    # and the receiving team's managers may: a worker change, then a transfer on, then (back with
    # them) the closure.
    r = await fd.client.post(transfers, json={"worker_id": "w10", "reason": "MANAGE"}, headers=assessment)
    assert r.status_code == 201, r.text
    r = await fd.client.post(transfers, json={"team_id": "FD-EAST", "reason": "MANAGE"}, headers=assessment_2)
    assert r.status_code == 201, r.text
    assert_refused(
        await fd.client.post(closure, json={"reason": "FD_NFA"}, headers=assessment),
        "not_your_team",
        "FD-EAST",
    )
    r = await fd.client.post(closure, json={"reason": "FD_NFA"}, headers=east)
    assert r.status_code == 200, r.text
    assert (await _event_types(fd, jid))[-4:] == [
        "JourneyTransferred",
        "JourneyTransferred",
        "JourneyTransferred",
        "JourneyClosed",
    ]
    allocations = (await fd.client.get(f"/journeys/{jid}", headers=fd.pract)).json()["allocations"]
    assert [(a["team_id"], a["recorded_by"]) for a in allocations] == [
        ("FD-WEST", "m1"),
        ("AS-WEST", "m1"),
        ("AS-WEST", "m-as-west"),
        ("FD-EAST", "m-as-west-2"),
    ]
    # Closed: another team's manager is still refused (403 before the 409 of a closed journey).
    assert_refused(
        await fd.client.post(closure, json={"reason": "FD_NFA"}, headers=fd.mgr), "not_your_team", "FD-EAST"
    )
    r = await fd.client.post(closure, json={"reason": "FD_NFA"}, headers=east)
    assert r.status_code == 409, r.text


async def test_a_journey_no_team_holds_is_the_front_doors(fd: FrontDoor):
    """Never allocated: any manager may allocate it or close it (a front-door closure after NFA)."""
    await _teams(fd)
    first = await fd.contact((await fd.child())["id"])
    r = await fd.client.post(
        f"/journeys/{first['journey_id']}/allocation",
        json={"team_id": "FD-WEST"},
        headers=fd.manager_of(None),
    )
    assert r.status_code == 201, r.text
    second = await fd.contact((await fd.child(given_name="Bea"))["id"])
    await fd.decide(second["id"])
    r = await fd.client.post(
        f"/journeys/{second['journey_id']}/closure",
        json={"reason": "FD_NFA"},
        headers=fd.manager_of("FD-EAST"),
    )
    assert r.status_code == 200, r.text


async def test_an_admin_is_bound_to_no_team(fd: FrontDoor):
    await _teams(fd)
    c = await fd.contact((await fd.child())["id"])
    jid = c["journey_id"]
    r = await fd.client.post(f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    assert r.status_code == 201, r.text
    r = await fd.client.post(
        f"/journeys/{jid}/transfers", json={"team_id": "AS-WEST", "reason": "TSPROC"}, headers=fd.admin
    )
    assert r.status_code == 201, r.text


async def test_a_stale_etag_is_412_before_another_teams_403(fd: FrontDoor):
    """As between two managers holding one ETag: the second is told to read the journey again (412)
    even when the first moved it to another team; with the current ETag it is then 403."""
    await _teams(fd)
    c = await fd.contact((await fd.child())["id"])
    jid = c["journey_id"]
    await fd.client.post(f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    stale = (await fd.client.get(f"/journeys/{jid}", headers=fd.pract)).headers["ETag"]
    r = await fd.client.post(
        f"/journeys/{jid}/transfers", json={"team_id": "AS-WEST", "reason": "TSPROC"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    move = {"team_id": "FD-EAST", "reason": "MANAGE"}
    r = await fd.client.post(f"/journeys/{jid}/transfers", json=move, headers={**fd.mgr2, "If-Match": stale})
    assert r.status_code == 412, r.text
    current = (await fd.client.get(f"/journeys/{jid}", headers=fd.pract)).headers["ETag"]
    r = await fd.client.post(
        f"/journeys/{jid}/transfers", json=move, headers={**fd.mgr2, "If-Match": current}
    )
    assert_refused(r, "not_your_team", "AS-WEST")


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_transfer_queued_behind_a_handover_is_checked_against_the_new_team(
    fd: FrontDoor, monkeypatch
):
    """Two front-door managers move one journey at once, without If-Match: the second waits for the
    journey's lock and then finds it held by the assessment team, so it is refused, not applied."""
    await _teams(fd)
    c = await fd.contact((await fd.child())["id"])
    jid = c["journey_id"]
    r = await fd.client.post(f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    assert r.status_code == 201, r.text
    url = f"/journeys/{jid}/transfers"
    first, second = await race_held(
        fd,
        monkeypatch,
        journeys_service,
        "transfer",
        lambda: fd.client.post(url, json={"team_id": "AS-WEST", "reason": "TSPROC"}, headers=fd.mgr),
        lambda: fd.client.post(url, json={"team_id": "FD-EAST", "reason": "MANAGE"}, headers=fd.mgr2),
    )
    assert first.status_code == 201, first.text
    assert_refused(second, "not_your_team", "AS-WEST")
    assert (await _event_types(fd, jid)).count("JourneyTransferred") == 1
