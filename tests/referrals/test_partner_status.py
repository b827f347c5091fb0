"""A partner sees a threshold decision's outcome only once it is final (synthetic data only).

A referral outcome awaits a manager's authorisation and may still be changed or refused; a partner
system acts on what it is shown (tells the family, closes its own record), so until then it sees that
the decision is being confirmed, not the outcome.
"""

from __future__ import annotations

from fdhelpers import FrontDoor, ago, child_body, contact_body, decision_body, referral_body


async def _partner_contact(fd: FrontDoor) -> dict:
    body = contact_body([], new_children=[child_body()], received_at=ago(minutes=90))
    r = await fd.client.post("/contacts", json=body, headers=fd.partner)
    assert r.status_code == 201, r.text
    return r.json()["contacts"][0]


async def _views(fd: FrontDoor, contact_id: str) -> list[dict]:
    """The contact as the partner sees it: by its status, and in its list."""
    one = await fd.client.get(f"/contacts/{contact_id}/status", headers=fd.partner)
    assert one.status_code == 200, one.text
    listed = await fd.client.get("/partner/contacts", headers=fd.partner)
    assert listed.status_code == 200, listed.text
    [item] = [i for i in listed.json()["items"] if i["id"] == contact_id]
    return [one.json(), item]


async def test_a_referral_awaiting_authorisation_shows_no_outcome(fd: FrontDoor):
    c = await _partner_contact(fd)
    d = await fd.decide(c["id"], **referral_body(decided_at=ago(minutes=60)))
    for view in await _views(fd, c["id"]):
        assert (view["status"], view["outcome"]) == ("awaiting_authorisation", None)
    r = await fd.client.post(f"/decisions/{d['id']}/authorise", headers=fd.mgr)
    assert r.status_code == 200, r.text
    for view in await _views(fd, c["id"]):
        assert (view["status"], view["outcome"]) == ("decided", "CIN_ASSESSMENT")


async def test_a_decision_needing_no_authorisation_shows_at_once(fd: FrontDoor):
    c = await _partner_contact(fd)
    await fd.decide(c["id"], **decision_body(outcome="EARLY_HELP", threshold_level=2))
    for view in await _views(fd, c["id"]):
        assert (view["status"], view["outcome"]) == ("decided", "EARLY_HELP")


async def test_a_superseded_outcome_is_not_shown_while_its_successor_awaits(fd: FrontDoor):
    """NFA, superseded by a referral not yet authorised: neither NFA (superseded) nor the referral."""
    c = await _partner_contact(fd)
    old = await fd.decide(c["id"], decided_at=ago(minutes=60))
    for view in await _views(fd, c["id"]):
        assert (view["status"], view["outcome"]) == ("decided", "NFA")
    r = await fd.client.post(
        f"/decisions/{old['id']}/supersede",
        json={
            "decision": referral_body(decided_at=ago(minutes=30)),
            "reason": "new_information",
            "note": "x",
        },
        headers=fd.pract2,
    )
    assert r.status_code == 201, r.text
    for view in await _views(fd, c["id"]):
        assert (view["status"], view["outcome"]) == ("awaiting_authorisation", None)


async def test_an_authorised_referral_superseded_by_another_awaiting_shows_no_outcome(fd: FrontDoor):
    c = await _partner_contact(fd)
    old = await fd.refer(c["id"], decided_at=ago(minutes=60))
    r = await fd.client.post(
        f"/decisions/{old['id']}/supersede",
        json={
            "decision": referral_body(outcome="STRATEGY_S47", decided_at=ago(minutes=30)),
            "reason": "new_information",
            "note": "x",
        },
        headers=fd.pract2,
    )
    assert r.status_code == 201, r.text
    for view in await _views(fd, c["id"]):
        assert (view["status"], view["outcome"]) == ("awaiting_authorisation", None)


async def test_the_status_schema_says_the_outcome_is_final(fd: FrontDoor):
    schema = (await fd.client.get("/openapi.json")).json()["components"]["schemas"]
    out = schema["ContactStatusOut"]["properties"]
    assert "authoris" in str(out["outcome"]).lower()
    assert "authoris" in schema["ContactStatus"]["description"].lower()
