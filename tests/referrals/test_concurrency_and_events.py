"""Races end in one winner and a 409, never a duplicate; the journey log's hash chain holds."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta, timezone

import httpx
from fdhelpers import (
    VALID_NHS,
    FrontDoor,
    ago,
    child_body,
    contact_body,
    decision_body,
    hold_first_call,
    race_held,
    referral_body,
)
from platform_kit import postgres_only


async def test_two_decisions_racing_on_one_contact(fd: FrontDoor):
    c = await fd.contact((await fd.child())["id"])
    url = f"/contacts/{c['id']}/decisions"
    results = await asyncio.gather(
        fd.client.post(url, json=decision_body(), headers=fd.pract),
        fd.client.post(url, json=decision_body(outcome="EARLY_HELP"), headers=fd.pract2),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409], [r.text for r in results]
    listed = (await fd.client.get(f"/contacts/{c['id']}/decisions", headers=fd.pract)).json()
    assert len(listed) == 1
    types = [e["type"] for e in await fd.events(c["journey_id"])]
    assert types == ["ContactReceived", "ThresholdDecisionRecorded"]


async def test_two_first_contacts_racing_for_one_child_share_or_refuse_a_journey(fd: FrontDoor):
    child = await fd.child()
    results = await asyncio.gather(
        *[fd.client.post("/contacts", json=contact_body([child["id"]]), headers=fd.pract) for _ in range(3)]
    )
    ok = [r.json()["contacts"][0] for r in results if r.status_code == 201]
    assert all(r.status_code in (201, 409) for r in results)
    journeys = (await fd.client.get("/journeys", params={"child_id": child["id"]}, headers=fd.pract)).json()
    assert journeys["total"] == 1  # never two open journeys for one child
    assert sum(c["opens_journey"] for c in ok) == 1


async def test_two_managers_authorising_at_once(fd: FrontDoor):
    c = await fd.contact((await fd.child())["id"])
    d = await fd.decide(c["id"], **referral_body())
    url = f"/decisions/{d['id']}/authorise"
    results = await asyncio.gather(fd.client.post(url, headers=fd.mgr), fd.client.post(url, headers=fd.mgr2))
    assert sorted(r.status_code for r in results) == [200, 409]
    authorised = [e for e in await fd.events(c["journey_id"]) if e["type"] == "ThresholdDecisionAuthorised"]
    assert len(authorised) == 1


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_authorising_rereads_the_decision_under_the_journey_lock(fd: FrontDoor, monkeypatch):
    """The second manager read the decision before the first committed and reaches the journey after:
    under READ COMMITTED it would see the new journey version yet a stale decision, and authorise twice."""
    import services.referrals.decisions.service as decisions

    c = await fd.contact((await fd.child())["id"])
    d = await fd.decide(c["id"], **referral_body())
    url = f"/decisions/{d['id']}/authorise"
    real_get_or_404 = decisions.get_or_404
    first_committed = asyncio.Event()
    calls = 0

    async def gated(session, model, *args, **kwargs):
        nonlocal calls
        if model is decisions.Journey:
            calls += 1
            if calls == 1:  # the second manager's request, paused after it has read the decision
                await first_committed.wait()
        return await real_get_or_404(session, model, *args, **kwargs)

    monkeypatch.setattr(decisions, "get_or_404", gated)
    late = asyncio.create_task(fd.client.post(url, headers=fd.mgr2))
    for _ in range(500):
        if calls:
            break
        await asyncio.sleep(0.01)
    assert calls == 1
    first = await fd.client.post(url, headers=fd.mgr)
    assert first.status_code == 200, first.text
    first_committed.set()
    second = await late
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "already_authorised"
    authorised = [e for e in await fd.events(c["journey_id"]) if e["type"] == "ThresholdDecisionAuthorised"]
    assert len(authorised) == 1


async def test_idempotent_decision_replay(fd: FrontDoor):
    c = await fd.contact((await fd.child())["id"])
    h = {**fd.pract, "Idempotency-Key": "decision-1"}
    body = decision_body()
    r1 = await fd.client.post(f"/contacts/{c['id']}/decisions", json=body, headers=h)
    r2 = await fd.client.post(f"/contacts/{c['id']}/decisions", json=body, headers=h)
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert r1.json()["id"] == r2.json()["id"]
    assert len(await fd.events(c["journey_id"])) == 2


async def test_times_given_in_london_summer_time_verify(fd: FrontDoor):
    """A client may give times with the UTC offset of its clock (+01:00 in summer). The log hashed
    them as given but stores them in UTC, so verify called every such journey altered."""
    summer = timezone(timedelta(hours=1))
    received = (datetime.now(UTC) - timedelta(minutes=30)).astimezone(summer)
    c = await fd.contact((await fd.child())["id"], received_at=received.isoformat())
    await fd.decide(c["id"], decided_at=(received + timedelta(minutes=10)).isoformat())
    r = await fd.client.get("/admin/verify", params={"journey_id": c["journey_id"]}, headers=fd.admin)
    assert r.status_code == 200, r.text
    assert (r.json()["ok"], r.json()["events_checked"]) == (True, 2), r.json()


async def test_hash_chain_verifies_after_a_full_journey(fd: FrontDoor):
    await fd.team("FD-WEST")
    c = await fd.contact((await fd.child())["id"], received_at=ago(minutes=30))
    await fd.refer(c["id"], decided_at=ago(minutes=20))
    await fd.client.post(
        f"/journeys/{c['journey_id']}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr
    )
    await fd.client.post(f"/journeys/{c['journey_id']}/closure", json={"reason": "RC8"}, headers=fd.mgr)
    r = await fd.client.get("/admin/verify", params={"journey_id": c["journey_id"]}, headers=fd.admin)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report.get("ok", report.get("valid", True)) is True, report
    events = await fd.events(c["journey_id"])
    assert [e["stream_version"] for e in events] == [1, 2, 3, 4, 5]
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(events))


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_two_contacts_naming_the_same_siblings_in_opposite_orders(fd: FrontDoor, monkeypatch):
    """Each opens the journey of the first child it names and then waits for the other's: unless both
    open them in one order, that is a deadlock, and PostgreSQL aborts one (503 after a second)."""
    import services.referrals.contacts.service as contacts

    x = (await fd.child(given_name="Xsibling"))["id"]
    y = (await fd.child(given_name="Ysibling"))["id"]
    first, second = await race_held(
        fd,
        monkeypatch,
        contacts,
        "open_new_journey",
        lambda: fd.client.post("/contacts", json=contact_body([x, y]), headers=fd.pract),
        lambda: fd.client.post("/contacts", json=contact_body([y, x]), headers=fd.pract2),
    )
    assert first.status_code == 201, first.text
    # The answer a single child's race gets: the journey was opened at the same moment; retry.
    assert second.status_code == 409 and second.json()["code"] == "journey_race", second.text
    created = first.json()["contacts"]
    assert [c["child_id"] for c in created] == [x, y]  # in the order named
    for child_id, contact in zip((x, y), created, strict=True):
        r = await fd.client.get("/journeys", params={"child_id": child_id}, headers=fd.pract)
        assert [j["id"] for j in r.json()["items"]] == [contact["journey_id"]]
        assert [e["type"] for e in await fd.events(contact["journey_id"])] == ["ContactReceived"]
    # The retry joins the journeys the first contact opened.
    r = await fd.client.post("/contacts", json=contact_body([y, x]), headers=fd.pract2)
    assert r.status_code == 201, r.text
    assert [c["repeat_contact"] for c in r.json()["contacts"]] == [True, True]


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_partner_losing_a_race_to_a_journey_is_not_told_its_id_or_version(fd: FrontDoor, monkeypatch):
    """A partner gets receipts only: the 409 of a contact that lost a race to a decision says retry,
    without the journey's id or its version (how many things are recorded on it)."""
    import services.referrals.decisions.service as decisions

    child = (await fd.child())["id"]
    c = await fd.contact(child)
    decided, late = await race_held(
        fd,
        monkeypatch,
        decisions,
        "record_decision",
        lambda: fd.client.post(f"/contacts/{c['id']}/decisions", json=decision_body(), headers=fd.pract),
        lambda: fd.client.post("/contacts", json=contact_body([child], source="6"), headers=fd.partner),
    )
    assert decided.status_code == 201, decided.text
    assert late.status_code == 409 and late.json()["code"] == "stale_journey_version", late.text
    assert late.headers["content-type"].startswith("application/problem+json")
    assert c["journey_id"] not in late.text and "version" not in late.json()["detail"]
    # Its retry is received.
    r = await fd.client.post("/contacts", json=contact_body([child], source="6"), headers=fd.partner)
    assert r.status_code == 201, r.text


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_contact_opening_a_journey_sees_a_closure_committed_after_it_looked(
    fd: FrontDoor, monkeypatch
):
    """The contact found no open journey and no closure, then another contact opened the child's
    journey and it was decided and closed: the open-journey index no longer stands in the way, yet
    the contact was received before that closure and belongs to the closed journey (as if it had
    arrived a moment later), not to a new one overlapping it."""
    import services.referrals.contacts.service as contacts

    child = (await fd.child())["id"]
    reached, release = hold_first_call(monkeypatch, contacts, "journey_state_of")
    late = asyncio.create_task(
        fd.client.post("/contacts", json=contact_body([child], received_at=ago(minutes=40)), headers=fd.pract)
    )
    await asyncio.wait_for(reached.wait(), 30)
    try:
        c = await fd.contact(child, headers=fd.pract2, received_at=ago(minutes=30))
        await fd.decide(c["id"], decided_at=ago(minutes=20))
        url = f"/journeys/{c['journey_id']}/closure"
        r = await fd.client.post(url, json={"reason": "FD_NFA"}, headers=fd.mgr)
        assert r.status_code == 200, r.text
    finally:
        release.set()
    r = await late
    assert r.status_code == 409 and r.json()["code"] == "received_before_previous_closure", r.text
    journeys = (await fd.client.get("/journeys", params={"child_id": child}, headers=fd.pract)).json()
    assert [j["id"] for j in journeys["items"]] == [c["journey_id"]]


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_two_contacts_naming_one_new_nhs_number_at_once_make_one_child(fd: FrontDoor, monkeypatch):
    """Neither finds the number on record; unless the second waits for the first to commit before it
    looks, each creates a child: two records of one person."""
    import services.referrals.contacts.service as contacts

    body = contact_body(new_children=[child_body(nhs_number=VALID_NHS)])
    first, second = await race_held(
        fd,
        monkeypatch,
        contacts,
        "create_child",
        lambda: fd.client.post("/contacts", json=body, headers=fd.partner),
        lambda: fd.client.post("/contacts", json=body, headers=fd.partner2),
    )
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    [a], [b] = first.json()["contacts"], second.json()["contacts"]
    assert a["child_id"] == b["child_id"]
    found = await fd.client.get("/children/search", params={"nhs_number": VALID_NHS}, headers=fd.pract)
    assert [m["child"]["id"] for m in found.json()["items"]] == [a["child_id"]]
    b_full = (await fd.client.get(f"/contacts/{b['id']}", headers=fd.pract)).json()
    assert b_full["repeat_contact"] is True


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_child_recorded_while_a_contact_creates_them_is_refused(fd: FrontDoor, monkeypatch):
    import services.referrals.contacts.service as contacts

    body = contact_body(new_children=[child_body(nhs_number=VALID_NHS)])
    received, recorded = await race_held(
        fd,
        monkeypatch,
        contacts,
        "create_child",
        lambda: fd.client.post("/contacts", json=body, headers=fd.pract),
        lambda: fd.client.post("/children", json=child_body(nhs_number=VALID_NHS), headers=fd.pract2),
    )
    assert received.status_code == 201, received.text
    assert recorded.status_code == 409 and recorded.json()["code"] == "child_on_record", recorded.text
    assert recorded.json()["child_id"] == received.json()["contacts"][0]["child_id"]


