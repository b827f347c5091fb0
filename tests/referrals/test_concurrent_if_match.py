"""If-Match under concurrency: two writers holding the same ETag end in one success and one 412, never a
lost update (a correction recorded against a value already changed, or two transfers from one state)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import httpx
import pytest
from fdhelpers import FrontDoor, contact_body, decision_body, hold_first_call, race_held, referral_body
from platform_kit import postgres_only
from sqlalchemy import text

import services.referrals.children.service as children_service
import services.referrals.decisions.service as decisions_service
import services.referrals.journeys.service as journeys_service


def assert_precondition_failed(r: httpx.Response) -> None:
    assert r.status_code == 412, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 412


# --- PATCH /children/{id} ---------------------------------------------------------------------------


async def _child_and_etag(fd: FrontDoor) -> tuple[str, str]:
    child = await fd.child()
    r = await fd.client.get(f"/children/{child['id']}", headers=fd.pract)
    assert r.status_code == 200, r.text
    return child["id"], r.headers["ETag"]


async def _assert_one_correction(fd: FrontDoor, child_id: str, winner: httpx.Response) -> None:
    new = winner.json()["given_name"]
    child = (await fd.client.get(f"/children/{child_id}", headers=fd.pract)).json()
    assert (child["given_name"], child["version"]) == (new, 2)
    history = (await fd.client.get(f"/children/{child_id}/corrections", headers=fd.pract)).json()
    assert history["total"] == 1
    assert [(h["field"], h["old"], h["new"]) for h in history["items"]] == [("given_name", "Ada", new)]


def _patch(fd: FrontDoor, child_id: str, etag: str, name: str, who: dict) -> Awaitable[httpx.Response]:
    return fd.client.patch(
        f"/children/{child_id}",
        json={"given_name": name, "reason": "Typo"},
        headers={**who, "If-Match": etag},
    )


async def test_two_corrections_with_one_etag_one_wins(fd: FrontDoor):
    child_id, etag = await _child_and_etag(fd)
    results = await asyncio.gather(
        _patch(fd, child_id, etag, "Alice", fd.pract), _patch(fd, child_id, etag, "Beatrice", fd.pract2)
    )
    assert sorted(r.status_code for r in results) == [200, 412], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200)
    assert_precondition_failed(next(r for r in results if r.status_code != 200))
    await _assert_one_correction(fd, child_id, winner)


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_correction_queued_behind_another_with_its_etag_gets_412(fd: FrontDoor, monkeypatch):
    """The second writer arrives while the first has changed the child but not committed: it must wait
    and then see the new version, not check its ETag against the old row and overwrite."""
    child_id, etag = await _child_and_etag(fd)
    first, second = await race_held(
        fd,
        monkeypatch,
        children_service,
        "correct_child",
        lambda: _patch(fd, child_id, etag, "Alice", fd.pract),
        lambda: _patch(fd, child_id, etag, "Beatrice", fd.pract2),
    )
    assert first.status_code == 200, first.text
    assert_precondition_failed(second)
    await _assert_one_correction(fd, child_id, first)


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_contact_for_a_child_being_corrected_need_not_wait_for_the_correction(
    fd: FrontDoor, monkeypatch
):
    """The correction changes no key of the child's row: a contact, whose journey and contact rows
    refer to the child (a foreign-key share lock on it), is recorded while the correction is open."""
    child_id, etag = await _child_and_etag(fd)
    reached, release = hold_first_call(monkeypatch, children_service, "correct_child")
    correcting = asyncio.create_task(_patch(fd, child_id, etag, "Alice", fd.pract))
    try:
        await asyncio.wait_for(reached.wait(), 30)
        receiving = asyncio.create_task(
            fd.client.post("/contacts", json=contact_body([child_id]), headers=fd.pract2)
        )
        engine = fd.client.app.state.db.engine  # type: ignore[attr-defined]
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        # Either the contact is recorded, or it queues behind the correction's lock on the child.
        while not receiving.done():
            async with engine.connect() as conn:
                assert not (await conn.execute(waiting)).scalar_one(), "the contact waited for the correction"
            await asyncio.sleep(0.02)
        assert receiving.result().status_code == 201, receiving.result().text
        assert not correcting.done()
    finally:
        release.set()
    assert (await correcting).status_code == 200


# --- POST /journeys/{id}/transfers ------------------------------------------------------------------


async def _allocated_journey_and_etag(fd: FrontDoor) -> tuple[str, str]:
    for code, area in (("FD-WEST", "West"), ("FD-EAST", "East"), ("FD-CENT", "Central")):
        await fd.team(code, area)
    c = await fd.contact((await fd.child())["id"])
    jid = c["journey_id"]
    r = await fd.client.post(
        f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST", "worker_id": "w1"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    r = await fd.client.get(f"/journeys/{jid}", headers=fd.mgr)
    assert r.status_code == 200, r.text
    return jid, r.headers["ETag"]


def _transfer(fd: FrontDoor, jid: str, etag: str, team: str, who: dict) -> Awaitable[httpx.Response]:
    return fd.client.post(
        f"/journeys/{jid}/transfers",
        json={"team_id": team, "worker_id": f"w-{team}", "reason": "MANAGE"},
        headers={**who, "If-Match": etag},
    )


async def _assert_one_transfer(fd: FrontDoor, jid: str, winner: httpx.Response) -> None:
    team = winner.json()["team_id"]
    journey = (await fd.client.get(f"/journeys/{jid}", headers=fd.mgr)).json()
    assert journey["team_id"] == team
    assert [(a["team_id"], a["is_transfer"], a["ended_at"] is None) for a in journey["allocations"]] == [
        ("FD-WEST", False, False),
        (team, True, True),
    ]
    transfers = [e["payload"] for e in await fd.events(jid) if e["type"] == "JourneyTransferred"]
    assert [(t["from_team_id"], t["to_team_id"]) for t in transfers] == [("FD-WEST", team)]


async def test_two_transfers_with_one_etag_one_wins(fd: FrontDoor):
    jid, etag = await _allocated_journey_and_etag(fd)
    results = await asyncio.gather(
        _transfer(fd, jid, etag, "FD-EAST", fd.mgr), _transfer(fd, jid, etag, "FD-CENT", fd.mgr2)
    )
    assert sorted(r.status_code for r in results) == [201, 412], [r.text for r in results]
    assert_precondition_failed(next(r for r in results if r.status_code != 201))
    await _assert_one_transfer(fd, jid, next(r for r in results if r.status_code == 201))


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_transfer_queued_behind_another_with_its_etag_gets_412(fd: FrontDoor, monkeypatch):
    """The second manager's ETag was current when the request arrived, but the journey changed before it
    got the journey's lock: it is checked again under the lock."""
    jid, etag = await _allocated_journey_and_etag(fd)
    first, second = await race_held(
        fd,
        monkeypatch,
        journeys_service,
        "transfer",
        lambda: _transfer(fd, jid, etag, "FD-EAST", fd.mgr),
        lambda: _transfer(fd, jid, etag, "FD-CENT", fd.mgr2),
    )
    assert first.status_code == 201, first.text
    assert_precondition_failed(second)
    await _assert_one_transfer(fd, jid, first)


