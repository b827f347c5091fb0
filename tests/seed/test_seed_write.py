"""`frontdoor seed` writes its year through the services: every step accepted, every event written,
and the reporting service shows the year once its consumers have caught up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from frontdoor.seed import make_plan, run_seed, seed_settings

UNTIL = date(2026, 11, 2)


async def test_a_small_year_is_written_through_the_services_and_reported(
    db_urls: dict[str, str], app_client: Callable[..., Any], token: Callable[..., dict[str, str]]
) -> None:
    plan = make_plan(contacts=60, seed=21, until=UNTIL)
    steps = plan.steps
    # Worked out from the plan, not from the services: one referrals event per referrals step (contact,
    # allocation, decision, authorisation, transfer, closure); one SupervisionRecorded per supervision
    # plus one SupervisionActionSet per action it sets.
    referral_events = sum(1 for s in steps if s.kind != "supervision")
    supervision_events = sum(1 + s.data["actions"] for s in steps if s.kind == "supervision")
    contacts = sum(1 for s in steps if s.kind == "contact")
    decided = sum(1 for s in steps if s.kind == "decision")
    authorised = sum(1 for s in steps if s.kind == "authorise")
    assert contacts == 60 and referral_events > 0 and supervision_events > 0 and authorised > 0

    result = await run_seed(plan, seed_settings(db_urls), concurrency=4)

    assert result.feed_heads == {"referrals": referral_events, "supervision": supervision_events}
    assert result.requests == len(steps) + len(plan.teams)
    assert result.summary == plan.summary
    # The reporting consumers caught up with both feeds in the run.
    assert result.reporting_applied.get("referrals", 0) > 0

    reporting = await app_client("reporting")
    period = {"from": plan.period_start.isoformat(), "to": (UNTIL - timedelta(days=1)).isoformat()}
    r = await reporting.get(
        "/reports/contact-to-outcome", params=period, headers=token("analyst", sub="an-1")
    )
    assert r.status_code == 200, r.text
    overall = r.json()["overall"]
    assert overall["contacts"] == contacts
    assert overall["decided"] == decided
    assert overall["authorised"] == authorised
    # A decision after its T1 deadline says why (the service refuses it otherwise): as many carry a
    # reason as reporting counts late, and this year has some.
    late = overall["decided"] - overall["decided_within_timescale"]
    referrals = await app_client("referrals")
    async with referrals.app.state.db.engine.connect() as conn:
        with_reason = await conn.scalar(text("SELECT count(*) FROM decisions WHERE late_reason IS NOT NULL"))
    assert with_reason == late > 0
    r = await reporting.get("/reports/handovers", params=period, headers=token("analyst", sub="an-1"))
    assert r.status_code == 200, r.text
    assert r.json()["overall"]["journeys"] > 0
    # The summary counts referrals and re-referrals (within 12 months, by London date) as reporting
    # does; this year has one re-referral.
    r = await reporting.get("/reports/conversion", params=period, headers=token("analyst", sub="an-1"))
    assert r.status_code == 200, r.text
    conversion = r.json()["overall"]
    assert plan.summary.re_referrals > 0
    assert (conversion["referrals"], conversion["re_referrals"]) == (
        plan.summary.referrals,
        plan.summary.re_referrals,
    )
