"""Children: identity rules, duplicate search, and corrections kept as history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fdhelpers import VALID_NHS, FrontDoor, child_body, contact_body

from services.referrals.children.models import Child
from shared.db import new_record
from shared.types import utcnow
from shared.working_days import london_date


def names(problem: dict) -> list[str]:
    return [p["name"] for p in problem.get("invalid-params", [])]


async def test_create_and_read_child_with_etag(fd: FrontDoor):
    r = await fd.client.post("/children", json=child_body(nhs_number="943 476 5919"), headers=fd.pract)
    assert r.status_code == 201, r.text
    child = r.json()
    assert child["nhs_number"] == VALID_NHS
    assert child["postcode"] == "SW1A 1AA"  # canonical form of "sw1a 1aa"
    assert child["unborn"] is False and child["version"] == 1
    r = await fd.client.get(f"/children/{child['id']}", headers=fd.pract)
    assert r.status_code == 200 and r.json()["family_name"] == "Testchild"
    assert r.headers["ETag"].startswith('"')


async def test_a_child_with_an_nhs_number_on_record_is_refused_naming_that_child(fd: FrontDoor):
    # One person, one record: the caller is told which child it is, to record the contact for them.
    existing = await fd.child(nhs_number=VALID_NHS)
    r = await fd.client.post(
        "/children", json=child_body(given_name="Adah", nhs_number="943-476-5919"), headers=fd.pract
    )
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "child_on_record" and names(problem) == ["nhs_number"]
    assert problem["child_id"] == existing["id"]
    found = await fd.client.get("/children/search", params={"nhs_number": VALID_NHS}, headers=fd.pract)
    assert [m["child"]["id"] for m in found.json()["items"]] == [existing["id"]]
    # Without an NHS number nothing says it is the same person: a record is made (search first).
    assert (await fd.client.post("/children", json=child_body(), headers=fd.pract)).status_code == 201


async def test_a_correction_to_an_nhs_number_on_another_childs_record_is_refused(fd: FrontDoor):
    # One person, one record: a correction no more makes two records of one number than a creation.
    existing = await fd.child(nhs_number=VALID_NHS)
    other = await fd.child(given_name="Bea", nhs_number="4010232137")
    url = f"/children/{other['id']}"
    etag = (await fd.client.get(url, headers=fd.pract)).headers["ETag"]
    h = {**fd.pract, "If-Match": etag}
    r = await fd.client.patch(url, json={"nhs_number": "943 476 5919", "reason": "Typo"}, headers=h)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "child_on_record" and names(problem) == ["nhs_number"]
    assert problem["child_id"] == existing["id"]
    found = await fd.client.get("/children/search", params={"nhs_number": VALID_NHS}, headers=fd.pract)
    assert [m["child"]["id"] for m in found.json()["items"]] == [existing["id"]]
    assert (await fd.client.get(url, headers=fd.pract)).json()["version"] == 1
    # The child's own number again, with another change, is no conflict; nor is removing it.
    r = await fd.client.patch(
        url, json={"nhs_number": "4010232137", "sex": "M", "reason": "Confirmed"}, headers=h
    )
    assert r.status_code == 200 and r.json()["nhs_number"] == "4010232137", r.text
    r = await fd.client.patch(
        url,
        json={"nhs_number": None, "reason": "Not hers"},
        headers={**fd.pract, "If-Match": r.headers["ETag"]},
    )
    assert r.status_code == 200 and r.json()["nhs_number"] is None, r.text
    # A number on no other record may be set.
    r = await fd.client.patch(
        url,
        json={"nhs_number": "4010232137", "reason": "Found"},
        headers={**fd.pract, "If-Match": r.headers["ETag"]},
    )
    assert r.status_code == 200, r.text


async def test_a_child_built_by_new_record_is_stored_whole_by_an_orm_flush(fd: FrontDoor):
    # The intake inserts such records itself (`insert_new`); a plain `session.add` must work too.
    child = new_record(
        Child,
        given_name="Bo",
        family_name="Testchild",
        given_name_key="bo",
        family_name_key="testchild",
        date_of_birth=date(2019, 5, 6),
        sex="M",
        ethnicity="NOBT",
        created_by="p1",
    )
    async with fd.client.app.state.db.unit_of_work() as session:  # type: ignore[attr-defined]
        session.add(child)
    r = await fd.client.get(f"/children/{child.id}", headers=fd.pract)
    assert r.status_code == 200, r.text
    stored = r.json()
    assert (stored["given_name"], stored["date_of_birth"], stored["version"]) == ("Bo", "2019-05-06", 1)


async def test_unborn_child_has_only_expected_date(fd: FrontDoor):
    due = (date.today() + timedelta(days=60)).isoformat()
    child = await fd.child(date_of_birth=None, expected_date_of_birth=due)
    assert child["unborn"] is True and child["expected_date_of_birth"] == due


async def post_on_one_london_day(fd: FrontDoor, path: str, body_of: Callable[[date], dict]) -> Any:
    """POST a body built from today's London date, again if the day turned meanwhile: the service
    judges it against its own today, and a boundary case built the day before is not one (a CI run
    at midnight UTC got 201 for a date a year and a day back)."""
    for _ in range(2):
        today = london_date(utcnow())
        r = await fd.client.post(path, json=body_of(today), headers=fd.pract)
        if london_date(utcnow()) == today:
            return r
    raise AssertionError("the London day turned during both requests")


@pytest.mark.parametrize(("days", "accepted"), [(300, True), (301, False), (-365, True), (-366, False)])
async def test_an_expected_date_of_birth_is_plausible_when_recorded(fd: FrontDoor, days: int, accepted: bool):
    """No pregnancy runs past about 43 weeks, and a child expected over a year ago is born (1950 and
    9999 were accepted)."""

    def child_due(today: date) -> dict:
        return child_body(
            date_of_birth=None, expected_date_of_birth=(today + timedelta(days=days)).isoformat()
        )

    r = await post_on_one_london_day(fd, "/children", child_due)
    if accepted:
        assert r.status_code == 201, r.text
        return
    assert r.status_code == 422 and r.json()["code"] == "expected_birth_implausible", r.text
    assert names(r.json()) == ["expected_date_of_birth"]

    # Named where it is, in a contact, too: received now, so judged as of today (a contact's child is
    # judged as of its receipt, and the helpers' half an hour ago is yesterday just after midnight).
    def contact_due(today: date) -> dict:
        return contact_body(received_at=utcnow().isoformat(), new_children=[child_due(today)])

    r = await post_on_one_london_day(fd, "/contacts", contact_due)
    assert r.status_code == 422 and names(r.json()) == ["new_children.0.expected_date_of_birth"], r.text


async def test_an_unborn_child_of_a_backdated_contact_is_judged_as_of_its_receipt(fd: FrontDoor):
    received = utcnow() - timedelta(days=500)
    due = (london_date(received) + timedelta(days=200)).isoformat()  # over a year before today
    body = contact_body(
        new_children=[child_body(date_of_birth=None, expected_date_of_birth=due)],
        received_at=received.isoformat(),
        backdating_reason="Paper record entered late",
    )
    r = await fd.client.post("/contacts", json=body, headers=fd.pract)
    assert r.status_code == 201, r.text


async def test_a_child_born_today_in_london_is_accepted(fd: FrontDoor):
    today = london_date(utcnow()).isoformat()
    r = await fd.client.post("/children", json=child_body(date_of_birth=today), headers=fd.pract)
    assert r.status_code == 201, r.text


TOMORROW = object()


def london_tomorrow() -> str:
    return (london_date(utcnow()) + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"date_of_birth": None}, "date_of_birth"),  # neither date
        ({"expected_date_of_birth": TOMORROW}, "date_of_birth"),  # both dates
        ({"date_of_birth": TOMORROW}, "date_of_birth"),
        ({"nhs_number": "9434765918"}, "nhs_number"),  # wrong check digit
        ({"nhs_number": "943476591"}, "nhs_number"),  # 9 digits
        ({"nhs_number": "943476591X"}, "nhs_number"),
        # Ten digits, but not ASCII ones: stored so, no search by the number would find the child.
        ({"nhs_number": "\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19"}, "nhs_number"),
        ({"nhs_number": "\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669"}, "nhs_number"),
        ({"postcode": "NOT A POSTCODE"}, "postcode"),
        ({"sex": "X"}, "sex"),
        ({"ethnicity": "ZZZZ"}, "ethnicity"),
        ({"given_name": ""}, "given_name"),
        ({"family_name": "x" * 101}, "family_name"),
        ({"date_of_birth": "2015-02-30"}, "date_of_birth"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
async def test_bad_child_details_are_refused_naming_the_field(fd: FrontDoor, over: dict, field: str):
    # Tomorrow is worked out as the test runs: worked out at collection, it was today by a run
    # that crossed midnight (CI did).
    over = {k: london_tomorrow() if v is TOMORROW else v for k, v in over.items()}
    r = await fd.client.post("/children", json=child_body(**over), headers=fd.pract)
    assert r.status_code == 422, r.text
    assert field in names(r.json())


async def test_nhs_number_whose_check_digit_would_be_10_is_invalid(fd: FrontDoor):
    # 000000001x: weights give 1*2 = 2, 11 - 2 = 9 -> valid with 9; 000000006x: 6*2 = 12, 12 % 11 = 1,
    # 11 - 1 = 10 -> no valid check digit exists, so every 000000006x is refused.
    assert (
        await fd.client.post("/children", json=child_body(nhs_number="0000000019"), headers=fd.pract)
    ).status_code == 201
    for last in "0123456789":
        r = await fd.client.post(
            "/children", json=child_body(nhs_number="000000006" + last), headers=fd.pract
        )
        assert r.status_code == 422, last


async def test_unknown_child_is_404(fd: FrontDoor):
    r = await fd.client.get("/children/00000000-0000-0000-0000-000000000000", headers=fd.pract)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_search_by_name_and_birth_date_ignores_case_and_order(fd: FrontDoor):
    ada = await fd.child(given_name="Ada", family_name="Testchild")
    await fd.child(given_name="Ada", family_name="Testchild", date_of_birth="2016-01-01")  # other date
    await fd.child(given_name="Bea", family_name="Otherchild")
    for given, family in (("ada", "TESTCHILD"), ("Testchild", "Ada")):
        r = await fd.client.get(
            "/children/search",
            params={"given_name": given, "family_name": family, "date_of_birth": "2015-03-04"},
            headers=fd.pract,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 1
        assert body["items"][0]["child"]["id"] == ada["id"]
        assert body["items"][0]["matched_on"] == "name_and_date_of_birth"


NFC, NFD = "Jos\u00e9", "Jose\u0301"  # one name, typed with é precomposed or with a combining accent


async def _found(fd: FrontDoor, given: str, family: str) -> list[str]:
    r = await fd.client.get(
        "/children/search",
        params={"given_name": given, "family_name": family, "date_of_birth": "2015-03-04"},
        headers=fd.pract,
    )
    assert r.status_code == 200, r.text
    return [m["child"]["id"] for m in r.json()["items"]]


@pytest.mark.parametrize(
    ("stored", "searched"),
    [
        ((NFC, "Testchild"), (NFD, "testchild")),
        ((NFD, "Testchild"), ("JOS\u00c9", "TESTCHILD")),
        (("Ada", "Strau\u00df"), ("ada", "STRAUSS")),
        (("Ada", "Testchild"), ("\uff21\uff44\uff41", "Testchild")),  # full-width letters
    ],
)
async def test_search_matches_a_name_in_any_unicode_form_or_case(fd: FrontDoor, stored, searched):
    """Duplicate search must not miss a child because a name was typed in another Unicode form."""
    child = await fd.child(given_name=stored[0], family_name=stored[1])
    await fd.child(given_name="Jose", family_name=stored[1])  # no accent: another name
    assert await _found(fd, *searched) == [child["id"]]


async def test_a_name_is_stored_composed_and_the_same_name_is_no_correction(fd: FrontDoor):
    child = await fd.child(given_name=NFD)
    assert child["given_name"] == NFC
    url = f"/children/{child['id']}"
    etag = (await fd.client.get(url, headers=fd.pract)).headers["ETag"]
    r = await fd.client.patch(
        url, json={"given_name": NFD, "reason": "Retyped"}, headers={**fd.pract, "If-Match": etag}
    )
    assert r.status_code == 422 and r.json()["code"] == "nothing_to_correct"


async def test_a_name_that_case_folding_lengthens_is_stored_and_found(fd: FrontDoor):
    """'ß' folds to 'ss': a 100-character name has a 200-character key (a 500 on PostgreSQL before)."""
    long_name = "\u00df" * 100
    child = await fd.child(family_name=long_name)
    assert await _found(fd, "Ada", "\u1e9e" * 100) == [child["id"]]  # capital sharp s
    etag = (await fd.client.get(f"/children/{child['id']}", headers=fd.pract)).headers["ETag"]
    r = await fd.client.patch(
        f"/children/{child['id']}",
        json={"given_name": long_name, "reason": "Confirmed"},
        headers={**fd.pract, "If-Match": etag},
    )
    assert r.status_code == 200, r.text


async def test_a_100_character_name_typed_decomposed_is_found(fd: FrontDoor):
    """Each é typed as e and a combining accent: 200 code points for a 100-character name (was a 422)."""
    child = await fd.child(family_name=NFC * 25)  # NFC is 4 characters, NFD 5
    assert len(child["family_name"]) == 100
    assert await _found(fd, "Ada", NFD * 25) == [child["id"]]


async def test_a_name_longer_than_100_once_composed_is_refused_with_its_field(fd: FrontDoor):
    # U+0958 stays decomposed in NFC (a composition exclusion): 100 characters become 200.
    r = await fd.client.post("/children", json=child_body(given_name="\u0958" * 100), headers=fd.pract)
    assert r.status_code == 422, r.text
    assert "given_name" in names(r.json())


@pytest.mark.parametrize("written", [VALID_NHS, "943 476 5919", "943-476-5919"])
async def test_search_by_nhs_number(fd: FrontDoor, written: str):
    """Searched for written as a child's record accepts it: with spaces or hyphens."""
    child = await fd.child(nhs_number=written)
    await fd.child(given_name="Other")
    r = await fd.client.get("/children/search", params={"nhs_number": written}, headers=fd.pract)
    assert r.status_code == 200, r.text
    assert [m["child"]["id"] for m in r.json()["items"]] == [child["id"]]
    assert r.json()["items"][0]["matched_on"] == "nhs_number"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "date_of_birth"),
        ({"date_of_birth": "2015-03-04"}, "family_name"),
        ({"nhs_number": "1234567890"}, "nhs_number"),
        ({"nhs_number": "\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19"}, "nhs_number"),
        ({"family_name": "x", "date_of_birth": "not-a-date"}, "date_of_birth"),
    ],
)
async def test_search_needs_usable_criteria(fd: FrontDoor, params: dict, field: str):
    r = await fd.client.get("/children/search", params=params, headers=fd.pract)
    assert r.status_code == 422
    assert field in names(r.json())