# --- POST /journeys/{id}/allocation and /closure -------------------------------------------------------


@postgres_only("SQLite's writer lock makes this interleaving impossible")
@pytest.mark.parametrize("operation", ["allocate", "close"])
async def test_an_allocation_or_closure_queued_behind_another_with_its_etag_gets_412(
    fd: FrontDoor, monkeypatch, operation: str
):
    """As for transfers: a stale If-Match is a 412 (the journey changed), not the 409 of the state the
    other writer left (already allocated, closed)."""
    c = await fd.contact((await fd.child())["id"])
    if operation == "close":
        await fd.decide(c["id"])  # NFA: the journey may close at the front door
    else:
        await fd.team("FD-WEST")
    jid = c["journey_id"]
    etag = (await fd.client.get(f"/journeys/{jid}", headers=fd.mgr)).headers["ETag"]
    if operation == "allocate":
        url, body, created = f"/journeys/{jid}/allocation", {"team_id": "FD-WEST", "worker_id": "w1"}, 201
    else:
        url, body, created = f"/journeys/{jid}/closure", {"reason": "FD_NFA"}, 200
    first, second = await race_held(
        fd,
        monkeypatch,
        journeys_service,
        operation,
        lambda: fd.client.post(url, json=body, headers={**fd.mgr, "If-Match": etag}),
        lambda: fd.client.post(url, json=body, headers={**fd.mgr2, "If-Match": etag}),
    )
    assert first.status_code == created, first.text
    assert_precondition_failed(second)
    types = [e["type"] for e in await fd.events(jid)]
    assert types.count("JourneyAllocated" if operation == "allocate" else "JourneyClosed") == 1


# --- POST /decisions/{id}/authorise and /supersede --------------------------------------------------


@postgres_only("SQLite's writer lock makes this interleaving impossible")
@pytest.mark.parametrize("operation", ["authorise", "supersede"])
async def test_an_authorisation_or_supersession_queued_behind_another_with_its_etag_gets_412(
    fd: FrontDoor, monkeypatch, operation: str
):
    """Both take the journey's lock, the one lock every decision write takes. The decision is read
    again under it before the If-Match check, so the loser gets 412 (the decision changed), not the
    409 of the state the winner left (already authorised, superseded)."""
    c = await fd.contact((await fd.child())["id"])
    d = await fd.decide(c["id"], **referral_body())
    etag = (await fd.client.get(f"/decisions/{d['id']}", headers=fd.pract)).headers["ETag"]
    url = f"/decisions/{d['id']}/{operation}"
    body = None
    if operation == "supersede":
        body = {"decision": decision_body(), "reason": "new_information", "note": "Synthetic note"}
    who, created = ((fd.mgr, fd.mgr2), 200) if operation == "authorise" else ((fd.pract, fd.pract2), 201)
    first, second = await race_held(
        fd,
        monkeypatch,
        decisions_service,
        operation,
        lambda: fd.client.post(url, json=body, headers={**who[0], "If-Match": etag}),
        lambda: fd.client.post(url, json=body, headers={**who[1], "If-Match": etag}),
    )
    assert first.status_code == created, first.text
    assert_precondition_failed(second)
    types = [e["type"] for e in await fd.events(c["journey_id"])]
    wanted = "ThresholdDecisionAuthorised" if operation == "authorise" else "ThresholdDecisionSuperseded"
    assert types.count(wanted) == 1
