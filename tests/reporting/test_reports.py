"""Each front-door measure on the hand-built scenario in conftest.py, figures worked out by hand.

Calendar: statutory England & Wales, office hours 09:00-17:00 London, day_0 counting (1 working day
after the clock-start day, by office close). Percentiles: nearest rank, rank = ceil(p/100 x n).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from platform_kit import postgres_only
from reporting_kit import C1, C7, J1, J2, J3, J4, J6, J8, K1, K2, build_scenario, contact, transfer, utc
from sqlalchemy import event, text

from services.referrals import events as rev
from services.reporting.reports.models import GroupBy
from services.reporting.reports.service import Reports, freshness

ALL_TIME = {"from": "2022-01-01", "to": "2024-12-31"}


def by_group(report: dict) -> dict[str, dict]:
    return {g["group"]: g for g in report["groups"]}


async def scenario(world_factory, **settings):
    w = await world_factory(**settings)
    await build_scenario(w)
    # Supervision first: its events arrive before the journeys they belong to exist in reporting.
    await w.catch_up("supervision", "referrals")
    return w


async def test_contact_to_outcome_overall_and_by_source(world_factory, token):
    w = await scenario(world_factory)
    r = await w.reporting.get(
        "/reports/contact-to-outcome", params={**ALL_TIME, "group_by": "source"}, headers=token("analyst")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    o = body["overall"]
    # 8 contacts; C7 undecided and long past its deadline, so all 8 are due.
    assert (o["contacts"], o["decided"], o["undecided"], o["due"]) == (8, 7, 1, 8)
    # Every scenario contact was recorded in 2026, years after it was received: all backdated.
    assert o["backdated"] == 8
    # Only C2's first decision was superseded.
    assert o["with_superseded_decision"] == 1
    # Within 1 working day: C1, C2, C4, C5, C6, C8 yes; C3 no -> 6 of 8 due.
    assert o["decided_within_timescale"] == 6
    assert o["pct_decided_within_timescale"] == 75.0
    # Working hours to FIRST decision: C1 6 (Tue 09-15 after the Coronation weekend), C2 2 (Wed 16-17 +
    # Mon 09-10 around the Jubilee), C3 17 (Tue 8 + Wed 8 + Thu 1 after the State Funeral), C4 4.5,
    # C5 1, C6 1, C8 2. Sorted 1,1,2,2,4.5,6,17: median rank 4 = 2; p90 rank 7 = 17; mean 33.5/7.
    assert o["decision_working_hours_median"] == 2.0
    assert o["decision_working_hours_p90"] == 17.0
    assert o["decision_working_hours_mean"] == 4.79
    # Working days from clock start: C2 1 (Mon 6), C3 2 (Wed, Thu), others 0. Mean 3/7.
    assert o["decision_working_days_median"] == 0.0
    assert o["decision_working_days_p90"] == 2.0
    assert o["decision_working_days_mean"] == 0.43
    # Calendar hours: C1 87.5, C2 114, C3 136.5, C4 4.5, C5 1, C6 1, C8 2 -> sorted median rank 4 = 4.5.
    assert o["decision_calendar_hours_median"] == 4.5
    assert o["decision_calendar_hours_p90"] == 136.5
    assert o["decision_calendar_hours_mean"] == 49.5
    # Authorised current decisions: C2 (14 wh, 2 wd, 142 h), C4 (7.5, 1, 23.5), C6 (6, 0, 6).
    # C5 needs authorisation but has none yet.
    assert (o["authorised"], o["awaiting_authorisation"]) == (3, 1)
    assert o["authorisation_working_hours_median"] == 7.5
    assert o["authorisation_working_hours_p90"] == 14.0
    assert o["authorisation_working_hours_mean"] == 9.17
    assert (o["authorisation_working_days_median"], o["authorisation_working_days_p90"]) == (1.0, 2.0)
    assert o["authorisation_working_days_mean"] == 1.0
    assert o["authorisation_calendar_hours_median"] == 23.5
    assert o["authorisation_calendar_hours_p90"] == 142.0
    assert o["authorisation_calendar_hours_mean"] == 57.17

    groups = by_group(body)
    assert sorted(groups) == ["1A", "2A", "3A", "5D", "6"]
    police = groups["6"]  # C1, C4, C8: 6, 4.5, 2 working hours, all in time
    assert (police["contacts"], police["decided"], police["pct_decided_within_timescale"]) == (3, 3, 100.0)
    assert police["decision_working_hours_median"] == 4.5
    assert police["decision_working_hours_p90"] == 6.0
    assert police["decision_working_hours_mean"] == 4.17
    family = groups["1A"]  # C7 only: undecided, past its deadline
    assert (family["contacts"], family["decided"], family["due"]) == (1, 0, 1)
    assert family["pct_decided_within_timescale"] == 0.0
    assert family["decision_working_hours_median"] is None
    late = groups["3A"]  # C3
    assert (late["decided_within_timescale"], late["decision_working_days_median"]) == (0, 2.0)

    fresh = body["freshness"]
    feeds = {f["feed"]: f for f in fresh["feeds"]}
    assert feeds["referrals"]["position"] == 31
    assert feeds["supervision"]["position"] == 2
    assert feeds["referrals"]["skipped_events"] == 0
    assert fresh["latest_event_at"] is not None
    assert r.headers["X-Feed-Positions"] == "referrals=31;supervision=2"


async def test_contact_to_outcome_by_outcome_uses_current_decision(world_factory, token):
    w = await scenario(world_factory)
    r = await w.reporting.get(
        "/reports/contact-to-outcome", params={**ALL_TIME, "group_by": "outcome"}, headers=token("manager")
    )
    groups = by_group(r.json())
    # C2's first decision was EARLY_HELP, superseded by CIN_ASSESSMENT: it counts as CIN_ASSESSMENT,
    # but its time is to the first decision (2 working hours).
    assert groups["EARLY_HELP"]["contacts"] == 1  # C8 only
    cin = groups["CIN_ASSESSMENT"]  # C2, C5, C6: 2, 1, 1 working hours
    assert (cin["contacts"], cin["with_superseded_decision"]) == (3, 1)
    assert cin["decision_working_hours_median"] == 1.0
    assert cin["decision_working_hours_p90"] == 2.0
    assert groups["undecided"]["contacts"] == 1
    assert sorted(groups) == [
        "CIN_ASSESSMENT",
        "EARLY_HELP",
        "INFO_ADVICE",
        "NFA",
        "STRATEGY_S47",
        "undecided",
    ]


async def test_contact_to_outcome_by_month_and_week(world_factory, token):
    w = await scenario(world_factory)
    headers = token("analyst")
    r = await w.reporting.get(
        "/reports/contact-to-outcome", params={"from": "2023-05-01", "to": "2023-06-30"}, headers=headers
    )
    body = r.json()
    assert body["group_by"] == "month"
    groups = by_group(body)
    # May 2023: C1 (Fri 5 May, London date) and C7; June 2023: C6.
    assert (groups["2023-05"]["contacts"], groups["2023-06"]["contacts"]) == (2, 1)
    weekly = await w.reporting.get(
        "/reports/contact-to-outcome",
        params={"from": "2022-06-01", "to": "2022-09-30", "group_by": "week"},
        headers=headers,
    )
    # C2 Wed 1 June 2022 = ISO 2022-W22; C8 Mon 1 Aug = W31; C3 Fri 16 Sept = W37.
    assert sorted(by_group(weekly.json())) == ["2022-W22", "2022-W31", "2022-W37"]
    quarterly = await w.reporting.get(
        "/reports/contact-to-outcome", params={**ALL_TIME, "group_by": "quarter"}, headers=headers
    )
    q = {k: v["contacts"] for k, v in by_group(quarterly.json()).items()}
    assert q == {"2022-Q2": 1, "2022-Q3": 2, "2023-Q2": 3, "2024-Q1": 2}


async def test_awaiting_decision_queue_as_of(world_factory, token):
    w = await scenario(world_factory)
    headers = token("manager")
    params = {"from": "2023-05-01", "to": "2023-06-30", "group_by": "team"}
    # Tue 9 May 2023 13:00 BST: C1 (received Fri 23:30) waits 4 working hours (Tue 09-13); due Wed 17:00.
    r = await w.reporting.get(
        "/reports/awaiting-decision", params={**params, "as_of": "2023-05-09T12:00:00Z"}, headers=headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["contact_id"] for c in body["contacts"]] == [str(C1)]
    item = body["contacts"][0]
    assert (item["age_working_hours"], item["breached"]) == (4.0, False)
    assert item["age_calendar_hours"] == 85.5  # Fri 22:30 UTC to Tue 12:00 UTC
    # Fri 26 May 12:00 BST: C7 (Thu 16:00) has waited 1 + 3 working hours; due Fri 26 May 17:00.
    r = await w.reporting.get(
        "/reports/awaiting-decision", params={**params, "as_of": "2023-05-26T11:00:00Z"}, headers=headers
    )
    body = r.json()
    assert [c["contact_id"] for c in body["contacts"]] == [str(C7)]
    assert (body["contacts"][0]["age_working_hours"], body["contacts"][0]["breached"]) == (4.0, False)
    # Tue 30 May 10:00 BST: Thu 1 + Fri 8 + (Mon 29 May bank holiday) + Tue 1 = 10 working hours, breached.
    r = await w.reporting.get(
        "/reports/awaiting-decision", params={**params, "as_of": "2023-05-30T09:00:00Z"}, headers=headers
    )
    body = r.json()
    item = body["contacts"][0]
    assert (item["age_working_hours"], item["age_calendar_hours"], item["breached"]) == (10.0, 114.0, True)
    assert body["overall"] == {
        "group": "ALL",
        "waiting": 1,
        "breached": 1,
        "age_working_hours_median": 10.0,
        "age_working_hours_max": 10.0,
    }
    assert [g["group"] for g in body["groups"]] == ["FD-WEST"]
    # By outcome, a queue is undecided at as_of even for a contact decided since (C1 is NFA now).
    r = await w.reporting.get(
        "/reports/awaiting-decision",
        params={**params, "group_by": "outcome", "as_of": "2023-05-09T12:00:00Z"},
        headers=headers,
    )
    assert [(g["group"], g["waiting"]) for g in r.json()["groups"]] == [("undecided", 1)]
    # A naive as_of is refused, naming the field.
    bad = await w.reporting.get(
        "/reports/awaiting-decision", params={**params, "as_of": "2023-05-30T09:00:00"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["invalid-params"][0]["name"] == "as_of"


async def test_handovers_2022_by_team(world_factory, token):
    w = await scenario(world_factory)
    r = await w.reporting.get(
        "/reports/handovers",
        params={"from": "2022-01-01", "to": "2022-12-31", "group_by": "team"},
        headers=token("analyst"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    journeys = {j["journey_id"]: j for j in body["journeys"]}
    assert set(journeys) == {str(J2), str(J3), str(J8)}
    j2 = journeys[str(J2)]
    # J2: FD-WEST -> ASSESS-1 (team and worker), worker left, new worker: 1 team transfer, 3 worker changes.
    assert (j2["handovers"], j2["team_transfers"], j2["worker_changes"]) == (3, 1, 3)
    # Unallocated: Wed 1 June 15:00 UTC to Mon 6 June 11:00 UTC (116 h) + Mon 13 to Wed 15 June (48 h)
    # = 164 h = 6.83 days; working days (1 June, 6 June] = 1 (Jubilee) + (13, 15 June] = 2 -> 3.
    assert (j2["unallocated_days"], j2["unallocated_working_days"]) == (6.83, 3)
    # Its standard transfer (TSPROC to ASSESS-1) Wed 8 June 09:00 UTC, 6 days 18 h after the contact:
    # Mon 6, Tue 7, Wed 8 June (Thu 2 and Fri 3 June are the Jubilee bank holidays) = 3 working days.
    assert (
        j2["standard_transfer_at"],
        j2["standard_transfer_working_days"],
        j2["standard_transfer_days"],
    ) == (
        "2022-06-08T09:00:00Z",
        3,
        6.75,
    )
    # J3: never allocated, closed Thu 22 Sept 11:00 UTC: 138.5 h = 5.77 days; (16, 22 Sept] minus the
    # State Funeral = Tue, Wed, Thu = 3.
    j3 = journeys[str(J3)]
    assert (j3["handovers"], j3["unallocated_days"], j3["unallocated_working_days"]) == (0, 5.77, 3)
    # J8: allocated two days after the contact (48 h), Tue and Wed.
    assert (journeys[str(J8)]["unallocated_days"], journeys[str(J8)]["unallocated_working_days"]) == (2.0, 2)

    o = body["overall"]
    assert (o["journeys"], o["closed"]) == (3, 2)
    assert [o[f"team_transfers_{b}"] for b in ("0", "1", "2", "3", "4", "5_plus")] == [2, 1, 0, 0, 0, 0]
    assert [o[f"worker_changes_{b}"] for b in ("0", "1", "2", "3", "4", "5_plus")] == [2, 0, 0, 1, 0, 0]
    assert (o["team_transfers_mean"], o["team_transfers_median"], o["team_transfers_max"]) == (0.33, 0, 1)
    assert (o["worker_changes_mean"], o["worker_changes_median"], o["worker_changes_max"]) == (1.0, 0, 3)
    # Days: 6.83, 5.77, 2.0 -> mean 4.87, median 5.77; working days 3, 3, 2 -> mean 2.67, median 3.
    assert (o["unallocated_days_mean"], o["unallocated_days_median"], o["unallocated_days_max"]) == (
        4.87,
        5.77,
        6.83,
    )
    assert (o["unallocated_working_days_mean"], o["unallocated_working_days_median"]) == (2.67, 3)
    groups = by_group(body)
    assert (groups["FD-WEST"]["journeys"], groups["FD-EAST"]["journeys"]) == (1, 2)
    assert groups["FD-EAST"]["team_transfers_max"] == 0
    # The standard transfer lag: J2's alone (J3 and J8 of FD-EAST have none).
    units = ("working_days", "days")
    lag = ["standard_transfers"] + [
        f"standard_transfer_{unit}_{figure}" for unit in units for figure in ("median", "p90")
    ]
    for row in (o, groups["FD-WEST"]):
        assert [row[name] for name in lag] == [1, 3.0, 3.0, 6.75, 6.75]
    assert [groups["FD-EAST"][name] for name in lag] == [0, None, None, None, None]
    reasons = {(x["group"], x["reason"]): (x["handovers"], x["team_transfers"], x["worker_changes"])
               for x in body["reasons"]}  # fmt: skip
    assert reasons == {
        ("ALL", "TSPROC"): (1, 1, 1),
        ("ALL", "LEFTRL"): (1, 0, 1),
        ("ALL", "MANAGE"): (1, 0, 1),
        ("FD-WEST", "TSPROC"): (1, 1, 1),
        ("FD-WEST", "LEFTRL"): (1, 0, 1),
        ("FD-WEST", "MANAGE"): (1, 0, 1),
    }


async def test_handovers_closure_and_reopening_are_separate_journeys(world_factory, token):
    w = await scenario(world_factory)
    r = await w.reporting.get("/reports/handovers", params=ALL_TIME, headers=token("analyst"))
    journeys = {j["journey_id"]: j for j in r.json()["journeys"]}
    # K1: J1 (closed, never allocated) and J4 (re-opened in 2024).
    assert journeys[str(J1)]["child_id"] == journeys[str(J4)]["child_id"] == str(K1)
    # J1: Fri 5 May 22:30 UTC to Wed 10 May 11:00 UTC = 108.5 h = 4.52 days; Tue 9, Wed 10 (Coronation Mon).
    assert (journeys[str(J1)]["unallocated_days"], journeys[str(J1)]["unallocated_working_days"]) == (4.52, 2)
    # J4: Mon 15 Jan 10:00 to Tue 16 Jan 10:00 GMT.
    assert (journeys[str(J4)]["unallocated_days"], journeys[str(J4)]["unallocated_working_days"]) == (1.0, 1)
    # J6 (K2 re-opened): Mon 5 June 09:00 UTC to Fri 9 June 11:00 UTC = 98 h = 4.08 days; Tue-Fri.
    assert (journeys[str(J6)]["unallocated_days"], journeys[str(J6)]["unallocated_working_days"]) == (4.08, 4)


async def test_supervision_by_month_snapshots_and_overdue_list(world_factory, token):
    # The figures below assume a 20-working-day interval for every team (the default policy gives
    # early help 30), so the policy is set explicitly.
    w = await scenario(world_factory, supervision_default_interval_working_days=20)
    r = await w.reporting.get(
        "/reports/supervision",
        params={"from": "2022-06-01", "to": "2022-08-31", "group_by": "month"},
        headers=token("manager"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    groups = by_group(body)
    # 30 June: J2 open, supervised 16 June, next due 14 July -> within.
    assert groups["2022-06"] | {} == {
        "group": "2022-06",
        "as_of": "2022-06-30",
        "open_journeys": 1,
        "supervised": 1,
        "within_interval": 1,
        "overdue": 0,
        "pct_within_interval": 100.0,
    }
    # 31 July: J2's supervision was due 14 July -> overdue.
    assert (groups["2022-07"]["open_journeys"], groups["2022-07"]["overdue"]) == (1, 1)
    assert groups["2022-07"]["pct_within_interval"] == 0.0
    # 31 Aug: J2 supervised 10 Aug (due 7 Sept) -> within; J8 opened Mon 1 Aug, never supervised:
    # due 20 working days later = Tue 30 Aug (Mon 29 Aug is a bank holiday) -> overdue by 1.
    aug = groups["2022-08"]
    assert (aug["open_journeys"], aug["supervised"], aug["within_interval"], aug["overdue"]) == (2, 1, 1, 1)
    assert aug["pct_within_interval"] == 50.0
    assert body["overall"]["as_of"] == "2022-08-31"
    assert body["overall"]["pct_within_interval"] == 50.0
    assert body["overdue"] == [
        {
            "journey_id": str(J8),
            "child_id": body["overdue"][0]["child_id"],
            "team_id": "EH-1",
            "service_type": "early_help",
            "last_supervised_at": None,
            "due_on": "2022-08-30",
            "working_days_overdue": 1,
        }
    ]
    by_team = await w.reporting.get(
        "/reports/supervision",
        params={"from": "2022-06-01", "to": "2022-08-31", "group_by": "team"},
        headers=token("manager"),
    )
    teams = by_group(by_team.json())
    assert (teams["ASSESS-1"]["within_interval"], teams["ASSESS-1"]["pct_within_interval"]) == (1, 100.0)
    assert (teams["EH-1"]["overdue"], teams["EH-1"]["pct_within_interval"]) == (1, 0.0)


async def test_supervision_counts_no_day_not_yet_reached(world_factory, token):
    """The snapshot is the range's last day or today, whichever is earlier: a range wholly after
    today has no day reached, so nothing is counted (as_of null), rather than journeys expected to
    be open and overdue on a future day being shown as fact."""
    w = await scenario(world_factory, supervision_default_interval_working_days=20)
    future = {"from": "2099-01-01", "to": "2099-03-31"}
    for group_by in ("month", "team"):
        r = await w.reporting.get(
            "/reports/supervision", params={**future, "group_by": group_by}, headers=token("manager")
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["overall"] == {
            "group": "ALL",
            "as_of": None,
            "open_journeys": 0,
            "supervised": 0,
            "within_interval": 0,
            "overdue": 0,
            "pct_within_interval": None,
        }
        assert (body["groups"], body["overdue"], body["overdue_total"]) == ([], [], 0)
    csv_r = await w.reporting.get(
        "/reports/supervision", params=future, headers={**token("manager"), "Accept": "text/csv"}
    )
    assert csv_r.text.splitlines()[1] == "ALL,,0,0,0,0,"
    service = w.reporting.app.state.service
    async with service.db.read_session() as session:
        reports = Reports(session, service.settings, await freshness(session, []))
        # "Today" 20 July 2022: August is not reached; June to August is counted up to 20 July.
        today = date(2022, 7, 20)
        ahead = await reports.supervision(date(2022, 8, 1), date(2022, 8, 31), GroupBy.team, today, 200)
        assert ahead.overall.as_of is None and ahead.overall.open_journeys == 0 and ahead.groups == []
        across = await reports.supervision(date(2022, 6, 1), date(2022, 8, 31), GroupBy.month, today, 200)
        until = await reports.supervision(date(2022, 6, 1), date(2022, 7, 20), GroupBy.month, today, 200)
        assert across.overall.as_of == today and across.overall.open_journeys == 1
        assert across.model_dump(exclude={"to_date"}) == until.model_dump(exclude={"to_date"})


async def test_supervision_policy_interval_is_a_setting(world_factory, token):
    # 25 working days after Mon 1 Aug 2022 is Tue 6 Sept: J8 is not yet overdue on 31 Aug.
    w = await scenario(world_factory, supervision_interval_working_days={"early_help": 25})
    r = await w.reporting.get(
        "/reports/supervision", params={"from": "2022-08-31", "to": "2022-08-31"}, headers=token("manager")
    )
    body = r.json()
    assert body["overdue"] == []
    assert body["overall"]["within_interval"] == 2


async def test_conversion_funnel_repeats_and_re_referrals(world_factory, token):
    w = await scenario(world_factory)
    headers = token("analyst")
    r = await w.reporting.get("/reports/conversion", params=ALL_TIME, headers=headers)
    assert r.status_code == 200, r.text
    o = r.json()["overall"]
    assert (o["contacts"], o["repeat_contacts"], o["decided"]) == (8, 1, 7)
    assert (o["nfa"], o["info_advice"], o["early_help"]) == (1, 1, 1)
    # C2 counts once, as CIN_ASSESSMENT (its current decision), not as EARLY_HELP.
    assert (o["cin_assessment"], o["strategy_s47"], o["existing_open_case"], o["other"]) == (3, 1, 0, 0)
    assert (o["referrals"], o["pct_contacts_to_referral"]) == (4, 50.0)
    # Re-referrals: C5 (K1 referred 15 Jan 2024, five weeks before) yes; C6 (K2's last referral
    # 1 June 2022, more than 12 months before 5 June 2023) no; C2 and C4 had none before.
    assert (o["re_referrals"], o["pct_re_referrals"]) == (1, 25.0)
    groups = by_group(r.json())
    assert groups["2A"]["re_referrals"] == 1 and groups["2A"]["repeat_contacts"] == 1
    assert groups["6"]["referrals"] == 1  # C4 (S47); C1 NFA, C8 early help
    # The earlier referral counts even when it lies outside the range asked for.
    feb = await w.reporting.get("/reports/conversion", params={"from": "2024-02-01", "to": "2024-02-29"},
                                headers=headers)  # fmt: skip
    assert (feb.json()["overall"]["referrals"], feb.json()["overall"]["re_referrals"]) == (1, 1)


async def test_timeline_of_one_child_across_both_services(world_factory, token):
    w = await scenario(world_factory)
    r = await w.reporting.get(f"/children/{K2}/timeline", headers=token("manager", sub="m9"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["journeys"]) == {str(J2), str(J6)}
    types = [(e["feed"], e["type"]) for e in body["events"]]
    assert types == [
        ("referrals", "ContactReceived"),
        ("referrals", "ThresholdDecisionRecorded"),
        ("referrals", "JourneyAllocated"),
        ("referrals", "ThresholdDecisionRecorded"),
        ("referrals", "ThresholdDecisionSuperseded"),
        ("referrals", "ThresholdDecisionAuthorised"),
        ("referrals", "JourneyTransferred"),
        ("referrals", "JourneyTransferred"),
        ("referrals", "JourneyTransferred"),
        ("supervision", "SupervisionRecorded"),
        ("supervision", "SupervisionRecorded"),
        ("referrals", "JourneyClosed"),
        ("referrals", "ContactReceived"),
        ("referrals", "ThresholdDecisionRecorded"),
        ("referrals", "ThresholdDecisionAuthorised"),
        ("referrals", "JourneyClosed"),
    ]
    occurred = [e["occurred_at"] for e in body["events"]]
    assert occurred == sorted(occurred)
    assert body["events"][0]["codes"]["source"] == "2A"
    # The read is audited against the child.
    audit = await w.reporting.get("/audit", params={"child_id": str(K2)}, headers=token("admin"))
    assert audit.status_code == 200, audit.text
    assert any(e["actor"] == "m9" and e["resource"] == "timeline" for e in audit.json()["items"])
    missing = await w.reporting.get(f"/children/{J3}/timeline", headers=token("manager"))
    assert missing.status_code == 404


async def test_compare_two_ranges(world_factory, token):
    w = await scenario(world_factory)
    r = await w.reporting.get(
        "/reports/compare",
        params={
            "measure": "contact-to-outcome",
            "a_from": "2022-01-01",
            "a_to": "2022-12-31",
            "b_from": "2023-01-01",
            "b_to": "2023-12-31",
            "group_by": "source",
        },
        headers=token("manager"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # a = 2022: C2 (2 wh, in time), C3 (17, late), C8 (2, in time): 2 of 3 in time; median 2, mean 7.
    # b = 2023: C1 (6, in time), C6 (1, in time), C7 undecided past deadline: 2 of 3; median 1, mean 3.5.
    assert body["a"]["overall"]["decision_working_hours_median"] == 2.0
    assert body["b"]["overall"]["decision_working_hours_median"] == 1.0
    diff = {d["group"]: d["values"] for d in body["difference"]}
    assert diff["ALL"]["contacts"] == 0 and isinstance(diff["ALL"]["contacts"], int)
    assert diff["ALL"]["decided"] == -1 and isinstance(diff["ALL"]["decided"], int)
    assert diff["ALL"]["pct_decided_within_timescale"] == 0.0
    assert diff["ALL"]["decision_working_hours_median"] == -1.0
    assert diff["ALL"]["decision_working_hours_mean"] == -3.5
    # Police contacts in both: C8 (2 wh) then C1 (6 wh).
    assert diff["6"]["decision_working_hours_median"] == 4.0
    assert sorted(diff) == ["6", "ALL"]
    csv_r = await w.reporting.get(
        "/reports/compare",
        params={"measure": "conversion", "a_from": "2022-01-01", "a_to": "2022-12-31",
                "b_from": "2023-01-01", "b_to": "2023-12-31"},
        headers={**token("analyst"), "Accept": "text/csv"},
    )  # fmt: skip
    assert csv_r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(csv_r.text)))
    referrals = next(x for x in rows if x["group"] == "ALL" and x["figure"] == "referrals")
    # 2022: C2 is a referral; 2023: C6. A difference of counts is a count, written as they are.
    assert (referrals["a"], referrals["b"], referrals["difference"]) == ("1", "1", "0")
    rate = next(x for x in rows if x["group"] == "ALL" and x["figure"] == "pct_contacts_to_referral")
    assert (rate["a"], rate["b"], rate["difference"]) == ("33.33", "33.33", "0.0")


async def test_a_group_keyed_all_is_not_taken_for_the_whole(world_factory, token):
    """A team may be coded ALL (team codes are A-Z, 0-9 and hyphens): its group is not the whole,
    whose label it shares. Two journeys in January (teams ALL and FD-WEST), one in February, each
    handed over once (TSPROC)."""
    w = await world_factory()
    for team, at in (
        ("ALL", utc(2024, 1, 10, 10)),
        ("FD-WEST", utc(2024, 1, 11, 10)),
        ("FD-WEST", utc(2024, 2, 7, 10)),
    ):
        journey, child, contact_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await w.ref(journey, contact(contact_id, child, at, "6", team=team), at)
        first = rev.JourneyAllocated(
            allocation_id=uuid.uuid4(),
            child_id=child,
            team_id=team,
            area="West",
            service_type="front_door",
            worker_id="w1",
            effective_at=at,
        )
        await w.ref(journey, first, at)
        moved = transfer(
            child, at, from_team=team, to_team="ASSESS-1", from_worker="w1", to_worker="w2", reason="TSPROC"
        )
        await w.ref(journey, moved, at)
    await w.catch_up("referrals")
    headers = token("analyst")
    r = await w.reporting.get(
        "/reports/handovers",
        params={"from": "2024-01-01", "to": "2024-01-31", "group_by": "team"},
        headers=headers,
    )
    body = r.json()
    assert body["overall"]["journeys"] == 2
    reasons = [(x["group"], x["reason"], x["handovers"]) for x in body["reasons"]]
    # The whole first (two handovers), then each team's, the team ALL's among them.
    assert reasons == [("ALL", "TSPROC", 2), ("ALL", "TSPROC", 1), ("FD-WEST", "TSPROC", 1)]
    compared = await w.reporting.get(
        "/reports/compare",
        params={
            "measure": "handovers",
            "a_from": "2024-01-01",
            "a_to": "2024-01-31",
            "b_from": "2024-02-01",
            "b_to": "2024-02-29",
            "group_by": "team",
        },
        headers=headers,
    )
    diff = {d["group"]: d["values"] for d in compared.json()["difference"]}
    # The whole: 2 journeys in January, 1 in February.
    assert diff["ALL"]["journeys"] == -1
    assert sorted(diff) == ["ALL", "FD-WEST"]


async def test_csv_text_a_spreadsheet_would_run_is_written_as_text(world_factory, token):
    """A team code and area recorded in the feed before the register refused a leading `-` or `@`
    stay in it (journey events are never altered): their CSV cells start with `'`, so a spreadsheet
    shows them as text and runs no formula. Negative figures stay numbers."""
    w = await world_factory()
    team, area = "-A1", "@West"
    for at in (utc(2024, 1, 10, 10), utc(2024, 1, 11, 10), utc(2024, 2, 7, 10)):
        journey, child = uuid.uuid4(), uuid.uuid4()
        received = rev.ContactReceived(
            **contact(uuid.uuid4(), child, at, "6", team=team).model_dump() | {"area": area}
        )
        await w.ref(journey, received, at)
    await w.catch_up("referrals")
    headers = {**token("analyst"), "Accept": "text/csv"}
    queue = await w.reporting.get(
        "/reports/awaiting-decision",
        params={"from": "2024-01-01", "to": "2024-02-29", "as_of": "2024-03-01T09:00:00Z"},
        headers=headers,
    )
    assert queue.status_code == 200, queue.text
    lines = list(csv.DictReader(io.StringIO(queue.text)))
    assert [(x["team_id"], x["area"]) for x in lines] == [("'-A1", "'@West")] * 3
    compared = await w.reporting.get(
        "/reports/compare",
        params={"measure": "conversion", "a_from": "2024-01-01", "a_to": "2024-01-31",
                "b_from": "2024-02-01", "b_to": "2024-02-29", "group_by": "area"},
        headers=headers,
    )  # fmt: skip
    assert compared.status_code == 200, compared.text
    rows = {(x["group"], x["figure"]): x for x in csv.DictReader(io.StringIO(compared.text))}
    contacts = rows[("'@West", "contacts")]
    assert (contacts["a"], contacts["b"], contacts["difference"]) == ("2", "1", "-1")
    assert rows[("ALL", "contacts")]["difference"] == "-1"


async def test_compare_one_range_with_itself_measures_it_once(world_factory, token, monkeypatch):
    w = await scenario(world_factory)
    calls = []
    measure = Reports.contact_to_outcome

    async def counted(self, *args):
        calls.append(args[:3])
        return await measure(self, *args)

    monkeypatch.setattr(Reports, "contact_to_outcome", counted)
    r = await w.reporting.get(
        "/reports/compare",
        params={"measure": "contact-to-outcome", "a_from": "2022-01-01", "a_to": "2023-12-31",
                "b_from": "2022-01-01", "b_to": "2023-12-31", "group_by": "source"},
        headers=token("analyst"),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(calls) == 1
    assert body["a"] == body["b"]
    assert body["a"]["overall"]["contacts"] > 0
    assert all(v in (0, 0.0, None) for d in body["difference"] for v in d["values"].values())


async def test_csv_report(world_factory, token):
    w = await scenario(world_factory)
    r = await w.reporting.get(
        "/reports/contact-to-outcome",
        params={**ALL_TIME, "group_by": "source"},
        headers={**token("analyst"), "Accept": "text/csv"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["X-Feed-Positions"] == "referrals=31;supervision=2"
    # RFC 4180 2.1: every record ends with CRLF, the last one too; no bare LF.
    assert r.text.endswith("\r\n") and "\n" not in r.text.replace("\r\n", "")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["group"] for x in rows] == ["ALL", "1A", "2A", "3A", "5D", "6"]
    assert rows[0]["contacts"] == "8" and rows[0]["pct_decided_within_timescale"] == "75.0"
    assert rows[1]["decision_working_hours_median"] == ""  # none decided: blank, not "None"
    queue = await w.reporting.get(
        "/reports/awaiting-decision",
        params={"from": "2023-05-01", "to": "2023-06-30", "as_of": "2023-05-30T09:00:00Z"},
        headers={**token("analyst"), "Accept": "text/csv"},
    )
    lines = list(csv.DictReader(io.StringIO(queue.text)))
    # A flag is written as in the JSON (true/false), not as Python's True/False.
    assert [(x["contact_id"], x["breached"]) for x in lines] == [(str(C7), "true")]
    before = await w.reporting.get(
        "/reports/awaiting-decision",
        params={"from": "2023-05-01", "to": "2023-06-30", "as_of": "2023-05-26T09:00:00Z"},
        headers={**token("analyst"), "Accept": "text/csv"},
    )
    assert [x["breached"] for x in csv.DictReader(io.StringIO(before.text))] == ["false"]


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("text/csv", True),
        ("text/csv, application/json", True),  # a tie: the first listed
        ("application/json, text/csv", False),
        ("text/csv;q=0.1, application/json", False),  # q decides, not order
        ("application/json;q=0.5, text/csv", True),
        ("text/*, application/json;q=0.9", True),
        ("text/csv;q=0, */*", False),  # CSV refused
        ("*/*", False),
        ("", False),
        ("text/csv;q=abc, application/json;q=0.2", False),  # a malformed q counts as 0
        ("text/csv;q=0.5, application/json;q=nan", True),  # so does one that is not a number
    ],
)
async def test_csv_only_when_the_client_prefers_it(world_factory, token, accept: str, csv_wanted: bool):
    w = await scenario(world_factory)
    r = await w.reporting.get(
        "/reports/contact-to-outcome", params=ALL_TIME, headers={**token("analyst"), "Accept": accept}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv" if csv_wanted else "application/json")


async def test_an_empty_awaiting_queue_as_csv_has_the_queues_columns(world_factory, token):
    """The awaiting CSV is the queue, one contact per line: with no contact waiting, its header still
    names the queue's columns (it named a lone `group` column, which no queue line has)."""
    w = await scenario(world_factory)
    queue = await w.reporting.get(
        "/reports/awaiting-decision",
        params={"from": "2023-05-01", "to": "2023-06-30", "as_of": "2023-05-25T14:00:00Z"},
        headers={**token("analyst"), "Accept": "text/csv"},
    )
    full = await w.reporting.get(
        "/reports/awaiting-decision",
        params={"from": "2023-05-01", "to": "2023-06-30", "as_of": "2023-05-30T09:00:00Z"},
        headers={**token("analyst"), "Accept": "text/csv"},
    )
    assert queue.status_code == 200 and queue.headers["content-type"].startswith("text/csv")
    assert list(csv.DictReader(io.StringIO(full.text)))  # C7 waits on the 30th...
    assert queue.text == full.text.splitlines(keepends=True)[0]  # ...none before C7: a header


