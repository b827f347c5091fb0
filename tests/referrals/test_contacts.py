"""Contacts: journeys opened and joined, multi-child approaches, backdating, validation, events."""

from __future__ import annotations

import json

import pytest
from dbutil import statements_sent
from fdhelpers import VALID_NHS, FrontDoor, ago, child_body, contact_body, decision_body
from platform_kit import postgres_only


def names(problem: dict) -> list[str]:
    return [p["name"] for p in problem.get("invalid-params", [])]


async def test_first_contact_opens_a_journey_and_the_next_joins_it(fd: FrontDoor):
    await fd.team("FD-WEST")
    child = await fd.child()
    first = await fd.contact(child["id"])
    second = await fd.contact(child["id"], received_at=ago(minutes=10))
    assert first["opens_journey"] and not first["repeat_contact"]
    assert second["journey_id"] == first["journey_id"]
    assert second["repeat_contact"] and not second["opens_journey"]
    assert first["team_id"] == "FD-WEST" and first["recorded_by"] == "p1"

    events = await fd.events(first["journey_id"])
    assert [e["stream_version"] for e in events] == [1, 2]
    payload = events[0]["payload"]
    assert payload == {
        "contact_id": first["id"],
        "child_id": child["id"],
        "contact_group_id": None,
        "received_at": payload["received_at"],
        "source": "2A",
        "channel": "phone",
        "urgency": "amber",
        "consent": "given",
        "opens_journey": True,
        "repeat_contact": False,
        "partner_system": False,
        "team_id": "FD-WEST",
        "area": "West",
    }
    assert events[1]["payload"]["repeat_contact"] is True
    # occurred_at is when it was received, not when it was typed in.
    assert events[0]["occurred_at"][:19] == first["received_at"][:19]


@pytest.mark.parametrize("value", ["20240301", "1709287200", 1709287200])
async def test_a_time_not_written_in_iso_8601_is_refused(fd: FrontDoor, value: object):
    """pydantic reads seconds since 1970 from digits: a partner's compact "20240301" became a contact
    received on 23 August 1970 (was accepted, with a backdating reason)."""
    body = contact_body(new_children=[child_body()], received_at=value, backdating_reason="Late entry")
    r = await fd.client.post("/contacts", json=body, headers=fd.pract)
    assert r.status_code == 422, r.text
    assert names(r.json()) == ["received_at"]
    r = await fd.client.post("/children", json=child_body(date_of_birth=0), headers=fd.pract)
    assert r.status_code == 422 and names(r.json()) == ["date_of_birth"], r.text


async def test_events_carry_no_names_or_free_text(fd: FrontDoor):
    child = await fd.child(given_name="Zebedee", family_name="Uniquename")
    c = await fd.contact(child["id"], child_views="Wants to stay with gran", concerns_summary="Bruising seen")
    text = json.dumps(await fd.events(c["journey_id"]))
    for secret in (
        "Zebedee",
        "Uniquename",
        "Pat Referrer",
        "dsl@school.example",
        "Bruising",
        "gran",
        "2015-03-04",
    ):
        assert secret not in text


async def test_multi_child_contact_creates_one_contact_per_child_sharing_a_group(fd: FrontDoor):
    a = await fd.child(given_name="Ann")
    b = await fd.child(given_name="Ben")
    body = contact_body([a["id"], b["id"]], new_children=[child_body(given_name="Cal")])
    r = await fd.client.post("/contacts", json=body, headers=fd.pract)
    assert r.status_code == 201, r.text
    created = r.json()
    group = created["contact_group_id"]
    assert group is not None
    assert len(created["contacts"]) == 3
    assert {c["contact_group_id"] for c in created["contacts"]} == {group}
    assert len({c["journey_id"] for c in created["contacts"]}) == 3  # each child has their own journey
    new_child = created["contacts"][2]["child_id"]
    r = await fd.client.get(f"/children/{new_child}", headers=fd.pract)
    assert r.json()["given_name"] == "Cal"
    audit = (await fd.client.get("/audit", params={"child_id": new_child}, headers=fd.admin)).json()["items"]
    assert ("create", "child") in {(a["action"], a["resource"]) for a in audit}
    # Each child's journey is its own stream starting at version 1.
    for c in created["contacts"]:
        events = await fd.events(c["journey_id"])
        assert [(e["type"], e["stream_version"]) for e in events] == [("ContactReceived", 1)]
        assert events[0]["payload"]["contact_group_id"] == group


