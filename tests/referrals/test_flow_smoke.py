from __future__ import annotations

from fdhelpers import FrontDoor, referral_body


async def test_contact_to_closure_happy_path(fd: FrontDoor):
    await fd.team("FD-WEST")
    await fd.team("AS-EAST", area="East", service_type="assessment")
    child = await fd.child()
    contact = await fd.contact(child["id"])
    assert contact["opens_journey"] is True and contact["repeat_contact"] is False
    decision = await fd.decide(contact["id"], **referral_body())
    assert decision["status"] == "awaiting_authorisation"
    r = await fd.client.post(f"/decisions/{decision['id']}/authorise", headers=fd.mgr)
    assert r.status_code == 200, r.text
    jid = contact["journey_id"]
    r = await fd.client.post(
        f"/journeys/{jid}/allocation", json={"team_id": "FD-WEST", "worker_id": "w1"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    r = await fd.client.post(
        f"/journeys/{jid}/transfers", json={"team_id": "AS-EAST", "reason": "TSPROC"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    # The assessment team holds the journey now: its manager closes it.
    r = await fd.client.post(
        f"/journeys/{jid}/closure", json={"reason": "RC8"}, headers=fd.manager_of("AS-EAST")
    )
    assert r.status_code == 200, r.text
    r = await fd.client.get(f"/journeys/{jid}", headers=fd.pract)
    assert r.status_code == 200, r.text
    types = [e["type"] for e in await fd.events(jid)]
    assert types == [
        "ContactReceived",
        "ThresholdDecisionRecorded",
        "ThresholdDecisionAuthorised",
        "JourneyAllocated",
        "JourneyTransferred",
        "JourneyClosed",
    ]