@postgres_only("a PostgreSQL query plan")
async def test_awaiting_figures_can_read_the_undecided_contacts_index_alone(world_factory):
    """The queue's figures are taken over two disjoint parts, not an OR, so the part not decided yet
    is one range of the partial index ix_rpt_contacts_undecided, which also covers every column read."""
    w = await scenario(world_factory)
    service = w.reporting.app.state.service
    seen: list[Any] = []
    async with service.db.unit_of_work() as session:
        event.listen(session.sync_session, "do_orm_execute", lambda state: seen.append(state.statement))
        reports = Reports(session, service.settings, await freshness(session, []))
        as_of = datetime(2023, 5, 30, 9, tzinfo=UTC)
        report = await reports.awaiting(date(2023, 5, 1), date(2023, 6, 30), GroupBy.team, as_of, 200)
        assert report.overall.waiting == 1
        [figures] = [s for s in seen if "percentile_disc" in str(s)]
        sql = str(figures.compile(dialect=session.bind.dialect, compile_kwargs={"literal_binds": True}))
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join((await session.execute(text(f"EXPLAIN {sql}"))).scalars())
    # Whatever the table's statistics: the part decided later may take any path, but the OR would
    # read the partial index in a BitmapOr, never by an index-only scan.
    assert "Index Only Scan using ix_rpt_contacts_undecided" in plan, plan
    assert "BitmapOr" not in plan, plan


