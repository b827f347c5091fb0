"""Drill: every endpoint of every service, with no token, and each role, plus access across objects.

The table below is written by hand from the services' documentation (route descriptions, the
services' READMEs and `services/referrals/common.py`'s "who may do what"), not read from the code:
no token is 401 (except the public health and metrics endpoints), a role outside the documented set
is 403, and a documented role gets past authorisation (never 401/403; a documented status — here
usually 404 for unknown ids or 422 for an empty body). A test also fails when an operation appears
in an OpenAPI without a row here, so new endpoints must be placed in the matrix.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from drillkit import bearer

from frontdoor.registry import SERVICES
from services.referrals import events as ref
from shared.codes import ConsentStatus, ContactChannel, ReferralSource, Urgency
from shared.events.log import NewEvent

ROLES = ("practitioner", "manager", "analyst", "partner", "service", "admin")
PUBLIC = frozenset({"none", *ROLES})
ALL = frozenset(ROLES)
STAFF = frozenset({"practitioner", "manager", "admin"})
MANAGERS = frozenset({"manager", "admin"})
CONTACT_WRITERS = frozenset({"partner", "practitioner", "manager", "admin"})
FEED = frozenset({"service", "admin"})
ADMIN = frozenset({"admin"})
PARTNER = frozenset({"partner"})
SUP_MANAGER = frozenset({"manager"})
SUP_READER = frozenset({"manager", "practitioner"})
REPORT_READER = frozenset({"analyst", "manager"})
# A producer's policy (the settings its readers share): every role but partner's (an external system).
POLICY_READER = ALL - PARTNER

PLATFORM: dict[str, frozenset[str]] = {
    "GET /health/live": PUBLIC,
    "GET /health/ready": PUBLIC,
    "GET /metrics": PUBLIC,
    "GET /audit": ADMIN,
}
PRODUCER: dict[str, frozenset[str]] = {
    "GET /events": FEED,
    "GET /events/schema": ALL,
    "GET /admin/verify": ADMIN,
    "GET /policy": POLICY_READER,
}
MATRIX: dict[str, dict[str, frozenset[str]]] = {
    "referrals": {
        **PLATFORM,
        **PRODUCER,
        "POST /children": STAFF,
        "GET /children/search": STAFF,
        "GET /children/{child_id}": STAFF,
        "PATCH /children/{child_id}": STAFF,
        "GET /children/{child_id}/corrections": STAFF,
        "POST /contacts": CONTACT_WRITERS,
        "GET /contacts/{contact_id}": STAFF,
        "GET /contacts/{contact_id}/child-history": STAFF,
        "GET /contacts/{contact_id}/status": CONTACT_WRITERS,
        "GET /partner/contacts": PARTNER,
        "POST /contacts/{contact_id}/referrer-feedback": STAFF,
        "GET /contacts/{contact_id}/referrer-feedback": STAFF,
        "POST /contacts/{contact_id}/decisions": STAFF,
        "GET /contacts/{contact_id}/decisions": STAFF,
        "GET /decisions/{decision_id}": STAFF,
        "POST /decisions/{decision_id}/authorise": MANAGERS,
        "POST /decisions/{decision_id}/supersede": STAFF,
        "GET /journeys": STAFF,
        "GET /journeys/{journey_id}": STAFF,
        "POST /journeys/{journey_id}/allocation": MANAGERS,
        "POST /journeys/{journey_id}/transfers": MANAGERS,
        "POST /journeys/{journey_id}/closure": MANAGERS,
        "POST /teams": MANAGERS,
        "GET /teams": STAFF,
        "GET /worklists/contacts-awaiting-decision": STAFF,
        "GET /worklists/decisions-awaiting-authorisation": STAFF,
        "GET /children/{child_id}/contacts": STAFF,
        "GET /children/{child_id}/decisions": STAFF,
        "GET /children/{child_id}/allocations": STAFF,
        "GET /annex-a/contacts": MANAGERS,
        "GET /annex-a/referrals": MANAGERS,
    },
    "supervision": {
        **PLATFORM,
        **PRODUCER,
        "POST /supervisions": SUP_MANAGER,
        "GET /supervisions/due": SUP_READER,
        "GET /supervisions/{supervision_id}": SUP_READER,
        "POST /supervisions/{supervision_id}/actions/{action_id}/complete": SUP_READER,
        "POST /supervisions/{supervision_id}/actions/{action_id}/cancel": SUP_READER,
        "GET /children/{child_id}/supervisions": SUP_READER,
        "GET /workers/{worker_id}": SUP_MANAGER,
        "PUT /workers/{worker_id}": SUP_MANAGER,
    },
    "reporting": {
        **PLATFORM,
        "GET /reports/contact-to-outcome": REPORT_READER,
        "GET /reports/awaiting-decision": REPORT_READER,
        "GET /reports/handovers": REPORT_READER,
        "GET /reports/supervision": REPORT_READER,
        "GET /reports/conversion": REPORT_READER,
        "GET /reports/conversion/control-bands": REPORT_READER,
        "GET /reports/compare": REPORT_READER,
        "GET /children/{child_id}/timeline": REPORT_READER,
    },
}


def _openapi(name: str) -> dict[str, Any]:
    app = (
        SERVICES[name]
        .main()
        .create(
            SERVICES[name].settings(database_url="sqlite+aiosqlite:///:memory:", environment="test"),
            run_consumers=False,
        )
    )
    doc: dict[str, Any] = app.openapi()
    return doc


def _operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, ops in doc["paths"].items() for m, op in ops.items()}


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_operation_is_in_the_matrix(service: str) -> None:
    assert set(_operations(_openapi(service))) == set(MATRIX[service])


def _fill(path: str) -> str:
    out = path
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        out = out[:start] + str(uuid.uuid4()) + out[end + 1 :]
    return out


@pytest.mark.parametrize("service", list(SERVICES))
async def test_each_endpoint_with_no_token_and_each_role(app_client: Any, service: str) -> None:
    client: httpx.AsyncClient = await app_client(service)
    doc = client.app.openapi()  # type: ignore[attr-defined]
    operations = _operations(doc)
    wrong: list[str] = []
    for label, allowed in MATRIX[service].items():
        method, path = label.split(" ", 1)
        documented = set(operations[label]["responses"])
        for who in ("none", *ROLES):
            headers = {} if who == "none" else bearer(who, sub=f"matrix-{who}", team="FD-WEST")
            kwargs: dict[str, Any] = {"headers": headers}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            if path == "/events":
                kwargs["params"] = {"wait": 0}
            r = await client.request(method, _fill(path), **kwargs)
            if who in allowed:
                ok = r.status_code not in (401, 403) and str(r.status_code) in documented
            elif who == "none":
                ok = r.status_code == 401
            else:
                ok = r.status_code == 403
            if not ok:
                wrong.append(f"{label} as {who}: {r.status_code} (allowed: {sorted(allowed)})")
            if r.status_code in (401, 403):
                assert r.headers["content-type"].startswith("application/problem+json"), label
    assert not wrong, "\n".join(wrong)


def _contact_body() -> dict[str, Any]:
    received = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    return {
        "new_children": [{"given_name": "Matrix", "family_name": "Child", "date_of_birth": "2017-05-06"}],
        "received_at": received.isoformat(),
        "source": "1A",
        "channel": "online_form",
        "referrer": {"name": "Partner System", "organisation": "Synthetic Police"},
        "concerns_summary": "Synthetic partner contact.",
        "consent": {"status": "given"},
        "urgency": "green",
    }


async def test_a_partner_sees_only_its_own_contacts(app_client: Any) -> None:
    client: httpx.AsyncClient = await app_client("referrals")
    partner_a = bearer("partner", sub="partner-a", team=None)
    partner_b = bearer("partner", sub="partner-b", team=None)
    r = await client.post("/contacts", json=_contact_body(), headers=partner_a)
    assert r.status_code == 201, r.text
    contact_id = r.json()["contacts"][0]["id"]
    assert (await client.get(f"/contacts/{contact_id}/status", headers=partner_a)).status_code == 200
    # Another partner's contact: not disclosed (404), and the full record is staff-only (403).
    assert (await client.get(f"/contacts/{contact_id}/status", headers=partner_b)).status_code == 404
    assert (await client.get(f"/contacts/{contact_id}", headers=partner_a)).status_code == 403
    # Each partner's list holds only its own submissions.
    mine = await client.get("/partner/contacts", headers=partner_a)
    theirs = await client.get("/partner/contacts", headers=partner_b)
    assert mine.status_code == theirs.status_code == 200
    assert contact_id in mine.text
    assert contact_id not in theirs.text


async def test_another_teams_supervision_is_refused_or_hidden(app_client: Any) -> None:
    referrals: httpx.AsyncClient = await app_client("referrals")
    supervision: httpx.AsyncClient = await app_client("supervision")
    consumer = supervision.app.state.service.consumers[0]  # type: ignore[attr-defined]
    consumer.transport = httpx.ASGITransport(app=referrals.app)  # type: ignore[attr-defined]
    consumer.base_url = "http://referrals.test"
    svc = referrals.app.state.service  # type: ignore[attr-defined]
    journey_id, child_id = uuid.uuid4(), uuid.uuid4()
    received = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    async with svc.db.unit_of_work() as session:
        await svc.event_log.append(
            session,
            journey_id,
            [
                NewEvent(
                    ref.ContactReceived(
                        contact_id=uuid.uuid4(),
                        child_id=child_id,
                        received_at=received,
                        source=ReferralSource.C2A,
                        channel=ContactChannel.phone,
                        urgency=Urgency.amber,
                        consent=ConsentStatus.given,
                        opens_journey=True,
                        repeat_contact=False,
                        team_id="FD-WEST",
                        area="WEST",
                    ),
                    received,
                )
            ],
            expected_version=0,
            actor="matrix",
        )
    await consumer.catch_up()
    body = {
        "journey_id": str(journey_id),
        "supervisee_id": "w1",
        "held_at": "2026-03-04T10:00:00Z",
        "kind": "individual",
        "discussion": "Synthetic discussion.",
        "decisions": "Synthetic decisions.",
        "actions": [{"description": "Synthetic action.", "owner_id": "w1", "due_on": "2026-03-10"}],
    }
    west = bearer("manager", sub="m-west", team="FD-WEST")
    east = bearer("manager", sub="m-east", team="FD-EAST")
    east_practitioner = bearer("practitioner", sub="p-east", team="FD-EAST")
    # Recording on another team's journey: 403 (documented on POST /supervisions).
    assert (await supervision.post("/supervisions", json=body, headers=east)).status_code == 403
    r = await supervision.post("/supervisions", json=body, headers=west)
    assert r.status_code == 201, r.text
    sup = r.json()
    # Reading another team's supervision: 404, existence not disclosed (documented).
    assert (await supervision.get(f"/supervisions/{sup['id']}", headers=west)).status_code == 200
    assert (await supervision.get(f"/supervisions/{sup['id']}", headers=east)).status_code == 404
    assert (await supervision.get(f"/supervisions/{sup['id']}", headers=east_practitioner)).status_code == 404
    # Another team's due list: 403 (documented on GET /supervisions/due).
    due = await supervision.get("/supervisions/due", params={"team": "FD-WEST"}, headers=east)
    assert due.status_code == 403
    # Another team's manager cannot complete its actions either.
    action = sup["actions"][0]["id"]
    done = await supervision.post(
        f"/supervisions/{sup['id']}/actions/{action}/complete", json={}, headers=east
    )
    assert done.status_code in (403, 404), done.text


async def test_another_teams_journey_is_not_moved_or_closed(app_client: Any) -> None:
    """Allocation, transfer and closure are managers' (the matrix above); of managers, only those of the
    team holding the journey may transfer or close it (any manager while no team holds it). Another
    team's manager and a manager whose token names no team are 403, as documented on each route."""
    client: httpx.AsyncClient = await app_client("referrals")
    west = bearer("manager", sub="m-west", team="FD-WEST")
    east = bearer("manager", sub="m-east", team="FD-EAST")
    assessment = bearer("manager", sub="m-as-west", team="AS-WEST")
    no_team = bearer("manager", sub="m-none", team=None)
    for team, area, service_type in (
        ("FD-WEST", "West", "front_door"),
        ("FD-EAST", "East", "front_door"),
        ("AS-WEST", "West", "assessment"),
    ):
        body = {"id": team, "name": f"Team {team}", "area": area, "service_type": service_type}
        assert (await client.post("/teams", json=body, headers=west)).status_code == 201
    r = await client.post("/contacts", json=_contact_body(), headers=bearer("practitioner", sub="p-west"))
    assert r.status_code == 201, r.text
    contact = r.json()["contacts"][0]
    journey = f"/journeys/{contact['journey_id']}"
    decision = {
        "outcome": "NFA",
        "threshold_level": 1,
        "rationale": "Synthetic rationale.",
        "decided_at": contact["received_at"],
    }
    r = await client.post(f"/contacts/{contact['id']}/decisions", json=decision, headers=west)
    assert r.status_code == 201, r.text
    r = await client.post(f"{journey}/allocation", json={"team_id": "FD-WEST"}, headers=west)
    assert r.status_code == 201, r.text

    def refused(r: httpx.Response) -> bool:
        return r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")

    to_assessment = {"team_id": "AS-WEST", "reason": "TSPROC"}
    for who in (east, no_team, assessment):
        assert refused(await client.post(f"{journey}/transfers", json=to_assessment, headers=who))
        assert refused(await client.post(f"{journey}/closure", json={"reason": "FD_NFA"}, headers=who))
    assert (await client.post(f"{journey}/transfers", json=to_assessment, headers=west)).status_code == 201
    # Handed over: the front door is now the other team.
    assert refused(await client.post(f"{journey}/closure", json={"reason": "FD_NFA"}, headers=west))
    r = await client.post(f"{journey}/closure", json={"reason": "FD_NFA"}, headers=assessment)
    assert r.status_code == 200, r.text