async def test_single_child_contact_has_no_group(fd: FrontDoor):
    child = await fd.child()
    r = await fd.client.post("/contacts", json=contact_body([child["id"]]), headers=fd.pract)
    assert r.json()["contact_group_id"] is None


async def test_backdating_over_the_threshold_needs_a_reason_and_is_visible(fd: FrontDoor):
    child = await fd.child()
    # Default threshold 2 hours: 1 hour late is not backdated.
    c = await fd.contact(child["id"], received_at=ago(hours=1))
    assert c["backdated"] is False
    r = await fd.client.post(
        "/contacts", json=contact_body([child["id"]], received_at=ago(hours=3)), headers=fd.pract
    )
    assert r.status_code == 422 and "backdating_reason" in names(r.json())
    c = await fd.contact(child["id"], received_at=ago(hours=3), backdating_reason="Out-of-hours call")
    assert c["backdated"] is True and c["backdating_reason"] == "Out-of-hours call"
    audit = await fd.client.get("/audit", params={"child_id": child["id"]}, headers=fd.admin)
    assert any("Out-of-hours call" in (a["reason"] or "") for a in audit.json()["items"])
    # A reason given on time is kept, but the contact is not audited as backdated.
    on_time = await fd.contact(child["id"], received_at=ago(hours=1), backdating_reason="Keyed after a call")
    assert on_time["backdated"] is False
    audit = await fd.client.get("/audit", params={"child_id": child["id"]}, headers=fd.admin)
    reasons = [a["reason"] for a in audit.json()["items"] if a["resource_id"] == on_time["id"]]
    assert reasons == [None]