COMPARED = {"measure": "conversion", "group_by": "week", "a_from": "2020-01-01", "a_to": "2020-12-31"}


@pytest.mark.parametrize(
    ("path", "params", "field", "shorter"),
    [
        (
            "/reports/handovers",
            {"from": "2000-01-01", "to": "2099-12-31", "group_by": "week"},
            "to",
            "2009-12-31",
        ),
        (
            "/reports/contact-to-outcome",
            {"from": "2000-01-01", "to": "2050-01-31", "group_by": "month"},
            "to",
            "2049-12-31",
        ),
        (
            "/reports/compare",
            {**COMPARED, "b_from": "2021-01-01", "b_to": "2035-12-31"},
            "b_to",
            "2030-12-31",
        ),
    ],
)
async def test_a_range_of_more_periods_than_one_call_should_compile_is_refused(
    world_factory, token, path: str, params: dict, field: str, shorter: str
):
    """Each period is a branch of a SQL CASE compiled per call: a century by week held the worker for
    about ten seconds, every other request waiting."""
    w = await world_factory()
    r = await w.reporting.get(path, params=params, headers=token("analyst"))
    assert r.status_code == 422, r.text
    assert [p["name"] for p in r.json()["invalid-params"]] == [field]
    # The same span in longer periods, or a shorter span (600 periods at most), is answered.
    for answered in ({**params, "group_by": "quarter"}, {**params, field: shorter}):
        r = await w.reporting.get(path, params=answered, headers=token("analyst"))
        assert r.status_code == 200, r.text


