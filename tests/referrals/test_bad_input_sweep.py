"""Every field of every write, replaced by hostile values: a problem document, never a 5xx."""

from __future__ import annotations

from typing import Any

from fdhelpers import FrontDoor, child_body, contact_body, decision_body

HOSTILE: list[Any] = [
    None,
    "",
    "a\x00b",
    "x" * 5000,
    -1,
    10**30,
    1.5,
    True,
    [],
    {},
    ["\x00"],
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59+00:00",
    "9999-12-31T23:59:59-14:00",  # in range as written, past year 9999 in UTC
    "2026-13-40",
]


async def _sweep(fd: FrontDoor, method: str, url: str, body: dict, headers: dict) -> list[str]:
    failures = []
    cases: list[tuple[str, dict]] = []
    for field in body:
        for value in HOSTILE:
            cases.append((field, {**body, field: value}))
    for parent in ("referrer", "consent"):
        if isinstance(body.get(parent), dict):
            for field in body[parent]:
                for value in ("a\x00b", "x" * 5000, None, 12):
                    cases.append((f"{parent}.{field}", {**body, parent: {**body[parent], field: value}}))
    for field, mutated in cases:
        r = await fd.client.request(method, url, json=mutated, headers=headers)
        if r.status_code >= 500 or r.status_code not in (200, 201, 404, 409, 412, 422):
            failures.append(f"{method} {url} {field}={mutated[field]!r:.40}: {r.status_code} {r.text[:200]}")
        elif r.status_code == 422 and not r.json().get("invalid-params"):
            failures.append(f"{method} {url} {field}: 422 without invalid-params")
        elif not r.headers["content-type"].startswith(("application/json", "application/problem+json")):
            failures.append(f"{method} {url} {field}: content-type {r.headers['content-type']}")
    return failures


async def test_hostile_values_never_cause_a_server_error(fd: FrontDoor):
    await fd.team("FD-WEST")
    await fd.team("FD-EAST", area="East")
    child = await fd.child()
    contact = await fd.contact(child["id"], received_at="2026-01-05T10:00:00+00:00", backdating_reason="old")
    decision = await fd.decide(contact["id"], late_reason="Synthetic: decided long after receipt.")
    jid = contact["journey_id"]
    failures: list[str] = []
    failures += await _sweep(fd, "POST", "/children", child_body(), fd.pract)
    failures += await _sweep(
        fd,
        "PATCH",
        f"/children/{child['id']}",
        {"family_name": "New", "reason": "r"},
        {**fd.pract, "If-Match": "*"},
    )
    failures += await _sweep(fd, "POST", "/contacts", contact_body([child["id"]]), fd.pract)
    failures += await _sweep(fd, "POST", f"/contacts/{contact['id']}/decisions", decision_body(), fd.pract)
    failures += await _sweep(
        fd,
        "POST",
        f"/decisions/{decision['id']}/supersede",
        {"decision": decision_body(), "reason": "other", "note": "n"},
        fd.pract,
    )
    failures += await _sweep(
        fd,
        "POST",
        f"/contacts/{contact['id']}/referrer-feedback",
        {"kind": "acknowledgement", "sent_at": "2026-01-05T11:00:00+00:00"},
        fd.pract,
    )
    failures += await _sweep(
        fd,
        "POST",
        "/teams",
        {"id": "FD-X", "name": "X", "area": "West", "service_type": "front_door"},
        fd.mgr,
    )
    # The journey moves between teams as values are accepted (a team the /teams sweep registered,
    # say): an admin, bound to no team, may act on it wherever it is.
    failures += await _sweep(
        fd, "POST", f"/journeys/{jid}/allocation", {"team_id": "FD-WEST", "worker_id": "w1"}, fd.admin
    )
    failures += await _sweep(
        fd,
        "POST",
        f"/journeys/{jid}/transfers",
        {"team_id": "FD-EAST", "worker_id": "w2", "reason": "MANAGE"},
        fd.admin,
    )
    failures += await _sweep(fd, "POST", f"/journeys/{jid}/closure", {"reason": "FD_NFA"}, fd.admin)
    assert failures == []


async def test_hostile_query_strings_never_cause_a_server_error(fd: FrontDoor):
    urls = [
        "/children/search?family_name=a%00b&date_of_birth=2015-03-04",
        "/children/search?nhs_number=%00",
        "/children/search?family_name=x&date_of_birth=0001-01-01",
        "/journeys?team_id=A%00B",
        "/journeys?child_id=not-a-uuid",
        "/teams?area=%00",
        "/worklists/contacts-awaiting-decision?team_id=%00",
        "/worklists/contacts-awaiting-decision?limit=100000",
        "/worklists/decisions-awaiting-authorisation?offset=-1",
        "/children/not-a-uuid",
        "/partner/contacts?since=0001-01-01T00:00:00%2B05:00",
        "/partner/contacts?since=yesterday",
        "/partner/contacts?since=9999-12-31T23:59:59-14:00",
        "/teams?offset=100000000000000000000000",
        "/journeys?offset=100000000000000000000000",
    ]
    for url in urls:
        r = await fd.client.get(url, headers=fd.partner if url.startswith("/partner") else fd.pract)
        assert r.status_code in (200, 404, 422), (url, r.status_code, r.text)


def test_text_refuses_exactly_the_control_characters_but_tab_and_line_breaks() -> None:
    from shared.types import no_control_characters

    refused = set()
    for code in range(256):
        try:
            no_control_characters(f"before{chr(code)}after")
        except ValueError:
            refused.add(code)
    assert refused == set(range(32)) - {ord("\t"), ord("\n"), ord("\r")}
