"""The conversion control bands: per contact source and London month, the NFA, information and
advice, and contact-to-referral rates, with the mean and ±SD band of each rate over the range's
months, checked against figures worked by hand from a small synthetic set of contacts."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from dbutil import statements_sent
from reporting_kit import contact, decision, utc

PATH = "/reports/conversion/control-bands"
HALF_YEAR = {"from": "2024-01-01", "to": "2024-06-30"}
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]

# Each source's contacts per month of 2024, by current outcome (None: not decided yet).
CONTACTS: dict[str, dict[int, list[str | None]]] = {
    # Police: an NFA a month, then two referrals in June, which lie outside both bands.
    "1A": {1: ["NFA"], 2: ["NFA"], 3: ["NFA"], 4: ["NFA"], 5: ["NFA"], 6: ["CIN_ASSESSMENT"] * 2},
    # Schools: nothing in February or May.
    "2A": {
        1: ["NFA", "INFO_ADVICE"],
        3: ["INFO_ADVICE"],
        4: ["CIN_ASSESSMENT"],
        6: ["NFA", "NFA", "INFO_ADVICE", None],
    },
    # One month alone: no band.
    "8": {3: ["NFA"]},
}


async def seed(w) -> None:
    """Each contact a child of its own, received mid-month in office hours, decided at noon."""
    for source, months in CONTACTS.items():
        for month, outcomes in months.items():
            for i, outcome in enumerate(outcomes):
                child, journey, contact_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
                at = utc(2024, month, 10, 9, i)
                await w.ref(journey, contact(contact_id, child, at, source), at)
                if outcome is not None:
                    decided = utc(2024, month, 10, 12, i)
                    await w.ref(journey, decision(uuid.uuid4(), contact_id, child, outcome, decided), decided)
    await w.catch_up("referrals")


async def bands(w, token, **params: str) -> dict:
    r = await w.reporting.get(PATH, params={**HALF_YEAR, **params}, headers=token("analyst"))
    assert r.status_code == 200, r.text
    return r.json()


def column(series: dict, name: str) -> list:
    return [m[name] for m in series["months"]]


async def test_the_monthly_rates_and_their_bands_are_the_hand_computed_ones(world_factory, token):
    w = await world_factory()
    await seed(w)
    body = await bands(w, token)
    assert body["measure"] == "conversion-control-bands"
    assert (body["from_date"], body["to_date"], body["sd_multiple"]) == ("2024-01-01", "2024-06-30", 2)
    assert set(body["definitions"]) >= {"months", "rates", "band", "sd", "flag"}

    # The whole: every month's contacts of every source.
    whole = body["overall"]
    assert whole["group"] == "ALL"
    assert column(whole, "month") == MONTHS
    assert column(whole, "contacts") == [3, 1, 3, 2, 1, 6]
    assert column(whole, "nfa") == [2, 1, 2, 1, 1, 2]
    assert column(whole, "info_advice") == [1, 0, 1, 0, 0, 1]
    assert column(whole, "referrals") == [0, 0, 0, 1, 0, 2]
    assert column(whole, "pct_nfa") == [66.67, 100.0, 66.67, 50.0, 100.0, 33.33]
    assert column(whole, "pct_info_advice") == [33.33, 0.0, 33.33, 0.0, 0.0, 16.67]
    assert column(whole, "pct_contacts_to_referral") == [0.0, 0.0, 0.0, 50.0, 0.0, 33.33]
    # The mean is of the monthly rates as given: 416.67 / 6 = 69.445, 69.45 (the exact rates' mean
    # is 69.44). Sample SD: sqrt(sum of squared deviations / 5) = 26.7021; 69.445 - 53.4043 = 16.04;
    # 69.445 + 53.40 is over 100, so 100.
    assert whole["pct_nfa"] == {"months": 6, "mean": 69.45, "sd": 26.7, "lower": 16.04, "upper": 100.0}
    # 83.33 / 6 = 13.888..., SD 16.39: lower 13.89 - 32.78 < 0, so 0.
    assert whole["pct_info_advice"] == {"months": 6, "mean": 13.89, "sd": 16.39, "lower": 0.0, "upper": 46.66}
    assert whole["pct_contacts_to_referral"] == {
        "months": 6,
        "mean": 13.89,
        "sd": 22.15,
        "lower": 0.0,
        "upper": 58.19,
    }
    assert set(column(whole, "pct_nfa_flag")) == {"within"}

    groups = {g["group"]: g for g in body["groups"]}
    assert list(groups) == ["1A", "2A", "8"]  # the sources with contacts in range, in order

    # Police: five months of 100% NFA, then 0%; five of no referral, then 100%.
    police = groups["1A"]
    assert column(police, "contacts") == [1, 1, 1, 1, 1, 2]
    assert column(police, "pct_nfa") == [100.0] * 5 + [0.0]
    # mean 500/6 = 83.33; sample SD 100/sqrt(6) = 40.82 (the population's would be 37.27);
    # 83.333 - 81.650 = 1.68.
    assert police["pct_nfa"] == {"months": 6, "mean": 83.33, "sd": 40.82, "lower": 1.68, "upper": 100.0}
    assert column(police, "pct_nfa_flag") == ["within"] * 5 + ["below"]
    assert police["pct_contacts_to_referral"] == {
        "months": 6,
        "mean": 16.67,
        "sd": 40.82,
        "lower": 0.0,
        "upper": 98.32,
    }
    assert column(police, "pct_contacts_to_referral_flag") == ["within"] * 5 + ["above"]
    # Never information and advice: no spread, a band of 0 to 0, and 0 within it.
    assert police["pct_info_advice"] == {"months": 6, "mean": 0.0, "sd": 0.0, "lower": 0.0, "upper": 0.0}
    assert column(police, "pct_info_advice_flag") == ["within"] * 6

    # Schools: no contacts in February and May, so no rate and no flag, and not in the band.
    schools = groups["2A"]
    assert column(schools, "month") == MONTHS
    assert column(schools, "contacts") == [2, 0, 1, 1, 0, 4]
    assert column(schools, "pct_nfa") == [
        50.0,
        None,
        0.0,
        0.0,
        None,
        50.0,
    ]  # 2 of 4 in June: undecided counts
    assert column(schools, "pct_info_advice") == [50.0, None, 100.0, 0.0, None, 25.0]
    assert column(schools, "pct_contacts_to_referral") == [0.0, None, 0.0, 100.0, None, 0.0]
    for rate in ("pct_nfa", "pct_info_advice", "pct_contacts_to_referral"):
        flags = column(schools, f"{rate}_flag")
        assert flags[1] is None and flags[4] is None
        assert schools[rate]["months"] == 4
    # Four months: mean 25, sample SD sqrt(4 x 625 / 3) = 28.87.
    assert schools["pct_nfa"] == {"months": 4, "mean": 25.0, "sd": 28.87, "lower": 0.0, "upper": 82.74}
    assert schools["pct_info_advice"] == {
        "months": 4,
        "mean": 43.75,
        "sd": 42.7,
        "lower": 0.0,
        "upper": 100.0,
    }
    # The upper limit is capped at 100: April's 100% is within it, not above.
    assert schools["pct_contacts_to_referral"] == {
        "months": 4,
        "mean": 25.0,
        "sd": 50.0,
        "lower": 0.0,
        "upper": 100.0,
    }
    assert column(schools, "pct_contacts_to_referral_flag") == [
        "within",
        None,
        "within",
        "within",
        None,
        "within",
    ]

    # One month with a rate: its mean, but no SD, band or flag.
    one = groups["8"]
    assert column(one, "contacts") == [0, 0, 1, 0, 0, 0]
    assert one["pct_nfa"] == {"months": 1, "mean": 100.0, "sd": None, "lower": None, "upper": None}
    assert column(one, "pct_nfa_flag") == [None] * 6


async def test_the_band_spans_the_multiple_of_the_sd_asked_for(world_factory, token):
    w = await world_factory()
    await seed(w)
    body = await bands(w, token, sd="1")
    assert body["sd_multiple"] == 1
    whole = body["overall"]
    # 13.89 +- 22.15: April's 50% referrals is above.
    assert whole["pct_contacts_to_referral"] == {
        "months": 6,
        "mean": 13.89,
        "sd": 22.15,
        "lower": 0.0,
        "upper": 36.04,
    }
    assert column(whole, "pct_contacts_to_referral_flag") == ["within"] * 3 + ["above", "within", "within"]
    schools = {g["group"]: g for g in body["groups"]}["2A"]
    # 43.75 +- 42.70: March's 100% above, April's 0% below.
    assert schools["pct_info_advice"] == {
        "months": 4,
        "mean": 43.75,
        "sd": 42.7,
        "lower": 1.05,
        "upper": 86.45,
    }
    assert column(schools, "pct_info_advice_flag") == ["within", None, "above", "below", None, "within"]
    # The SD is the same whatever the multiple: only the limits move.
    assert (await bands(w, token, sd="2.5"))["overall"]["pct_contacts_to_referral"]["sd"] == 22.15


async def test_the_bands_read_the_kept_months_not_the_days_nor_the_contacts(world_factory, token):
    """The range is whole months: the counts kept per month are read, and no day's or contact's row."""
    w = await world_factory()
    await seed(w)
    with statements_sent(w.reporting.app.state.service.db.engine) as sent:
        await bands(w, token)
    assert sent and not [s for s in sent if re.search(r"\brpt_contacts\b|\brpt_contact_days\b", s)]
    assert [s for s in sent if "rpt_contact_months" in s]


async def test_a_range_without_contacts_lists_its_months_empty(world_factory, token):
    w = await world_factory()
    await seed(w)
    body = await bands(w, token, **{"from": "2023-11-01", "to": "2023-12-31"})
    assert body["groups"] == []
    whole = body["overall"]
    assert column(whole, "month") == ["2023-11", "2023-12"]
    assert column(whole, "contacts") == [0, 0]
    assert column(whole, "pct_nfa") == [None, None]
    assert column(whole, "pct_nfa_flag") == [None, None]
    assert whole["pct_nfa"] == {"months": 0, "mean": None, "sd": None, "lower": None, "upper": None}


async def test_the_csv_is_a_line_per_source_and_month(world_factory, token):
    w = await world_factory()
    await seed(w)
    r = await w.reporting.get(PATH, params=HALF_YEAR, headers={**token("analyst"), "Accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.endswith("\r\n") and "\n" not in r.text.replace("\r\n", "")  # RFC 4180
    rows = list(csv.DictReader(io.StringIO(r.text)))
    figures = ["contacts", "nfa", "info_advice", "referrals"]
    bands_of = [
        f"{rate}{part}"
        for rate in ("pct_nfa", "pct_info_advice", "pct_contacts_to_referral")
        for part in ("", "_mean", "_sd", "_lower", "_upper", "_flag")
    ]
    assert list(rows[0]) == ["group", "month", *figures, *bands_of]
    # ALL first, then each source, each with every month of the range.
    assert [(x["group"], x["month"]) for x in rows] == [
        (g, m) for g in ("ALL", "1A", "2A", "8") for m in MONTHS
    ]
    june = rows[MONTHS.index("2024-06") + 6]  # the police's June
    assert june["group"] == "1A" and june["contacts"] == "2"
    assert (june["pct_contacts_to_referral"], june["pct_contacts_to_referral_upper"]) == ("100.0", "98.32")
    assert june["pct_contacts_to_referral_flag"] == "above"
    assert (june["pct_nfa"], june["pct_nfa_lower"], june["pct_nfa_flag"]) == ("0.0", "1.68", "below")
    february = rows[MONTHS.index("2024-02") + 12]  # the schools' February: blank, no contacts
    assert (february["group"], february["contacts"], february["pct_nfa"], february["pct_nfa_flag"]) == (
        "2A",
        "0",
        "",
        "",
    )
    assert february["pct_nfa_mean"] == "25.0"  # the band is the series', on each of its lines


async def test_each_read_is_audited(world_factory, token):
    w = await world_factory()
    await bands(w, token)
    r = await w.reporting.get("/audit", headers=token("admin"))
    assert r.status_code == 200, r.text
    assert any(
        e["resource"] == "report" and e["resource_id"] == "conversion-control-bands"
        for e in r.json()["items"]
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2024-01-02", "to": "2024-06-30"}, "from"),  # not the first of a month
        ({"from": "2024-01-01", "to": "2024-06-29"}, "to"),  # not the last day of one
        ({"from": "2024-01-01", "to": "2024-02-28"}, "to"),  # 2024 is a leap year
        ({"from": "2024-07-01", "to": "2024-06-30"}, "from"),  # starts after it ends
        ({"from": "2000-01-01", "to": "2099-12-31"}, "to"),  # 1,200 months: over 600
        ({"from": "2024-01-01", "to": "9999-12-31"}, "to"),
        ({"to": "2024-06-30"}, "from"),
        ({**HALF_YEAR, "sd": "0.5"}, "sd"),
        ({**HALF_YEAR, "sd": "3.5"}, "sd"),
        ({**HALF_YEAR, "sd": "nan"}, "sd"),
        ({**HALF_YEAR, "sd": "two"}, "sd"),
        ({**HALF_YEAR, "group_by": "month"}, None),  # no grouping to choose: ignored, as any unknown
    ],
)
async def test_bad_ranges_and_multiples_are_problems_naming_the_field(world_factory, token, params, field):
    w = await world_factory()
    r = await w.reporting.get(PATH, params=params, headers=token("analyst"))
    if field is None:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [p["name"] for p in r.json()["invalid-params"]] == [field]


async def test_a_range_of_600_whole_months_is_answered(world_factory, token):
    w = await world_factory()
    r = await w.reporting.get(
        PATH, params={"from": "2000-01-01", "to": "2049-12-31"}, headers=token("analyst")
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["overall"]["months"]) == 600


async def test_the_parameters_are_documented(world_factory):
    w = await world_factory()
    schema = (await w.reporting.get("/openapi.json")).json()
    params = {p["name"]: p for p in schema["paths"][PATH]["get"]["parameters"]}
    assert set(params) == {"from", "to", "sd"}
    assert all(p["description"] for p in params.values())
    sd = params["sd"]["schema"]
    assert (sd["default"], sd["minimum"], sd["maximum"]) == (2, 1, 3)