async def test_a_date_not_written_in_iso_8601_is_refused(world_factory, token):
    """pydantic reads seconds since 1970 from a query's digits (from=1709251200 was 1 March 2024)."""
    w = await world_factory()
    r = await w.reporting.get(
        "/reports/conversion", params={"from": "1709251200", "to": "2024-03-31"}, headers=token("analyst")
    )
    assert r.status_code == 422, r.text
    assert [p["name"] for p in r.json()["invalid-params"]] == ["from"]
    # Nor is a time: as_of=1685437200 was the queue as of 30 May 2023 09:00 UTC.
    r = await w.reporting.get(
        "/reports/awaiting-decision",
        params={"from": "2023-05-01", "to": "2023-06-30", "as_of": "1685437200"},
        headers=token("analyst"),
    )
    assert r.status_code == 422, r.text
    assert [p["name"] for p in r.json()["invalid-params"]] == ["as_of"]
    audit = await w.reporting.get("/audit", params={"since": "1709251200"}, headers=token("admin"))
    assert audit.status_code == 422, audit.text
    assert [p["name"] for p in audit.json()["invalid-params"]] == ["since"]


async def test_compare_keeps_a_figure_null_in_both_ranges(world_factory, token):
    """A client lays out the same measures every time: a figure null in both ranges (no contact
    decided in either) is still listed, with a null difference, in JSON and in CSV."""
    w = await scenario(world_factory)
    params = {"measure": "contact-to-outcome", "a_from": "2021-01-01", "a_to": "2021-12-31",
              "b_from": "2020-01-01", "b_to": "2020-12-31"}  # fmt: skip
    r = await w.reporting.get("/reports/compare", params=params, headers=token("analyst"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["a"]["overall"]["decision_working_hours_median"] is None
    [whole] = body["difference"]
    figures = [k for k in body["a"]["overall"] if k != "group"]
    assert list(whole["values"]) == figures
    assert whole["values"]["decision_working_hours_median"] is None
    assert whole["values"]["contacts"] == 0
    csv_r = await w.reporting.get(
        "/reports/compare", params=params, headers={**token("analyst"), "Accept": "text/csv"}
    )
    assert csv_r.text.endswith("\r\n") and "\n" not in csv_r.text.replace("\r\n", "")  # RFC 4180
    rows = list(csv.DictReader(io.StringIO(csv_r.text)))
    assert [x["figure"] for x in rows] == figures
    median = next(x for x in rows if x["figure"] == "decision_working_hours_median")
    assert (median["group"], median["a"], median["b"], median["difference"]) == ("ALL", "", "", "")
    # Supervision's as_of is a day, not a figure: it is never differenced.
    sup = await w.reporting.get(
        "/reports/compare", params={**params, "measure": "supervision"}, headers=token("analyst")
    )
    assert "as_of" not in sup.json()["difference"][0]["values"]


REPORT_PATHS = [
    ("/reports/contact-to-outcome", ALL_TIME),
    ("/reports/awaiting-decision", ALL_TIME),
    ("/reports/handovers", ALL_TIME),
    ("/reports/supervision", ALL_TIME),
    ("/reports/conversion", ALL_TIME),
    ("/reports/conversion/control-bands", ALL_TIME),
    ("/reports/compare", {"measure": "conversion", "a_from": "2022-01-01", "a_to": "2022-12-31",
                          "b_from": "2023-01-01", "b_to": "2023-12-31"}),
]  # fmt: skip


@pytest.mark.parametrize(
    "accept",
    [
        "application/xml",
        "text/html",
        "text/csv;q=0, application/json;q=0",
        "*/*;q=0",
        "application/json;q=0",  # JSON refused and CSV not asked for
    ],
)
async def test_a_report_in_no_form_the_client_accepts_is_406(world_factory, token, accept: str):
    """A report is JSON or CSV: asked for neither, it is refused with a 406 problem naming the
    Accept header (JSON was sent, which the client had said it cannot read). A timeline is JSON
    only: asked for CSV alone, it is refused too."""
    w = await scenario(world_factory)
    for path, params in REPORT_PATHS:
        r = await w.reporting.get(path, params=params, headers={**token("analyst"), "Accept": accept})
        assert r.status_code == 406, (path, r.status_code)
        assert r.headers["content-type"] == "application/problem+json"
        assert [(p["name"], p["location"]) for p in r.json()["invalid-params"]] == [("Accept", "header")]
    for timeline_accept in (accept, "text/csv"):
        r = await w.reporting.get(
            f"/children/{K2}/timeline", headers={**token("analyst"), "Accept": timeline_accept}
        )
        assert r.status_code == 406, (timeline_accept, r.status_code)
    for anything in ("*/*", "application/*", "text/csv, application/json;q=0.1"):
        r = await w.reporting.get(
            f"/children/{K2}/timeline", headers={**token("analyst"), "Accept": anything}
        )
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", anything
    spec = (await w.reporting.get("/openapi.json")).json()
    for path in [p for p, _ in REPORT_PATHS] + ["/children/{child_id}/timeline"]:
        assert "406" in spec["paths"][path]["get"]["responses"], path


async def test_the_freshness_headers_are_documented(world_factory, token):
    """Every report and the timeline send X-Data-Latest-Event-At and X-Feed-Positions: the OpenAPI
    document names them on each 200, so a generated client can read them."""
    w = await scenario(world_factory)
    spec = (await w.reporting.get("/openapi.json")).json()
    for path, params in [*REPORT_PATHS, (f"/children/{K2}/timeline", {})]:
        r = await w.reporting.get(path, params=params, headers=token("analyst"))
        sent = {h for h in r.headers if h.startswith("x-data-") or h.startswith("x-feed-")}
        assert sent == {"x-data-latest-event-at", "x-feed-positions"}, path
        documented = path.replace(str(K2), "{child_id}")
        headers = spec["paths"][documented]["get"]["responses"]["200"].get("headers", {})
        assert {h.lower() for h in headers if h.lower().startswith(("x-data-", "x-feed-"))} == sent, path
        assert all(h["schema"] == {"type": "string"} and h["description"] for h in headers.values())


async def test_compare_documents_the_reports_it_puts_side_by_side(world_factory, token):
    """compare's a and b are whole reports of the measure: the OpenAPI document gives their schema
    (one of the four reports, told apart by `measure`), not any object, and each answer's a and b
    are the report the measure names."""
    w = await scenario(world_factory)
    spec = (await w.reporting.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    reports = {
        "contact-to-outcome": "ContactToOutcomeReport",
        "handovers": "HandoverReport",
        "supervision": "SupervisionReport",
        "conversion": "ConversionReport",
    }
    for side in ("a", "b"):
        documented = schemas["CompareReport"]["properties"][side]
        assert sorted(x["$ref"] for x in documented["oneOf"]) == sorted(
            f"#/components/schemas/{name}" for name in reports.values()
        )
        assert documented["discriminator"]["propertyName"] == "measure"
    for measure, name in reports.items():
        assert schemas[name]["properties"]["measure"]["const"] == measure
        r = await w.reporting.get(
            "/reports/compare", params={**REPORT_PATHS[-1][1], "measure": measure}, headers=token("analyst")
        )
        assert r.status_code == 200, r.text
        body = r.json()
        for side in ("a", "b"):
            assert body[side]["measure"] == measure
            assert set(body[side]) == set(schemas[name]["properties"])


async def test_the_awaiting_queue_is_never_shown_as_of_a_time_to_come(world_factory, token):
    """as_of is when the queue stood: one still to come would show the contacts undecided now as
    waiting then, and breached by then, as though no decision could come first. The queue is taken
    as of now at the latest, and its as_of says so."""
    w = await scenario(world_factory)
    params = {"from": "2023-05-01", "to": "2023-06-30"}
    r = await w.reporting.get(
        "/reports/awaiting-decision",
        params={**params, "as_of": "2099-06-01T00:00:00Z"},
        headers=token("analyst"),
    )
    answered = datetime.now(UTC)
    assert r.status_code == 200, r.text
    body = r.json()
    assert datetime.fromisoformat(body["as_of"]) <= answered
    [c7] = body["contacts"]
    assert c7["contact_id"] == str(C7)
    # Its age is to now (about three and a half years of calendar hours by the end of 2026), not 2099.
    assert c7["age_calendar_hours"] < (answered - utc(2023, 5, 25, 15)).total_seconds() / 3600 + 1


async def test_a_report_says_its_form_follows_accept(world_factory, token):
    """The same URL answers JSON or CSV by the Accept header: each answer says so (Vary: Accept), so
    a cache never hands the CSV kept for one request to another that asked for JSON; the OpenAPI
    document names the header on each report's 200, as the Annex A lists' do."""
    w = await scenario(world_factory)
    spec = (await w.reporting.get("/openapi.json")).json()
    for path, params in REPORT_PATHS:
        for accept in ("application/json", "text/csv"):
            r = await w.reporting.get(path, params=params, headers={**token("analyst"), "Accept": accept})
            assert r.status_code == 200, r.text
            vary = {v.strip().lower() for v in r.headers.get("vary", "").split(",")}
            assert "accept" in vary, (path, accept)
        assert "Vary" in spec["paths"][path]["get"]["responses"]["200"]["headers"], path


async def test_the_freshness_header_writes_the_time_as_the_body_does(world_factory, token):
    """X-Data-Latest-Event-At is the body's freshness.latest_event_at, written the same way (a
    client comparing them, or parsing both with one pattern, must not meet +00:00 in one and Z in
    the other)."""
    w = await scenario(world_factory)
    for path, params in [*REPORT_PATHS, (f"/children/{K2}/timeline", {})]:
        r = await w.reporting.get(path, params=params, headers=token("analyst"))
        body = r.json()
        fresh = body["freshness"] if "freshness" in body else body["a"]["freshness"]
        assert r.headers["X-Data-Latest-Event-At"] == fresh["latest_event_at"], path