async def test_correction_needs_if_match_and_reason_and_keeps_history(fd: FrontDoor):
    child = await fd.child()
    url = f"/children/{child['id']}"
    etag = (await fd.client.get(url, headers=fd.pract)).headers["ETag"]

    r = await fd.client.patch(url, json={"family_name": "Newname", "reason": "Typo"}, headers=fd.pract)
    assert r.status_code == 428
    r = await fd.client.patch(
        url, json={"family_name": "Newname", "reason": "Typo"}, headers={**fd.pract, "If-Match": '"stale"'}
    )
    assert r.status_code == 412
    r = await fd.client.patch(url, json={"family_name": "Newname"}, headers={**fd.pract, "If-Match": etag})
    assert r.status_code == 422 and "reason" in names(r.json())

    r = await fd.client.patch(
        url,
        json={"family_name": "Newname", "sex": "U", "reason": "Spelling confirmed by school"},
        headers={**fd.pract, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.json()["family_name"] == "Newname" and r.json()["version"] == 2
    assert r.headers["ETag"] != etag
    # The old ETag is now stale.
    r2 = await fd.client.patch(url, json={"sex": "M", "reason": "x"}, headers={**fd.pract, "If-Match": etag})
    assert r2.status_code == 412

    r = await fd.client.get(f"{url}/corrections", headers=fd.pract)
    assert r.status_code == 200
    rows = {c["field"]: c for c in r.json()["items"]}
    assert set(rows) == {"family_name", "sex"}
    assert rows["family_name"]["old"] == "Testchild" and rows["family_name"]["new"] == "Newname"
    assert rows["sex"]["old"] == "F" and rows["sex"]["new"] == "U"
    assert rows["sex"]["by"] == "p1" and rows["sex"]["reason"] == "Spelling confirmed by school"

    # The search finds the child under the corrected name.
    r = await fd.client.get(
        "/children/search",
        params={"family_name": "newname", "date_of_birth": "2015-03-04"},
        headers=fd.pract,
    )
    assert r.json()["total"] == 1

    audit = await fd.client.get("/audit", params={"child_id": child["id"]}, headers=fd.admin)
    corrections = [a for a in audit.json()["items"] if a["action"] == "correct"]
    assert len(corrections) == 1 and "Spelling confirmed by school" in corrections[0]["reason"]


async def test_correction_rules(fd: FrontDoor):
    child = await fd.child()
    url = f"/children/{child['id']}"
    etag = (await fd.client.get(url, headers=fd.pract)).headers["ETag"]
    h = {**fd.pract, "If-Match": etag}
    # Nothing changes.
    r = await fd.client.patch(url, json={"reason": "none"}, headers=h)
    assert r.status_code == 422
    r = await fd.client.patch(url, json={"sex": "F", "reason": "same"}, headers=h)
    assert r.status_code == 422
    due = (london_date(utcnow()) + timedelta(days=90)).isoformat()
    # Both birth dates would be set.
    r = await fd.client.patch(url, json={"expected_date_of_birth": due, "reason": "x"}, headers=h)
    assert r.status_code == 422 and "date_of_birth" in names(r.json())
    # A required name cannot be removed.
    r = await fd.client.patch(url, json={"given_name": None, "reason": "x"}, headers=h)
    assert r.status_code == 422 and "given_name" in names(r.json())
    # Bad values are refused as on creation.
    r = await fd.client.patch(url, json={"nhs_number": "9434765918", "reason": "x"}, headers=h)
    assert r.status_code == 422 and "nhs_number" in names(r.json())
    # An expected date no pregnancy reaches is refused as on creation.
    far = (london_date(utcnow()) + timedelta(days=400)).isoformat()
    r = await fd.client.patch(
        url, json={"date_of_birth": None, "expected_date_of_birth": far, "reason": "x"}, headers=h
    )
    assert r.status_code == 422 and names(r.json()) == ["expected_date_of_birth"]
    # Swapping a date of birth for an expected one is a valid correction.
    r = await fd.client.patch(
        url,
        json={"date_of_birth": None, "expected_date_of_birth": due, "reason": "unborn"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["unborn"] is True


async def test_a_replayed_child_creation_has_the_first_etag_and_is_audited_as_a_read(fd: FrontDoor):
    h = {**fd.pract, "Idempotency-Key": "child-1"}
    first = await fd.client.post("/children", json=child_body(given_name="Etag"), headers=h)
    again = await fd.client.post("/children", json=child_body(given_name="Etag"), headers=h)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    child = first.json()
    read = await fd.client.get(f"/children/{child['id']}", headers=fd.pract)
    # The replay names the same version as the first answer, which a read of the record confirms.
    assert again.headers["ETag"] == first.headers["ETag"] == read.headers["ETag"]
    assert again.json() == child
    audit = await fd.client.get("/audit", params={"child_id": child["id"]}, headers=fd.admin)
    rows = [(a["action"], a["reason"] or "") for a in audit.json()["items"] if a["resource"] == "child"]
    assert sorted(rows) == [
        ("create", ""),
        ("read", ""),  # the GET above
        ("read", "idempotent replay"),
    ]
