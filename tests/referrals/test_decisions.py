"""Threshold decisions: census rules, management authorisation by someone else, explicit supersede."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fdhelpers import FrontDoor, ago, at, child_body, contact_at, decision_body, iso, now_is, referral_body


def names(problem: dict) -> list[str]:
    return [p["name"] for p in problem.get("invalid-params", [])]


async def _contact(fd: FrontDoor, **over) -> dict:
    child = await fd.child()
    return await fd.contact(child["id"], **over)


async def test_non_referral_decision_is_current_at_once(fd: FrontDoor):
    await fd.team("FD-WEST")
    c = await _contact(fd)
    d = await fd.decide(c["id"], outcome="EARLY_HELP", threshold_level=2, assessment_factors=["16A", "3B"])
    assert d["status"] == "current" and d["requires_authorisation"] is False
    assert d["decided_by"] == "p1" and d["decided_by_team"] == "FD-WEST"
    contact = (await fd.client.get(f"/contacts/{c['id']}", headers=fd.pract)).json()
    assert contact["awaiting_decision"] is False
    ev = next(e for e in await fd.events(c["journey_id"]) if e["type"] == "ThresholdDecisionRecorded")
    assert ev["payload"]["outcome"] == "EARLY_HELP"
    assert ev["payload"]["assessment_factors"] == ["16A", "3B"]
    assert ev["payload"]["requires_authorisation"] is False
    assert ev["payload"]["decided_by_area"] == "West"
    assert ev["actor"] == "p1"
    assert "rationale" not in ev["payload"]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"outcome": "OTHER"}, "other_reason"),
        ({"outcome": "NFA", "other_reason": "why"}, "other_reason"),
        ({"threshold_level": 5}, "threshold_level"),
        ({"threshold_level": 0}, "threshold_level"),
        ({"outcome": "CIN_ASSESSMENT", "threshold_level": 3}, "primary_need"),
        ({"outcome": "STRATEGY_S47", "threshold_level": 4}, "primary_need"),
        ({"outcome": "NFA", "primary_need": "N1"}, "primary_need"),
        ({"primary_need": "N10", "outcome": "CIN_ASSESSMENT"}, "primary_need"),
        ({"assessment_factors": ["21", "3A"]}, "assessment_factors"),
        ({"assessment_factors": ["3A", "3A"]}, "assessment_factors"),
        ({"assessment_factors": ["18A"]}, "assessment_factors.0"),  # retired code
        ({"rationale": ""}, "rationale"),
        ({"rationale": "x" * 4001}, "rationale"),
        ({"decided_at": ago(hours=-1)}, "decided_at"),
        ({"decided_at": ago(hours=5)}, "decided_at"),  # before the contact was received
        ({"outcome": "MAYBE"}, "outcome"),
    ],
)
async def test_decision_rules(fd: FrontDoor, over: dict, field: str):
    c = await _contact(fd)
    r = await fd.client.post(f"/contacts/{c['id']}/decisions", json=decision_body(**over), headers=fd.pract)
    assert r.status_code == 422, r.text
    assert field in names(r.json())
    assert [e["type"] for e in await fd.events(c["journey_id"])] == ["ContactReceived"]


async def test_factor_21_alone_and_other_with_reason_are_accepted(fd: FrontDoor):
    c = await _contact(fd)
    d = await fd.decide(c["id"], outcome="OTHER", other_reason="Private fostering", assessment_factors=["21"])
    assert d["assessment_factors"] == ["21"] and d["other_reason"] == "Private fostering"


async def test_threshold_levels_are_a_setting(app_client, token):
    from fdhelpers import FrontDoor as FD

    client = await app_client("referrals", threshold_levels=[1, 2, 3, 4, 5, 6])
    fd = FD(client, token)
    c = await _contact(fd)
    d = await fd.decide(c["id"], threshold_level=6)
    assert d["threshold_level"] == 6


async def test_one_open_decision_per_contact(fd: FrontDoor):
    c = await _contact(fd)
    await fd.decide(c["id"])
    r = await fd.client.post(f"/contacts/{c['id']}/decisions", json=decision_body(), headers=fd.pract)
    assert r.status_code == 409 and r.json()["code"] == "decision_exists"


async def test_unknown_contact_is_404(fd: FrontDoor):
    r = await fd.client.post(
        "/contacts/00000000-0000-0000-0000-000000000000/decisions", json=decision_body(), headers=fd.pract
    )
    assert r.status_code == 404


async def test_referral_needs_authorisation_by_another_manager(fd: FrontDoor):
    c = await _contact(fd)
    d = await fd.decide(c["id"], **referral_body(), headers=fd.mgr)  # decided by manager m1
    assert d["status"] == "awaiting_authorisation" and d["requires_authorisation"] is True
    status = (await fd.client.get(f"/contacts/{c['id']}/status", headers=fd.pract)).json()
    # Not final until authorised: the outcome is not shown yet.
    assert status["status"] == "awaiting_authorisation" and status["outcome"] is None
    url = f"/decisions/{d['id']}/authorise"
    # Not a manager.
    assert (await fd.client.post(url, headers=fd.pract)).status_code == 403
    # The decision-maker themself.
    r = await fd.client.post(url, headers=fd.mgr)
    assert r.status_code == 403
    # Stale If-Match.
    r = await fd.client.post(url, headers={**fd.mgr2, "If-Match": '"stale"'})
    assert r.status_code == 412
    etag = (await fd.client.get(f"/decisions/{d['id']}", headers=fd.pract)).headers["ETag"]
    r = await fd.client.post(url, headers={**fd.mgr2, "If-Match": etag})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "current" and body["authorised_by"] == "m2" and body["authorised_at"]
    # Twice.
    r = await fd.client.post(url, headers=fd.admin)
    assert r.status_code == 409 and r.json()["code"] == "already_authorised"
    ev = [e for e in await fd.events(c["journey_id"]) if e["type"] == "ThresholdDecisionAuthorised"]
    assert len(ev) == 1 and ev[0]["payload"]["decision_id"] == d["id"] and ev[0]["actor"] == "m2"


async def test_decision_not_opening_a_referral_cannot_be_authorised(fd: FrontDoor):
    c = await _contact(fd)
    d = await fd.decide(c["id"])
    r = await fd.client.post(f"/decisions/{d['id']}/authorise", headers=fd.mgr)
    assert r.status_code == 409 and r.json()["code"] == "no_authorisation"
    r = await fd.client.post("/decisions/00000000-0000-0000-0000-000000000000/authorise", headers=fd.mgr)
    assert r.status_code == 404


async def test_supersede_replaces_without_editing(fd: FrontDoor):
    c = await _contact(fd, received_at=ago(minutes=90))
    old = await fd.decide(c["id"], decided_at=ago(minutes=60))
    r = await fd.client.post(
        f"/decisions/{old['id']}/supersede",
        json={
            "decision": referral_body(decided_at=ago(minutes=30)),
            "reason": "new_information",
            "note": "Police disclosed further incident",
        },
        headers=fd.pract2,
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["supersedes_id"] == old["id"] and new["status"] == "awaiting_authorisation"
    assert new["decided_by"] == "p2"
    old_now = (await fd.client.get(f"/decisions/{old['id']}", headers=fd.pract)).json()
    assert old_now["status"] == "superseded" and old_now["superseded_by_id"] == new["id"]
    assert old_now["outcome"] == "NFA" and old_now["rationale"] == old["rationale"]  # unchanged
    assert old_now["supersede_reason"] == "new_information"
    listed = (await fd.client.get(f"/contacts/{c['id']}/decisions", headers=fd.pract)).json()
    assert [d["id"] for d in listed] == [old["id"], new["id"]]
    # A superseded decision cannot be authorised or superseded again.
    r = await fd.client.post(
        f"/decisions/{old['id']}/supersede",
        json={"decision": decision_body(), "reason": "other", "note": "again"},
        headers=fd.pract,
    )
    assert r.status_code == 409 and r.json()["code"] == "decision_superseded"
    events = await fd.events(c["journey_id"])
    assert [e["type"] for e in events] == [
        "ContactReceived",
        "ThresholdDecisionRecorded",
        "ThresholdDecisionSuperseded",
        "ThresholdDecisionRecorded",
    ]
    assert events[2]["payload"] == {
        "decision_id": old["id"],
        "contact_id": c["id"],
        "superseded_by_decision_id": new["id"],
        "reason": "new_information",
    }
    assert events[3]["payload"]["supersedes_decision_id"] == old["id"]


async def test_an_authorised_referral_is_stepped_down_only_by_a_manager(fd: FrontDoor):
    """NFA needs no authorisation: a practitioner superseding the referral a manager signed off undid that
    oversight alone (was allowed)."""
    c = await _contact(fd, received_at=ago(minutes=90))
    referral = await fd.refer(c["id"], decided_at=ago(minutes=60))
    body = {"decision": decision_body(decided_at=ago(minutes=30)), "reason": "new_information", "note": "x"}
    url = f"/decisions/{referral['id']}/supersede"
    r = await fd.client.post(url, json=body, headers=fd.pract2)
    assert r.status_code == 403, r.text
    assert (await fd.client.get(f"/decisions/{referral['id']}", headers=fd.pract)).json()[
        "status"
    ] == "current"
    r = await fd.client.post(url, json=body, headers=fd.mgr2)
    assert r.status_code == 201, r.text
    assert r.json()["outcome"] == "NFA" and r.json()["decided_by"] == "m2"


async def test_an_authorised_referral_is_not_stepped_down_by_a_practitioner_in_two_steps(fd: FrontDoor):
    """Superseding the authorised referral with another referral (awaiting authorisation), then that one
    with NFA, stepped the signed-off referral down without a manager (was allowed: the second step
    looked only at the decision it replaced, never authorised)."""
    c = await _contact(fd, received_at=ago(minutes=90))
    referral = await fd.refer(c["id"], decided_at=ago(minutes=60))
    r = await fd.client.post(
        f"/decisions/{referral['id']}/supersede",
        json={
            "decision": referral_body(outcome="STRATEGY_S47", decided_at=ago(minutes=45)),
            "reason": "new_information",
            "note": "x",
        },
        headers=fd.pract2,
    )
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["status"] == "awaiting_authorisation"
    url = f"/decisions/{second['id']}/supersede"
    body = {"decision": decision_body(decided_at=ago(minutes=30)), "reason": "new_information", "note": "x"}
    r = await fd.client.post(url, json=body, headers=fd.pract2)
    assert r.status_code == 403, r.text
    r = await fd.client.post(url, json=body, headers=fd.mgr2)
    assert r.status_code == 201, r.text
    # Once a manager has stepped it down, practitioners change the non-referral outcome as before.
    body = {
        "decision": decision_body(outcome="EARLY_HELP", threshold_level=2, decided_at=ago(minutes=20)),
        "reason": "new_information",
        "note": "x",
    }
    r = await fd.client.post(f"/decisions/{r.json()['id']}/supersede", json=body, headers=fd.pract)
    assert r.status_code == 201, r.text


async def test_a_referral_never_authorised_is_stepped_down_by_a_practitioner(fd: FrontDoor):
    c = await _contact(fd, received_at=ago(minutes=90))
    first = await fd.decide(c["id"], **referral_body(decided_at=ago(minutes=60)))
    r = await fd.client.post(
        f"/decisions/{first['id']}/supersede",
        json={
            "decision": referral_body(decided_at=ago(minutes=45)),
            "reason": "new_information",
            "note": "x",
        },
        headers=fd.pract2,
    )
    assert r.status_code == 201, r.text
    body = {"decision": decision_body(decided_at=ago(minutes=30)), "reason": "new_information", "note": "x"}
    r = await fd.client.post(f"/decisions/{r.json()['id']}/supersede", json=body, headers=fd.pract2)
    assert r.status_code == 201, r.text


async def test_supersede_of_awaiting_decision_removes_it_from_authorisation(fd: FrontDoor):
    c = await _contact(fd)
    d = await fd.decide(c["id"], **referral_body())
    r = await fd.client.post(
        f"/decisions/{d['id']}/supersede",
        json={"decision": decision_body(), "reason": "management_review", "note": "Below threshold"},
        headers=fd.mgr,
    )
    assert r.status_code == 201
    r = await fd.client.post(f"/decisions/{d['id']}/authorise", headers=fd.mgr2)
    assert r.status_code == 409 and r.json()["code"] == "decision_superseded"
    waiting = (await fd.client.get("/worklists/decisions-awaiting-authorisation", headers=fd.mgr)).json()
    assert waiting["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": decision_body(), "reason": "whim", "note": "x"}, "reason"),
        ({"decision": decision_body(), "reason": "other"}, "note"),
        (
            {"decision": decision_body(outcome="OTHER"), "reason": "other", "note": "x"},
            "decision.other_reason",
        ),
        (
            {"decision": decision_body(decided_at=ago(hours=2)), "reason": "other", "note": "x"},
            "decision.decided_at",
        ),
    ],
)
async def test_supersede_rules(fd: FrontDoor, body: dict, field: str):
    c = await _contact(fd, received_at=ago(hours=1))
    d = await fd.decide(c["id"], decided_at=ago(minutes=30))
    r = await fd.client.post(f"/decisions/{d['id']}/supersede", json=body, headers=fd.pract)
    assert r.status_code == 422, r.text
    assert field in names(r.json())


async def test_supersede_cannot_predate_the_decision_it_replaces(fd: FrontDoor):
    c = await _contact(fd, received_at=ago(minutes=90))
    d = await fd.decide(c["id"], decided_at=ago(minutes=30))
    r = await fd.client.post(
        f"/decisions/{d['id']}/supersede",
        json={"decision": decision_body(decided_at=ago(minutes=60)), "reason": "other", "note": "x"},
        headers=fd.pract,
    )
    assert r.status_code == 422 and "decision.decided_at" in names(r.json())


async def test_a_replayed_decision_has_the_first_etag_and_is_audited_as_a_read(fd: FrontDoor):
    c = await _contact(fd)
    h = {**fd.pract, "Idempotency-Key": "decide-1"}
    body = decision_body()
    first = await fd.client.post(f"/contacts/{c['id']}/decisions", json=body, headers=h)
    again = await fd.client.post(f"/contacts/{c['id']}/decisions", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    decision = first.json()
    audit = await fd.client.get("/audit", params={"child_id": c["child_id"]}, headers=fd.admin)
    decision_rows = [
        (a["action"], a["actor"], a["reason"]) for a in audit.json()["items"] if a["resource"] == "decision"
    ]
    assert sorted(decision_rows) == [("create", "p1", None), ("read", "p1", "idempotent replay")]
    assert {a["resource_id"] for a in audit.json()["items"] if a["resource"] == "decision"} == {
        decision["id"]
    }
    assert len(await fd.events(c["journey_id"])) == 2  # ContactReceived, ThresholdDecisionRecorded


async def test_a_journey_takes_one_referral_a_later_contact_is_an_existing_open_case(fd: FrontDoor):
    """One CIN episode, one referral: a second referral in one journey would be counted as a new
    referral and a re-referral of the same child."""
    child = await fd.child()
    first = await fd.contact(child["id"], received_at=ago(minutes=90))
    referral = await fd.decide(first["id"], **referral_body(decided_at=ago(minutes=80)))
    for authorised in (False, True):
        if authorised:
            r = await fd.client.post(f"/decisions/{referral['id']}/authorise", headers=fd.mgr)
            assert r.status_code == 200, r.text
        later = await fd.contact(child["id"], received_at=ago(minutes=60 - authorised))
        assert later["journey_id"] == first["journey_id"]
        r = await fd.client.post(
            f"/contacts/{later['id']}/decisions",
            json=referral_body(outcome="STRATEGY_S47", threshold_level=4),
            headers=fd.pract,
        )
        assert r.status_code == 409 and r.json()["code"] == "journey_has_referral", r.text
        await fd.decide(later["id"], outcome="EXISTING_OPEN_CASE", threshold_level=3)
    # The referral itself may still be replaced by another (supersession, not a second one)...
    r = await fd.client.post(
        f"/decisions/{referral['id']}/supersede",
        json={
            "decision": referral_body(outcome="STRATEGY_S47", threshold_level=4),
            "reason": "new_information",
            "note": "Escalated to a strategy discussion",
        },
        headers=fd.pract2,
    )
    assert r.status_code == 201, r.text
    # ...but another contact's decision may not be superseded into a second referral.
    other = (await fd.client.get(f"/contacts/{later['id']}/decisions", headers=fd.pract)).json()[-1]
    r = await fd.client.post(
        f"/decisions/{other['id']}/supersede",
        json={"decision": referral_body(), "reason": "new_information", "note": "Synthetic note"},
        headers=fd.pract,
    )
    assert r.status_code == 409 and r.json()["code"] == "journey_has_referral", r.text
    referrals = [
        e
        for e in await fd.events(first["journey_id"])
        if e["type"] == "ThresholdDecisionRecorded"
        and e["payload"]["outcome"] in ("CIN_ASSESSMENT", "STRATEGY_S47")
    ]
    assert len(referrals) == 2  # the referral and the one that superseded it


async def test_the_first_referral_may_come_after_a_decision_that_was_not_one(fd: FrontDoor):
    child = await fd.child()
    first = await fd.contact(child["id"], received_at=ago(minutes=90))
    await fd.decide(first["id"], outcome="EARLY_HELP", threshold_level=2, decided_at=ago(minutes=80))
    later = await fd.contact(child["id"], received_at=ago(minutes=60))
    assert later["journey_id"] == first["journey_id"]
    await fd.decide(later["id"], **referral_body())


async def test_a_supersession_audits_the_decision_it_creates_and_a_replay_reads_it(fd: FrontDoor):
    """Every write of a child's records is audited: a supersession writes a new decision, which is
    what it answers with, so its creation is audited by its id, and a replay is a read of it."""
    c = await _contact(fd)
    old = await fd.decide(c["id"])
    h = {**fd.pract, "Idempotency-Key": "supersede-1"}
    body = {"decision": decision_body(outcome="INFO_ADVICE"), "reason": "error_correction", "note": "Typo."}
    first = await fd.client.post(f"/decisions/{old['id']}/supersede", json=body, headers=h)
    again = await fd.client.post(f"/decisions/{old['id']}/supersede", json=body, headers=h)
    assert first.status_code == again.status_code == 201, first.text
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    new = first.json()
    audit = await fd.client.get("/audit", params={"child_id": c["child_id"]}, headers=fd.admin)
    rows = [(a["action"], a["resource_id"]) for a in audit.json()["items"] if a["resource"] == "decision"]
    assert ("create", new["id"]) in rows and ("supersede", old["id"]) in rows
    assert ("read", new["id"]) in rows  # the replay handed the new decision out again


# --- T1: a first decision after its deadline says why ---------------------------------------------

# Friday 28 August 2026, 10:00 in London; Monday 31 August is the summer bank holiday, so the
# decision is due by office close on Tuesday 1 September (17:00 London, 16:00 UTC).
RECEIVED = at("2026-08-28T09:00:00Z")
DUE = at("2026-09-01T16:00:00Z")
LATE = "Synthetic: the duty team was covering a strategy discussion."


async def _received_before_a_bank_holiday(fd: FrontDoor) -> dict:
    (contact,) = await contact_at(fd, RECEIVED, new_children=[child_body()])
    return contact


async def _decide_at(fd: FrontDoor, contact: dict, when: datetime, **over: Any) -> httpx.Response:
    with now_is(when + timedelta(minutes=1)):
        return await fd.client.post(
            f"/contacts/{contact['id']}/decisions",
            json=decision_body(decided_at=iso(when), **over),
            headers=fd.pract,
        )


async def test_a_first_decision_after_its_deadline_needs_a_reason_and_nothing_is_written_without(
    fd: FrontDoor,
) -> None:
    contact = await _received_before_a_bank_holiday(fd)
    queue = (await fd.client.get("/worklists/contacts-awaiting-decision", headers=fd.pract)).json()
    assert [at(i["decision_due_at"]) for i in queue["items"]] == [DUE]
    before = await fd.events(contact["journey_id"])

    r = await _decide_at(fd, contact, DUE + timedelta(minutes=1))
    assert r.status_code == 422 and r.json()["code"] == "late_reason_required"
    assert [p["name"] for p in r.json()["invalid-params"]] == ["late_reason"]
    assert "2026-09-01T16:00:00+00:00" in r.json()["detail"]
    assert (await fd.client.get(f"/contacts/{contact['id']}/decisions", headers=fd.pract)).json() == []
    assert (await fd.client.get(f"/contacts/{contact['id']}", headers=fd.pract)).json()["awaiting_decision"]
    assert await fd.events(contact["journey_id"]) == before

    r = await _decide_at(fd, contact, DUE + timedelta(minutes=1), late_reason=LATE)
    assert r.status_code == 201, r.text
    decision = r.json()
    assert decision["late_reason"] == LATE
    assert (await fd.client.get(f"/decisions/{decision['id']}", headers=fd.pract)).json()[
        "late_reason"
    ] == LATE
    # Free text stays in the referrals service: the journey event does not carry it.
    recorded = (await fd.events(contact["journey_id"]))[-1]
    assert recorded["type"] == "ThresholdDecisionRecorded"
    assert "late_reason" not in recorded["payload"] and LATE not in str(recorded)


async def test_a_decision_on_time_takes_no_late_reason(fd: FrontDoor) -> None:
    contact = await _received_before_a_bank_holiday(fd)
    # The bank holiday is not a working day: Tuesday at office close is still on time.
    r = await _decide_at(fd, contact, DUE, late_reason=LATE)
    assert r.status_code == 422 and r.json()["code"] == "late_reason_refused"
    assert [p["name"] for p in r.json()["invalid-params"]] == ["late_reason"]
    r = await _decide_at(fd, contact, DUE)
    assert r.status_code == 201 and r.json()["late_reason"] is None


async def test_a_superseding_decision_is_never_late(fd: FrontDoor) -> None:
    contact = await _received_before_a_bank_holiday(fd)
    first = (await _decide_at(fd, contact, DUE - timedelta(hours=2))).json()
    weeks_later = DUE + timedelta(days=20)
    url = f"/decisions/{first['id']}/supersede"
    body: dict[str, Any] = {
        "decision": decision_body(outcome="INFO_ADVICE", decided_at=iso(weeks_later), late_reason=LATE),
        "reason": "new_information",
        "note": "Synthetic note.",
    }
    with now_is(weeks_later):
        r = await fd.client.post(url, json=body, headers=fd.pract)
        assert r.status_code == 422 and r.json()["code"] == "late_reason_refused"
        assert [p["name"] for p in r.json()["invalid-params"]] == ["decision.late_reason"]
        del body["decision"]["late_reason"]
        r = await fd.client.post(url, json=body, headers=fd.pract)
    assert r.status_code == 201, r.text
    assert r.json()["late_reason"] is None


async def test_the_deadline_closes_at_the_office_hours_reporting_counts_by(
    app_client: Any, token: Any
) -> None:
    """Reporting counts a decision late after office close as REPORTING_OFFICE_END sets it; the
    referrals service must close the day at the same time, or it would refuse the reason for a breach
    reporting counts (decided 16:45 with the office closing at 16:30), and ask one for a decision
    reporting counts on time (16:45 with the office closing at 17:30)."""
    due_at_1630 = at("2026-09-01T15:30:00Z")  # Tuesday 16:30 in London (summer time)
    fd = FrontDoor(await app_client("referrals", office_start="08:30", office_end="16:30"), token)
    contact = await _received_before_a_bank_holiday(fd)
    queue = (await fd.client.get("/worklists/contacts-awaiting-decision", headers=fd.pract)).json()
    assert [at(i["decision_due_at"]) for i in queue["items"]] == [due_at_1630]
    r = await _decide_at(fd, contact, due_at_1630 + timedelta(minutes=15))
    assert r.status_code == 422 and r.json()["code"] == "late_reason_required", r.text
    assert "2026-09-01T15:30:00+00:00" in r.json()["detail"]
    r = await _decide_at(fd, contact, due_at_1630 + timedelta(minutes=15), late_reason=LATE)
    assert r.status_code == 201, r.text


def test_the_deadline_is_reportings_whatever_the_calendar_settings() -> None:
    """Settings.decision_due_at, which the work list shows and late_reason follows, against reporting's
    own deadline (decided_within_timescale) under the same settings: out-of-hours receipt, a bank
    holiday, a clock change, both counting conventions, other office hours, and every timescale
    reporting takes (a decision on the day of receipt is 0 working days after it)."""
    from services.referrals.settings import Settings as ReferralsSettings
    from services.reporting.settings import Settings as ReportingSettings

    received = [
        at("2026-08-28T07:59:59Z"),  # Friday before office opening (08:59:59 London)
        at("2026-08-28T16:00:00Z"),  # Friday at office close; Monday is a bank holiday
        at("2026-08-29T11:00:00Z"),  # a Saturday
        at("2026-10-23T15:45:00Z"),  # Friday before the clocks go back
        at("2026-12-24T17:30:00Z"),  # Christmas Eve evening
    ]
    for counting in ("day_0", "day_1"):
        for hours in ({}, {"office_start": "08:00", "office_end": "16:30"}, {"office_end": "18:00"}):
            for days in (0, 1, 2) if counting == "day_0" else (1, 2):
                ours = ReferralsSettings(counting=counting, decision_deadline_working_days=days, **hours)
                theirs = ReportingSettings(counting=counting, decision_within_working_days=days, **hours)
                statutory = theirs.calendar().statutory()
                for when in received:
                    assert ours.decision_due_at(when) == statutory.deadline(when, days), (
                        counting,
                        hours,
                        when,
                    )


# --- A decision recorded long after it was made says why, as a backdated contact does -------------


async def test_a_backdated_decision_needs_a_reason_and_shows_it(fd: FrontDoor) -> None:
    c = await _contact(fd, received_at=ago(hours=6), backdating_reason="Synthetic: typed up late.")
    url = f"/contacts/{c['id']}/decisions"
    # Made on time, 5 hours ago, but entered only now: the time is not taken on trust.
    body = decision_body(decided_at=ago(hours=5))
    r = await fd.client.post(url, json=body, headers=fd.pract)
    assert r.status_code == 422 and r.json()["code"] == "backdating_reason_required"
    assert names(r.json()) == ["backdating_reason"]
    assert (await fd.client.get(url, headers=fd.pract)).json() == []

    reason = "Synthetic: decided at the strategy meeting, recorded after it."
    r = await fd.client.post(url, json={**body, "backdating_reason": reason}, headers=fd.pract)
    assert r.status_code == 201, r.text
    assert (r.json()["backdated"], r.json()["backdating_reason"]) == (True, reason)
    # A supersession is held to the same rule, naming its field within the body.
    r = await fd.client.post(
        f"/decisions/{r.json()['id']}/supersede",
        json={"decision": decision_body(decided_at=ago(hours=4)), "reason": "other", "note": "Synthetic."},
        headers=fd.pract,
    )
    assert r.status_code == 422 and names(r.json()) == ["decision.backdating_reason"]


async def test_a_decision_entered_within_the_threshold_is_not_backdated(fd: FrontDoor) -> None:
    c = await _contact(fd, received_at=ago(hours=3), backdating_reason="Synthetic: typed up late.")
    d = await fd.decide(c["id"], decided_at=ago(minutes=110))
    assert (d["backdated"], d["backdating_reason"]) == (False, None)
