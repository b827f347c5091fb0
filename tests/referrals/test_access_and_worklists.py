"""Who may do what (incl. partners' object-level access), work lists, and audit of reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fdhelpers import FrontDoor, ago, child_body, contact_body, decision_body, referral_body

ZERO = "00000000-0000-0000-0000-000000000000"


async def test_partner_may_only_create_contacts_and_read_their_status(fd: FrontDoor):
    child = await fd.child()
    body = contact_body(
        new_children=[child_body(given_name="Newkid")], channel="police_notification", source="6"
    )
    r = await fd.client.post("/contacts", json=body, headers=fd.partner)
    assert r.status_code == 201, r.text
    receipt = r.json()["contacts"][0]
    # A receipt only: nothing about the child's journey or history leaks to the partner.
    assert set(receipt) == {"id", "child_id", "received_at", "status"}
    assert receipt["status"] == "awaiting_decision"
    c = (await fd.client.get(f"/contacts/{receipt['id']}", headers=fd.pract)).json()
    assert c["partner_system"] is True and c["recorded_by"] == "police-system"
    assert c["channel"] == "police_notification" and c["source"] == "6"
    ev = (await fd.events(c["journey_id"]))[0]
    assert ev["payload"]["partner_system"] is True

    r = await fd.client.get(f"/contacts/{c['id']}/status", headers=fd.partner)
    assert r.status_code == 200
    assert r.json()["status"] == "awaiting_decision" and r.json()["outcome"] is None
    # Another partner cannot tell it exists.
    r = await fd.client.get(f"/contacts/{c['id']}/status", headers=fd.partner2)
    assert r.status_code == 404
    # Staff's contacts are not the partner's either.
    staff_contact = await fd.contact(child["id"])
    r = await fd.client.get(f"/contacts/{staff_contact['id']}/status", headers=fd.partner)
    assert r.status_code == 404

    await fd.decide(c["id"], outcome="EARLY_HELP", threshold_level=2)
    r = await fd.client.get(f"/contacts/{c['id']}/status", headers=fd.partner)
    assert r.json()["status"] == "decided" and r.json()["outcome"] == "EARLY_HELP"

    denied = [
        ("get", f"/contacts/{c['id']}", None),
        ("get", f"/children/{child['id']}", None),
        ("post", "/children", child_body()),
        ("get", "/children/search?nhs_number=9434765919", None),
        ("post", f"/contacts/{c['id']}/decisions", decision_body()),
        ("get", f"/journeys/{c['journey_id']}", None),
        ("get", "/journeys", None),
        ("get", "/teams", None),
        ("get", "/worklists/contacts-awaiting-decision", None),
        ("get", "/audit", None),
        ("get", "/events", None),
    ]
    for method, url, body in denied:
        r = await fd.client.request(method, url, json=body, headers=fd.partner)
        assert r.status_code == 403, (url, r.status_code)


async def test_partner_lists_only_its_own_contacts(fd: FrontDoor):
    child = await fd.child()
    body = contact_body([child["id"]], source="6", received_at=ago(minutes=20))
    mine = (await fd.client.post("/contacts", json=body, headers=fd.partner)).json()["contacts"][0]
    later = {**body, "received_at": ago(minutes=10)}
    mine2 = (await fd.client.post("/contacts", json=later, headers=fd.partner)).json()["contacts"][0]
    await fd.client.post("/contacts", json=body, headers=fd.partner2)
    await fd.contact(child["id"])
    r = await fd.client.get("/partner/contacts", headers=fd.partner)
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [mine2["id"], mine["id"]]
    r = await fd.client.get("/partner/contacts", params={"since": ago(minutes=15)}, headers=fd.partner)
    assert [c["id"] for c in r.json()["items"]] == [mine2["id"]]
    r = await fd.client.get("/partner/contacts", params={"since": "2026-01-01T10:00:00"}, headers=fd.partner)
    assert r.status_code == 422
    assert (await fd.client.get("/partner/contacts", headers=fd.pract)).status_code == 403


async def test_analyst_has_no_access(fd: FrontDoor):
    child = await fd.child()
    c = await fd.contact(child["id"])
    urls = [
        ("get", f"/children/{child['id']}", None),
        ("get", f"/contacts/{c['id']}", None),
        ("get", f"/contacts/{c['id']}/status", None),
        ("post", "/contacts", contact_body([child["id"]])),
        ("post", "/children", child_body()),
        ("get", f"/journeys/{c['journey_id']}", None),
        ("get", "/teams", None),
        ("get", "/worklists/decisions-awaiting-authorisation", None),
        ("get", f"/children/{child['id']}/contacts", None),
    ]
    for method, url, body in urls:
        r = await fd.client.request(method, url, json=body, headers=fd.analyst)
        assert r.status_code == 403, url


async def test_no_token_is_401(fd: FrontDoor):
    r = await fd.client.get("/teams")
    assert r.status_code == 401
    r = await fd.client.get("/teams", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401


async def test_contacts_awaiting_decision_oldest_first_with_deadline(fd: FrontDoor):
    child = await fd.child()
    other = await fd.child(given_name="Other")
    # Ten days ago is past any 1-working-day deadline (at most 4 days later over a bank-holiday weekend).
    old = await fd.contact(
        child["id"], received_at=ago(days=10), backdating_reason="Late entry", urgency="red"
    )
    new = await fd.contact(other["id"], received_at=ago(minutes=1))
    decided = await fd.contact(child["id"], received_at=ago(minutes=5))
    await fd.decide(decided["id"], decided_at=ago(minutes=1))
    r = await fd.client.get("/worklists/contacts-awaiting-decision", headers=fd.pract)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2
    items = body["items"]
    assert [i["contact_id"] for i in items] == [old["id"], new["id"]]
    assert items[0]["deadline_breached"] is True
    # Ten calendar days hold at least 5 full working days of 8 office hours.
    assert items[0]["age_working_hours"] >= 40
    # Received a minute ago: the deadline is the close of a later working day.
    assert items[1]["deadline_breached"] is False
    assert datetime.fromisoformat(items[1]["decision_due_at"]) > datetime.now(UTC)
    # Filters and pagination.
    r = await fd.client.get(
        "/worklists/contacts-awaiting-decision", params={"urgency": "red"}, headers=fd.pract
    )
    assert [i["contact_id"] for i in r.json()["items"]] == [old["id"]]
    r = await fd.client.get(
        "/worklists/contacts-awaiting-decision", params={"limit": 1, "offset": 1}, headers=fd.pract
    )
    assert r.json()["total"] == 2 and [i["contact_id"] for i in r.json()["items"]] == [new["id"]]
    r = await fd.client.get("/worklists/contacts-awaiting-decision", params={"limit": 0}, headers=fd.pract)
    assert r.status_code == 422
    r = await fd.client.get(
        "/worklists/contacts-awaiting-decision", params={"source": "99"}, headers=fd.pract
    )
    assert r.status_code == 422


async def test_decision_deadline_exact_figure(fd: FrontDoor):
    # Received Monday 6 Jan 2025 10:00 London (= UTC in winter): with the default "day after is day 1",
    # 1 working day is due Tuesday 7 Jan at 17:00 London.
    child = await fd.child()
    received = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
    await fd.contact(child["id"], received_at=received.isoformat(), backdating_reason="Migrated record")
    item = (await fd.client.get("/worklists/contacts-awaiting-decision", headers=fd.pract)).json()["items"][0]
    assert datetime.fromisoformat(item["decision_due_at"]) == datetime(2025, 1, 7, 17, 0, tzinfo=UTC)
    assert item["deadline_breached"] is True


async def test_decisions_awaiting_authorisation_list(fd: FrontDoor):
    a = await fd.contact((await fd.child())["id"], received_at=ago(minutes=50))
    b = await fd.contact((await fd.child(given_name="B"))["id"], received_at=ago(minutes=50))
    da = await fd.decide(a["id"], **referral_body(decided_at=ago(minutes=10)))
    db = await fd.decide(b["id"], **referral_body(decided_at=ago(minutes=20)))
    r = await fd.client.get("/worklists/decisions-awaiting-authorisation", headers=fd.mgr)
    assert [d["id"] for d in r.json()["items"]] == [db["id"], da["id"]]
    await fd.client.post(f"/decisions/{db['id']}/authorise", headers=fd.mgr)
    r = await fd.client.get(
        "/worklists/decisions-awaiting-authorisation", params={"team_id": "FD-WEST"}, headers=fd.mgr
    )
    assert [d["id"] for d in r.json()["items"]] == [da["id"]]
    r = await fd.client.get(
        "/worklists/decisions-awaiting-authorisation", params={"team_id": "FD-EAST"}, headers=fd.mgr
    )
    assert r.json()["total"] == 0


async def test_team_open_journeys_and_unallocated(fd: FrontDoor):
    await fd.team("FD-WEST")
    c1 = await fd.contact((await fd.child())["id"])
    c2 = await fd.contact((await fd.child(given_name="Two"))["id"])
    await fd.client.post(
        f"/journeys/{c1['journey_id']}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr
    )
    r = await fd.client.get("/journeys", params={"team_id": "FD-WEST", "status": "open"}, headers=fd.pract)
    assert [j["id"] for j in r.json()["items"]] == [c1["journey_id"]]
    r = await fd.client.get("/journeys", params={"unallocated": "true"}, headers=fd.pract)
    assert [j["id"] for j in r.json()["items"]] == [c2["journey_id"]]
    r = await fd.client.get("/journeys", params={"status": "shut"}, headers=fd.pract)
    assert r.status_code == 422


async def test_child_lists(fd: FrontDoor):
    child = await fd.child()
    c1 = await fd.contact(child["id"], received_at=ago(minutes=30))
    c2 = await fd.contact(child["id"], received_at=ago(minutes=20))
    d = await fd.decide(c1["id"])
    r = await fd.client.get(f"/children/{child['id']}/contacts", headers=fd.pract)
    assert [c["id"] for c in r.json()["items"]] == [c2["id"], c1["id"]]
    r = await fd.client.get(f"/children/{child['id']}/decisions", headers=fd.pract)
    assert [x["id"] for x in r.json()["items"]] == [d["id"]]
    r = await fd.client.get(
        f"/children/{child['id']}/decisions", params={"status": "superseded"}, headers=fd.pract
    )
    assert r.json()["total"] == 0
    r = await fd.client.get("/journeys", params={"child_id": child["id"]}, headers=fd.pract)
    assert r.json()["total"] == 1
    for sub in ("contacts", "decisions", "allocations"):
        r = await fd.client.get(f"/children/{ZERO}/{sub}", headers=fd.pract)
        assert r.status_code == 404


async def test_reads_and_writes_of_a_child_are_audited(fd: FrontDoor):
    child = await fd.child()
    c = await fd.contact(child["id"])
    await fd.decide(c["id"])
    await fd.client.get(f"/children/{child['id']}", headers=fd.mgr)
    await fd.client.get(f"/journeys/{c['journey_id']}", headers=fd.mgr)
    r = await fd.client.get("/audit", params={"child_id": child["id"]}, headers=fd.admin)
    got = {(a["action"], a["resource"], a["actor"]) for a in r.json()["items"]}
    assert {
        ("create", "child", "p1"),
        ("create", "contact", "p1"),
        ("create", "decision", "p1"),
        ("read", "child", "m1"),
        ("read", "journey", "m1"),
    } <= got
    assert (await fd.client.get("/audit", headers=fd.mgr)).status_code == 403


async def test_admin_can_do_everything_a_manager_can(fd: FrontDoor):
    await fd.team("FD-WEST")
    c = await fd.contact((await fd.child())["id"], received_at=ago(minutes=30))
    d = await fd.decide(c["id"], **referral_body(decided_at=ago(minutes=20)))
    r = await fd.client.post(f"/decisions/{d['id']}/authorise", headers=fd.admin)
    assert r.status_code == 200
    r = await fd.client.post(
        f"/journeys/{c['journey_id']}/allocation", json={"team_id": "FD-WEST"}, headers=fd.admin
    )
    assert r.status_code == 201
    r = await fd.client.post(f"/journeys/{c['journey_id']}/closure", json={"reason": "RC8"}, headers=fd.admin)
    assert r.status_code == 200


async def test_received_at_in_the_past_of_a_timezone_is_normalised(fd: FrontDoor):
    child = await fd.child()
    local = (datetime.now(UTC) - timedelta(minutes=30)).astimezone(
        __import__("datetime").timezone(timedelta(hours=5))
    )
    c = await fd.contact(child["id"], received_at=local.isoformat())
    assert datetime.fromisoformat(c["received_at"]) == local


async def test_decision_deadline_follows_the_configured_counting_convention(app_client, token):
    # REFERENCE.md 4.1: "Make the convention a setting, default to 'N working days after the start
    # date'". Under day_1 (D2I's CustomBusinessDay(n-1)) a working start day is day 1: a contact of
    # Monday 6 Jan 2025 10:00 London is due by 17:00 that Monday, as the reports count it.
    fd = FrontDoor(await app_client("referrals", counting="day_1"), token)
    child = await fd.child()
    received = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
    await fd.contact(child["id"], received_at=received.isoformat(), backdating_reason="Migrated record")
    item = (await fd.client.get("/worklists/contacts-awaiting-decision", headers=fd.pract)).json()["items"][0]
    assert datetime.fromisoformat(item["decision_due_at"]) == datetime(2025, 1, 6, 17, 0, tzinfo=UTC)