async def _set_nhs_number(fd: FrontDoor, child_id: str, number: str, who: dict) -> httpx.Response:
    url = f"/children/{child_id}"
    etag = (await fd.client.get(url, headers=who)).headers["ETag"]
    return await fd.client.patch(
        url, json={"nhs_number": number, "reason": "Confirmed"}, headers={**who, "If-Match": etag}
    )


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_two_corrections_setting_one_nhs_number_at_once_leave_it_on_one_record(
    fd: FrontDoor, monkeypatch
):
    """Neither finds the number on another record; unless the second waits for the first to commit
    before it looks, both records end up with it."""
    import services.referrals.children.service as children

    ada, bea = await fd.child(), await fd.child(given_name="Bea")
    first, second = await race_held(
        fd,
        monkeypatch,
        children,
        "correct_child",
        lambda: _set_nhs_number(fd, ada["id"], VALID_NHS, fd.pract),
        lambda: _set_nhs_number(fd, bea["id"], VALID_NHS, fd.pract2),
    )
    assert first.status_code == 200, first.text
    assert second.status_code == 409 and second.json()["code"] == "child_on_record", second.text
    assert second.json()["child_id"] == ada["id"]
    found = await fd.client.get("/children/search", params={"nhs_number": VALID_NHS}, headers=fd.pract)
    assert [m["child"]["id"] for m in found.json()["items"]] == [ada["id"]]


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_child_recorded_while_a_correction_sets_their_number_is_refused(fd: FrontDoor, monkeypatch):
    import services.referrals.children.service as children

    ada = await fd.child()
    corrected, recorded = await race_held(
        fd,
        monkeypatch,
        children,
        "correct_child",
        lambda: _set_nhs_number(fd, ada["id"], VALID_NHS, fd.pract),
        lambda: fd.client.post("/children", json=child_body(nhs_number=VALID_NHS), headers=fd.pract2),
    )
    assert corrected.status_code == 200, corrected.text
    assert recorded.status_code == 409 and recorded.json()["code"] == "child_on_record", recorded.text
    assert recorded.json()["child_id"] == ada["id"]


async def test_a_free_text_request_id_never_reaches_the_event_envelope(fd: FrontDoor):
    # The envelope's correlation_id is the request id, and the feed publishes it to reporting (which
    # receives no names, addresses or free text): a free-text X-Request-ID is replaced, not stored.
    child = await fd.child()
    free = await fd.client.post(
        "/contacts",
        json=contact_body([child["id"]]),
        headers={**fd.pract, "X-Request-ID": "Jane Smith 12 Acacia Ave"},
    )
    assert free.status_code == 201, free.text
    assert free.headers["x-request-id"] != "Jane Smith 12 Acacia Ave"
    kept = await fd.client.post(
        "/contacts",
        json=contact_body([child["id"]]),
        headers={**fd.pract, "X-Request-ID": "intake-7f3a9c01"},
    )
    assert kept.status_code == 201, kept.text
    assert kept.headers["x-request-id"] == "intake-7f3a9c01"
    r = await fd.client.get("/events", headers=fd.admin)
    assert "Acacia" not in r.text
    ids = [e["correlation_id"] for e in r.json()["events"]]
    assert ids == [free.headers["x-request-id"], "intake-7f3a9c01"]
