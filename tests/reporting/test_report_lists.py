"""The reports' lists (awaiting queue, per-journey handovers, overdue supervisions): `limit`, totals,
order, and figures of journeys still unallocated at the time of the request. Scenario and
calendar as in test_reports.py; figures worked out by hand."""

from __future__ import annotations

import pytest
from reporting_kit import C6, C7, J1, J2, J6, J7, J8, build_scenario, utc

from shared.types import now_is

ALL_TIME = {"from": "2022-01-01", "to": "2024-12-31"}


async def scenario(world_factory, **settings):
    w = await world_factory(**settings)
    await build_scenario(w)
    await w.catch_up("supervision", "referrals")
    return w


async def test_awaiting_queue_is_limited_and_counted(world_factory, token):
    w = await scenario(world_factory)
    # Mon 5 June 2023 10:30 BST: C7 (Thu 25 May 16:00 BST) and C6 (today 10:00 BST, decided 11:00).
    params = {**ALL_TIME, "as_of": "2023-06-05T09:30:00Z", "group_by": "source"}
    r = await w.reporting.get("/reports/awaiting-decision", params=params, headers=token("analyst"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["contact_id"] for c in body["contacts"]] == [str(C7), str(C6)]
    assert (body["contacts_total"], body["limit"]) == (2, 200)
    # C7: Thu 16-17 (1) + Fri 26 (8) + Tue 30 May to Fri 2 June (32; Mon 29 May bank holiday) + Mon
    # 09:00-10:30 (1.5) = 42.5 working hours; due Fri 26 May 17:00 -> breached. C6: 0.5, not breached.
    # Median of [0.5, 42.5] at rank ceil(0.5 x 2) = 1 -> 0.5.
    assert body["overall"] == {
        "group": "ALL",
        "waiting": 2,
        "breached": 1,
        "age_working_hours_median": 0.5,
        "age_working_hours_max": 42.5,
    }
    assert [
        (g["group"], g["waiting"], g["breached"], g["age_working_hours_median"]) for g in body["groups"]
    ] == [
        ("1A", 1, 1, 42.5),
        ("5D", 1, 0, 0.5),
    ]
    limited = await w.reporting.get(
        "/reports/awaiting-decision", params={**params, "limit": 1}, headers=token("analyst")
    )
    one = limited.json()
    assert [c["contact_id"] for c in one["contacts"]] == [str(C7)]
    assert (one["contacts_total"], one["limit"]) == (2, 1)
    # The figures cover the whole queue, whatever the limit.
    assert one["overall"] == body["overall"] and one["groups"] == body["groups"]
    csv_r = await w.reporting.get(
        "/reports/awaiting-decision",
        params={**params, "limit": 1},
        headers={**token("analyst"), "Accept": "text/csv"},
    )
    assert csv_r.text.count(str(C7)) == 1 and str(C6) not in csv_r.text


async def test_handovers_of_a_journey_still_unallocated_count_up_to_now(world_factory, token):
    w = await scenario(world_factory)
    params = {"from": "2023-05-01", "to": "2023-06-30", "group_by": "source"}
    # Tue 30 May 2023 10:00 BST. J7 (Thu 25 May 16:00 BST, never allocated, open): 114 h = 4.75 days;
    # working days (25 May, 30 May] = Fri 26 and Tue 30 (Mon 29 is a bank holiday) = 2.
    with now_is(utc(2023, 5, 30, 9)):
        r = await w.reporting.get("/reports/handovers", params=params, headers=token("analyst"))
    assert r.status_code == 200, r.text
    body = r.json()
    journeys = {j["journey_id"]: j for j in body["journeys"]}
    assert list(journeys) == [str(J1), str(J7), str(J6)]  # by first contact
    assert (journeys[str(J7)]["unallocated_days"], journeys[str(J7)]["unallocated_working_days"]) == (4.75, 2)
    assert (body["journeys_total"], body["limit"]) == (3, 200)
    o = body["overall"]
    # Hours 108.5 (J1), 114 (J7), 98 (J6): mean 320.5 / 3 / 24 = 4.45; median 108.5 h = 4.52; max 4.75.
    assert (o["unallocated_days_mean"], o["unallocated_days_median"], o["unallocated_days_max"]) == (
        4.45,
        4.52,
        4.75,
    )
    # Working days 2, 2, 4.
    assert (
        o["unallocated_working_days_mean"],
        o["unallocated_working_days_median"],
        o["unallocated_working_days_max"],
    ) == (2.67, 2, 4)
    groups = {g["group"]: g for g in body["groups"]}
    assert (groups["1A"]["unallocated_days_max"], groups["1A"]["unallocated_working_days_max"]) == (4.75, 2)
    # A day later (Wed 31 May 10:00 BST): 24 h and one working day more.
    with now_is(utc(2023, 5, 31, 9)):
        later = await w.reporting.get(
            "/reports/handovers", params={**params, "limit": 2}, headers=token("analyst")
        )
    body = later.json()
    assert [j["journey_id"] for j in body["journeys"]] == [str(J1), str(J7)]
    assert (body["journeys_total"], body["limit"]) == (3, 2)
    assert (body["journeys"][1]["unallocated_days"], body["journeys"][1]["unallocated_working_days"]) == (
        5.75,
        3,
    )
    assert (body["overall"]["unallocated_days_max"], body["overall"]["unallocated_working_days_max"]) == (
        5.75,
        4,
    )
    # Before the journey began, its open spell counts nothing (never negative).
    with now_is(utc(2023, 5, 1, 9)):
        early = await w.reporting.get("/reports/handovers", params=params, headers=token("analyst"))
    j7 = next(j for j in early.json()["journeys"] if j["journey_id"] == str(J7))
    assert (j7["unallocated_days"], j7["unallocated_working_days"]) == (0.0, 0)


@pytest.mark.parametrize(
    ("settings", "order", "days_overdue"),
    [
        # Early help falls back to the default 30 working days: J8 due Tue 13 Sept, after J2's
        # next_due_on (Wed 7 Sept). Overdue on Thu 29 Sept (Mon 19 Sept, the State Funeral, is no
        # working day): J2 (7, 29 Sept] = 15, J8 (13, 29 Sept] = 11.
        ({}, [J2, J8], {J2: 15, J8: 11}),
        # With 20 working days J8 is due Tue 30 Aug, before J2: (30 Aug, 29 Sept] = 21.
        ({"supervision_default_interval_working_days": 20}, [J8, J2], {J2: 15, J8: 21}),
    ],
)
async def test_overdue_list_is_ordered_by_due_date_limited_and_counted(
    world_factory, token, settings, order, days_overdue
):
    w = await scenario(world_factory, **settings)
    params = {"from": "2022-09-01", "to": "2022-09-29"}
    r = await w.reporting.get("/reports/supervision", params=params, headers=token("manager"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [o["journey_id"] for o in body["overdue"]] == [str(j) for j in order]
    assert {o["journey_id"]: o["working_days_overdue"] for o in body["overdue"]} == {
        str(j): n for j, n in days_overdue.items()
    }
    assert (body["overdue_total"], body["limit"]) == (2, 200)
    o = body["overall"]
    assert (o["open_journeys"], o["supervised"], o["overdue"], o["pct_within_interval"]) == (2, 1, 2, 0.0)
    limited = await w.reporting.get(
        "/reports/supervision", params={**params, "limit": 1}, headers=token("manager")
    )
    one = limited.json()
    assert [x["journey_id"] for x in one["overdue"]] == [str(order[0])]
    assert (one["overdue_total"], one["limit"]) == (2, 1)
    assert one["overall"] == body["overall"] and one["groups"] == body["groups"]


@pytest.mark.parametrize("path", ["/reports/awaiting-decision", "/reports/handovers", "/reports/supervision"])
@pytest.mark.parametrize("limit", ["0", "5001", "many"])
async def test_limit_is_bounded(world_factory, token, path, limit):
    w = await world_factory()
    r = await w.reporting.get(path, params={**ALL_TIME, "limit": limit}, headers=token("analyst"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [p["name"] for p in r.json()["invalid-params"]] == ["limit"]


async def test_report_query_parameters_in_openapi(world_factory):
    """Every report documents from, to and group_by (with its own default); lists take limit."""
    w = await world_factory()
    schema = (await w.reporting.get("/openapi.json")).json()
    defaults = {
        "/reports/contact-to-outcome": "month",
        "/reports/awaiting-decision": "team",
        "/reports/handovers": "month",
        "/reports/supervision": "team",
        "/reports/conversion": "source",
        "/reports/compare": "month",
    }
    for path, default in defaults.items():
        params = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert params["group_by"]["schema"]["default"] == default, path
        assert params["group_by"]["description"] == "How to group the figures."
        dates = ["a_from", "a_to", "b_from", "b_to"] if path.endswith("compare") else ["from", "to"]
        for name in dates:
            assert params[name]["required"] is True and params[name]["schema"]["format"] == "date", (
                path,
                name,
            )
            assert params[name]["description"], (path, name)
        if path in ("/reports/awaiting-decision", "/reports/handovers", "/reports/supervision"):
            limit = params["limit"]["schema"]
            assert (limit["default"], limit["minimum"], limit["maximum"]) == (200, 1, 5000)
        else:
            assert "limit" not in params


async def test_only_contact_to_outcome_groups_by_day_of_week(world_factory, token):
    """Contact to outcome takes every grouping and day_of_week; the other reports and compare take
    the others only: each one's OpenAPI lists exactly what it takes, and day_of_week elsewhere is a
    422 naming group_by."""
    w = await world_factory()
    schema = (await w.reporting.get("/openapi.json")).json()
    others = ["week", "month", "quarter", "area", "team", "source", "outcome"]
    paths = {
        "/reports/contact-to-outcome": [*others, "day_of_week"],
        "/reports/awaiting-decision": others,
        "/reports/handovers": others,
        "/reports/supervision": others,
        "/reports/conversion": others,
        "/reports/compare": others,
    }
    for path, accepted in paths.items():
        [param] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "group_by"]
        name = param["schema"]["$ref"].rsplit("/", 1)[1]
        assert schema["components"]["schemas"][name]["enum"] == accepted, path
        if path.endswith("compare"):
            params = {"measure": "contact-to-outcome", "a_from": "2024-01-01", "a_to": "2024-01-31"}
            params |= {"b_from": "2024-02-01", "b_to": "2024-02-29"}
        else:
            params = {"from": "2024-01-01", "to": "2024-01-31"}
        r = await w.reporting.get(
            path, params={**params, "group_by": "day_of_week"}, headers=token("analyst")
        )
        if "day_of_week" in accepted:
            assert r.status_code == 200, r.text
            assert r.json()["group_by"] == "day_of_week" and r.json()["groups"] == []
        else:
            assert r.status_code == 422, (path, r.text)
            assert [p["name"] for p in r.json()["invalid-params"]] == ["group_by"], path
