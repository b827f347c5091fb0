"""`frontdoor seed` writes its year through the services: every step accepted, every event written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from frontdoor.seed import make_plan, run_seed, seed_settings

UNTIL = date(2026, 11, 2)


async def test_a_small_year_is_written_through_the_services_with_its_events(
    db_urls: dict[str, str], clean_db: None, settings_for: Callable[..., Any]
) -> None:
    plan = make_plan(contacts=60, seed=21, until=UNTIL)
    steps = plan.steps
    # Worked out from the plan, not from the services: one referrals event per referrals step (contact,
    # allocation, decision, authorisation, transfer, closure); one SupervisionRecorded per supervision
    # plus one SupervisionActionSet per action it sets.
    referral_events = sum(1 for s in steps if s.kind != "supervision")
    supervision_events = sum(1 + s.data["actions"] for s in steps if s.kind == "supervision")
    assert referral_events > 0 and supervision_events > 0

    result = await run_seed(plan, seed_settings(db_urls), concurrency=4)

    assert result.feed_heads == {"referrals": referral_events, "supervision": supervision_events}
    assert result.requests == len(steps) + len(plan.teams)
    assert result.summary == plan.summary