async def test_backdating_threshold_is_a_setting(app_client, token):
    client = await app_client("referrals", backdating_threshold_hours=0.5)
    h = token("practitioner", sub="p1")
    child = (await client.post("/children", json=child_body(), headers=h)).json()
    r = await client.post("/contacts", json=contact_body([child["id"]], received_at=ago(hours=1)), headers=h)
    assert r.status_code == 422 and "backdating_reason" in names(r.json())


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"received_at": ago(hours=-1)}, "received_at"),  # an hour in the future
        ({"received_at": "2026-01-01T10:00:00"}, "received_at"),  # no time zone
        ({"source": "11"}, "source"),
        ({"channel": "pigeon"}, "channel"),
        ({"urgency": "purple"}, "urgency"),
        ({"concerns_summary": "x" * 4001}, "concerns_summary"),
        ({"concerns_summary": "   "}, "concerns_summary"),
        ({"consent": {"status": "not_given"}}, "consent.reason"),
        ({"consent": {"status": "not_required"}}, "consent.reason"),
        ({"consent": {"status": "maybe"}}, "consent.status"),
        ({"referrer": None}, "referrer"),
        ({"referrer": {"name": "Pat", "phone": "12345"}}, "referrer.phone"),
        ({"referrer": {"name": "Pat", "phone": "0\uff12\uff10 7946 0000"}}, "referrer.phone"),  # not ASCII
        ({"referrer": {"name": "Pat", "email": "not-an-email"}}, "referrer.email"),
        ({"referrer": {"name": ""}}, "referrer.name"),
        ({"child_views": "x" * 4001}, "child_views"),
        ({"child_ids": []}, "child_ids"),
        ({"child_ids": ["00000000-0000-0000-0000-000000000000"]}, "child_ids.0"),
        ({"new_children": [child_body(date_of_birth=None)]}, "new_children.0.date_of_birth"),
        ({"new_children": [child_body(nhs_number="123")]}, "new_children.0.nhs_number"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_bad_contacts_are_refused_naming_the_field(fd: FrontDoor, over: dict, field: str):
    child = await fd.child()
    body = contact_body([child["id"]])
    body.update(over)
    r = await fd.client.post("/contacts", json=body, headers=fd.pract)
    assert r.status_code == 422, r.text
    assert field in names(r.json()), r.json()
    # Nothing was written: no journey, no event.
    assert await fd.events() == []


async def test_duplicate_child_ids_refused(fd: FrontDoor):
    child = await fd.child()
    r = await fd.client.post("/contacts", json=contact_body([child["id"], child["id"]]), headers=fd.pract)
    assert r.status_code == 422 and "child_ids" in names(r.json())


async def test_a_new_child_with_the_nhs_number_of_another_named_child_is_refused(fd: FrontDoor):
    # One approach naming one person twice (an NHS number is one person's) would record two children,
    # two contacts and two journeys for them, as child_ids naming a child twice would.
    twice = contact_body(
        new_children=[child_body(nhs_number=VALID_NHS), child_body(given_name="Adah", nhs_number=VALID_NHS)]
    )
    r = await fd.client.post("/contacts", json=twice, headers=fd.pract)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert names(r.json()) == ["new_children.1.nhs_number"] and r.json()["code"] == "duplicate_child"
    existing = await fd.child(nhs_number=VALID_NHS)
    again = contact_body([existing["id"]], new_children=[child_body(nhs_number="943 476 5919")])
    r = await fd.client.post("/contacts", json=again, headers=fd.partner)
    assert r.status_code == 422, r.text
    assert names(r.json()) == ["new_children.0.nhs_number"] and r.json()["code"] == "duplicate_child"
    found = await fd.client.get("/children/search", params={"nhs_number": VALID_NHS}, headers=fd.pract)
    assert [m["child"]["id"] for m in found.json()["items"]] == [existing["id"]]
    # Different children, each with their own number or none, are one contact each.
    body = contact_body([existing["id"]], new_children=[child_body(given_name="Sib"), child_body()])
    r = await fd.client.post("/contacts", json=body, headers=fd.pract)
    assert r.status_code == 201 and len(r.json()["contacts"]) == 3, r.text


async def test_a_partners_new_child_with_an_nhs_number_on_record_is_that_child(fd: FrontDoor):
    # A partner system cannot look children up: each of its contacts names the child as new. The NHS
    # number is the person's, so its repeat contact is the known child's, not a second record.
    existing = await fd.child(nhs_number=VALID_NHS)
    first = await fd.contact(existing["id"], received_at=ago(minutes=40))
    sent = child_body(given_name="Adah", family_name="Otherchild", nhs_number="943 476 5919")
    body = contact_body(new_children=[sent, child_body(given_name="Sib")], source="5A")
    r = await fd.client.post("/contacts", json=body, headers=fd.partner)
    assert r.status_code == 201, r.text
    receipt, sibling = r.json()["contacts"]
    assert receipt["child_id"] == existing["id"] and sibling["child_id"] != existing["id"]
    contact = (await fd.client.get(f"/contacts/{receipt['id']}", headers=fd.pract)).json()
    assert contact["journey_id"] == first["journey_id"]
    assert contact["repeat_contact"] is True and contact["opens_journey"] is False
    found = await fd.client.get("/children/search", params={"nhs_number": VALID_NHS}, headers=fd.pract)
    assert [m["child"]["id"] for m in found.json()["items"]] == [existing["id"]]
    # The details sent are not applied to the record: a correction does that.
    child = (await fd.client.get(f"/children/{existing['id']}", headers=fd.pract)).json()
    assert (child["given_name"], child["family_name"], child["version"]) == ("Ada", "Testchild", 1)
    received = [e["payload"] for e in await fd.events(first["journey_id"]) if e["type"] == "ContactReceived"]
    assert [(p["child_id"], p["repeat_contact"]) for p in received] == [
        (existing["id"], False),
        (existing["id"], True),
    ]
    # The child is audited as created only where one was.
    audit = (await fd.client.get("/audit", params={"limit": 500}, headers=fd.admin)).json()["items"]
    created = [a["resource_id"] for a in audit if a["action"] == "create" and a["resource"] == "child"]
    assert existing["id"] in created and sibling["child_id"] in created and len(created) == 2


async def test_a_new_child_with_an_nhs_number_on_record_after_its_journey_closed_opens_a_new_one(
    fd: FrontDoor,
):
    existing = await fd.child(nhs_number=VALID_NHS)
    first = await fd.contact(existing["id"], received_at=ago(minutes=40))
    await fd.decide(first["id"], decided_at=ago(minutes=30))
    closure = {"reason": "FD_NFA", "closed_at": ago(minutes=20)}
    r = await fd.client.post(f"/journeys/{first['journey_id']}/closure", json=closure, headers=fd.mgr)
    assert r.status_code == 200, r.text
    new = [child_body(given_name="Adah", nhs_number=VALID_NHS)]
    # Every rule of a contact naming the child applies: received while that journey was open, it is
    # refused as one naming the child by id would be.
    early = contact_body(new_children=new, received_at=ago(minutes=25))
    r = await fd.client.post("/contacts", json=early, headers=fd.partner)
    assert r.status_code == 409 and r.json()["code"] == "received_before_previous_closure", r.text
    r = await fd.client.post(
        "/contacts", json=contact_body(new_children=new, received_at=ago(minutes=10)), headers=fd.pract
    )
    assert r.status_code == 201, r.text
    [contact] = r.json()["contacts"]
    assert contact["child_id"] == existing["id"] and contact["opens_journey"] is True
    journeys = (
        await fd.client.get("/journeys", params={"child_id": existing["id"]}, headers=fd.pract)
    ).json()
    assert sorted(j["id"] for j in journeys["items"]) == sorted([first["journey_id"], contact["journey_id"]])
    found = await fd.client.get("/children/search", params={"nhs_number": VALID_NHS}, headers=fd.pract)
    assert found.json()["total"] == 1


async def test_anonymous_contact_needs_no_referrer_and_consent_reasons_are_kept(fd: FrontDoor):
    child = await fd.child()
    c = await fd.contact(
        child["id"], source="9", referrer=None, consent={"status": "not_required", "reason": "Anonymous"}
    )
    assert c["referrer"] is None and c["consent"] == "not_required" and c["consent_reason"] == "Anonymous"


async def test_valid_phone_forms(fd: FrontDoor):
    child = await fd.child()
    for phone in ("+44 20 7946 0000", "07700 900123", "(020) 7946-0000"):
        c = await fd.contact(child["id"], referrer={"name": "Pat", "phone": phone})
        assert c["referrer"]["phone"].replace("+44", "0").startswith("0")


async def test_malformed_json_is_400(fd: FrontDoor):
    r = await fd.client.post(
        "/contacts", content=b"{not json", headers={**fd.pract, "content-type": "application/json"}
    )
    assert r.status_code == 400


async def test_idempotency_key_replays_and_creates_nothing_new(fd: FrontDoor):
    child = await fd.child()
    body = contact_body([child["id"]])
    h = {**fd.pract, "Idempotency-Key": "k-1"}
    r1 = await fd.client.post("/contacts", json=body, headers=h)
    r2 = await fd.client.post("/contacts", json=body, headers=h)
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json()
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert len(await fd.events()) == 1
    other = {**body, "urgency": "red"}
    r3 = await fd.client.post("/contacts", json=other, headers=h)
    assert r3.status_code == 422


async def test_a_replayed_contact_is_audited_as_a_read_of_the_child_and_contact(fd: FrontDoor):
    """The retry hands the child's records out again: audited like any read (who, which, when)."""
    body = contact_body(new_children=[child_body(given_name="Replay")])
    h = {**fd.pract, "Idempotency-Key": "k-audit"}
    first = await fd.client.post("/contacts", json=body, headers=h)
    assert first.status_code == 201
    contact = first.json()["contacts"][0]
    child_id = contact["child_id"]

    async def audit() -> list[tuple[str, str, str | None, str, str | None]]:
        r = await fd.client.get("/audit", params={"child_id": child_id}, headers=fd.admin)
        return sorted(
            (a["action"], a["resource"], a["resource_id"], a["actor"], a["reason"])
            for a in r.json()["items"]
            if a["resource"] != "audit"  # the admin's own reads of this audit trail
        )

    written = [("create", "child", child_id, "p1", None), ("create", "contact", contact["id"], "p1", None)]
    assert await audit() == written
    again = await fd.client.post("/contacts", json=body, headers=h)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    replay_reads = [
        ("read", "child", child_id, "p1", "idempotent replay"),
        ("read", "contact", contact["id"], "p1", "idempotent replay"),
    ]
    assert await audit() == sorted(written + replay_reads)


async def test_contact_read_has_etag_and_is_audited(fd: FrontDoor):
    child = await fd.child()
    c = await fd.contact(child["id"])
    r = await fd.client.get(f"/contacts/{c['id']}", headers=fd.mgr)
    assert r.status_code == 200 and r.headers["ETag"]
    assert r.json()["concerns_summary"] == "Synthetic concern for testing."
    audit = (await fd.client.get("/audit", params={"child_id": child["id"]}, headers=fd.admin)).json()[
        "items"
    ]
    assert {("read", "contact", "m1"), ("create", "contact", "p1")} <= {
        (a["action"], a["resource"], a["actor"]) for a in audit
    }
    r = await fd.client.get("/contacts/00000000-0000-0000-0000-000000000000", headers=fd.mgr)
    assert r.status_code == 404


async def test_referrer_feedback(fd: FrontDoor):
    child = await fd.child()
    c = await fd.contact(child["id"], received_at=ago(minutes=60))
    url = f"/contacts/{c['id']}/referrer-feedback"
    # Feedback on the decision needs a decision first.
    r = await fd.client.post(url, json={"kind": "feedback", "sent_at": ago(minutes=1)}, headers=fd.pract)
    assert r.status_code == 409
    # Not before the contact, not in the future.
    r = await fd.client.post(
        url, json={"kind": "acknowledgement", "sent_at": ago(minutes=61)}, headers=fd.pract
    )
    assert r.status_code == 422 and "sent_at" in names(r.json())
    r = await fd.client.post(
        url, json={"kind": "acknowledgement", "sent_at": ago(hours=-1)}, headers=fd.pract
    )
    assert r.status_code == 422 and "sent_at" in names(r.json())
    r = await fd.client.post(url, json={"kind": "thanks", "sent_at": ago(minutes=1)}, headers=fd.pract)
    assert r.status_code == 422 and "kind" in names(r.json())
    ack_at = ago(minutes=50)
    r = await fd.client.post(url, json={"kind": "acknowledgement", "sent_at": ack_at}, headers=fd.pract)
    assert r.status_code == 201, r.text
    r = await fd.client.post(
        url, json={"kind": "acknowledgement", "sent_at": ago(minutes=40)}, headers=fd.pract
    )
    assert r.status_code == 409
    await fd.decide(c["id"], decided_at=ago(minutes=30))
    r = await fd.client.post(url, json={"kind": "feedback", "sent_at": ago(minutes=20)}, headers=fd.pract)
    assert r.status_code == 201
    listed = (await fd.client.get(url, headers=fd.pract)).json()
    assert [f["kind"] for f in listed] == ["acknowledgement", "feedback"]
    contact = (await fd.client.get(f"/contacts/{c['id']}", headers=fd.pract)).json()
    assert contact["acknowledged_at"][:19] == ack_at[:19] and contact["feedback_sent_at"] is not None
    events = [e for e in await fd.events(c["journey_id"]) if e["type"] == "ReferrerFeedbackSent"]
    assert [e["payload"]["kind"] for e in events] == ["acknowledgement", "feedback"]


async def test_feedback_on_a_decision_is_not_sent_before_the_decision_was_made(fd: FrontDoor):
    # "Feedback after a decision": the referrer cannot have been told a decision before it was made
    # (the T2 interval, decision to feedback, would be negative).
    c = await fd.contact((await fd.child())["id"], received_at=ago(minutes=60))
    url = f"/contacts/{c['id']}/referrer-feedback"
    d = await fd.decide(c["id"], decided_at=ago(minutes=30))
    r = await fd.client.post(url, json={"kind": "feedback", "sent_at": ago(minutes=40)}, headers=fd.pract)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert names(r.json()) == ["sent_at"] and r.json()["code"] == "before_decision"
    contact = (await fd.client.get(f"/contacts/{c['id']}", headers=fd.pract)).json()
    assert contact["feedback_sent_at"] is None
    # Told of the first decision before it was superseded: still after a decision, so kept.
    r = await fd.client.post(url, json={"kind": "feedback", "sent_at": ago(minutes=25)}, headers=fd.pract)
    assert r.status_code == 201, r.text
    body = {
        "reason": "new_information",
        "note": "More is known.",
        "decision": decision_body(decided_at=ago(minutes=10)),
    }
    r = await fd.client.post(f"/decisions/{d['id']}/supersede", json=body, headers=fd.pract)
    assert r.status_code == 201, r.text
    r = await fd.client.post(url, json={"kind": "feedback", "sent_at": ago(minutes=20)}, headers=fd.pract)
    assert r.status_code == 201, r.text


async def test_anonymous_contact_has_no_referrer_to_feed_back_to(fd: FrontDoor):
    child = await fd.child()
    c = await fd.contact(child["id"], source="9", referrer=None)
    r = await fd.client.post(
        f"/contacts/{c['id']}/referrer-feedback",
        json={"kind": "acknowledgement", "sent_at": ago(minutes=1)},
        headers=fd.pract,
    )
    assert r.status_code == 409


async def test_backdated_repeat_contact_moves_the_journey_start_back(fd: FrontDoor):
    child = await fd.child()
    first = await fd.contact(child["id"], received_at=ago(minutes=30))
    earlier = ago(hours=5)
    await fd.contact(child["id"], received_at=earlier, backdating_reason="Letter opened late")
    journey = (await fd.client.get(f"/journeys/{first['journey_id']}", headers=fd.pract)).json()
    assert journey["opened_at"][:19] == earlier[:19]


async def test_malformed_team_claim_is_not_recorded(fd: FrontDoor, token):
    child = await fd.child()
    odd = token("practitioner", sub="p9", team="not a team code " * 5)
    r = await fd.client.post("/contacts", json=contact_body([child["id"]]), headers=odd)
    assert r.status_code == 201, r.text
    assert r.json()["contacts"][0]["team_id"] is None


async def test_a_team_claim_a_spreadsheet_would_run_is_not_recorded(fd: FrontDoor, token):
    """`-A1` is A-Z, 0-9 and hyphens, but no team code: in a report's CSV it would be a formula."""
    child = await fd.child()
    odd = token("practitioner", sub="p9", team="-A1")
    r = await fd.client.post("/contacts", json=contact_body([child["id"]]), headers=odd)
    assert r.status_code == 201, r.text
    assert r.json()["contacts"][0]["team_id"] is None


async def test_the_contact_event_carries_the_recording_teams_area(fd: FrontDoor, token):
    await fd.team("FD-WEST", area="West")
    west = await fd.contact((await fd.child())["id"])
    unknown = await fd.contact(
        (await fd.child())["id"], headers=token("practitioner", sub="p9", team="NO-SUCH")
    )
    partner = await fd.contact((await fd.child())["id"], headers=fd.partner)
    received = {
        e["payload"]["contact_id"]: (e["payload"]["team_id"], e["payload"]["area"])
        for e in await fd.events()
        if e["type"] == "ContactReceived"
    }
    assert received[west["id"]] == ("FD-WEST", "West")
    assert received[unknown["id"]] == ("NO-SUCH", None)  # a team not on the register has no area
    assert received[partner["id"]] == (None, None)


@postgres_only("the intake's round trips on PostgreSQL, where the append carries the other inserts")
async def test_a_contact_about_a_new_child_is_four_statements_and_everything_lands(fd: FrontDoor):
    await fd.team()
    body = contact_body(new_children=[child_body()])
    headers = {**fd.pract, "Idempotency-Key": "new-child-1"}
    with statements_sent(fd.client.app.state.db.engine) as sent:  # type: ignore[attr-defined]
        r = await fd.client.post("/contacts", json=body, headers=headers)
    assert r.status_code == 201, r.text
    # Idempotency try-lock and look-up, the team's area, then one INSERT: the child, its journey, the
    # contact, the audit rows and the idempotency record ride along with the event.
    assert len(sent) == 4, sent
    written = {
        t
        for t in ("children", "journeys", "contacts", "audit_log", "idempotency_keys", "journey_events")
        if f"INSERT INTO {t} " in sent[3]
    }
    assert len(written) == 6, sent[3]
    contact = r.json()["contacts"][0]
    assert (await fd.client.get(f"/children/{contact['child_id']}", headers=fd.pract)).status_code == 200
    assert (await fd.client.get(f"/contacts/{contact['id']}", headers=fd.pract)).json() == contact
    [opened] = await fd.events(contact["journey_id"])
    assert opened["payload"]["area"] == "West"
    again = await fd.client.post("/contacts", json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == r.json()
