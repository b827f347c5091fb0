"""The seed's plan: deterministic for a seed, with a national-like mix (no services needed)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from frontdoor.seed import GIVEN_NAMES, county_teams, make_plan
from shared.codes import REFERRAL_OUTCOMES
from shared.working_days import STATUTORY

UNTIL = date(2026, 11, 2)


def test_the_same_seed_gives_the_same_year_and_another_seed_a_different_one() -> None:
    a = make_plan(contacts=300, seed=11, until=UNTIL)
    b = make_plan(contacts=300, seed=11, until=UNTIL)
    c = make_plan(contacts=300, seed=12, until=UNTIL)
    assert a.summary == b.summary
    assert [(s.at, s.kind, s.child, s.journey, s.actor) for s in a.steps] == [
        (s.at, s.kind, s.child, s.journey, s.actor) for s in b.steps
    ]
    assert a.children == b.children
    assert c.summary != a.summary


def test_source_mix_and_referral_rate_are_national_like() -> None:
    plan = make_plan(contacts=6000, seed=3, until=UNTIL)
    s = plan.summary
    assert s.contacts == 6000 == sum(s.contacts_by_source.values())
    share = {k: v / s.contacts for k, v in s.contacts_by_source.items()}
    group = Counter[str]()
    for code, v in share.items():
        if code in {"3A", "3B", "3C", "3D", "3E", "3F"}:
            group["health"] += v
        if code in {"1A", "1B", "1C", "1D"}:
            group["individual"] += v
        if code in {"5A", "5B", "5C", "5D"}:
            group["la"] += v
    # National shares: police 28%, schools 20%, health 14%, individuals 10%, LA services 9%.
    assert abs(share["6"] - 0.28) < 0.03
    assert abs(share["2A"] - 0.20) < 0.03
    assert abs(group["health"] - 0.14) < 0.025
    assert abs(group["individual"] - 0.10) < 0.025
    assert abs(group["la"] - 0.09) < 0.02
    # About a fifth of contacts become referrals (CIN assessment or strategy discussion).
    assert 0.17 <= s.referral_rate <= 0.23
    assert s.referrals == s.decisions["CIN_ASSESSMENT"] + s.decisions["STRATEGY_S47"]
    assert s.re_referrals > 0 and s.repeat_contacts > 0 and s.out_of_hours_contacts > 0


def test_the_plan_keeps_the_rules_a_real_front_door_keeps() -> None:
    plan = make_plan(contacts=1500, seed=5, until=UNTIL)
    steps_by_journey: dict[int, list] = {}
    for st in plan.steps:
        steps_by_journey.setdefault(st.journey, []).append(st)
    assert [st.at for st in plan.steps] == sorted(st.at for st in plan.steps)
    decided_within_a_day = 0
    decisions = 0
    for steps in steps_by_journey.values():
        kinds = [st.kind for st in steps]
        assert kinds[0] == "contact"
        # A referral is authorised by a front-door manager other than the one who decided it.
        for i, st in enumerate(steps):
            if st.kind == "authorise":
                decision = next(x for x in reversed(steps[:i]) if x.kind == "decision")
                assert decision.data["outcome"] in REFERRAL_OUTCOMES
                assert st.actor != decision.actor and st.actor.startswith("tm-fd")
            if st.kind == "decision":
                decisions += 1
                contact = next(x for x in reversed(steps[:i]) if x.kind == "contact")
                assert st.at >= contact.data["received_at"]
                if STATUTORY.within_working_days(contact.data["received_at"], st.at, 1):
                    decided_within_a_day += 1
        # Nothing happens to a journey after it is closed.
        if "close" in kinds:
            assert kinds[-1] == "close"
    # Mostly within a working day, with a tail.
    assert 0.70 < decided_within_a_day / decisions < 0.97
    # Supervision happens, some of it late; teams in three areas.
    assert plan.summary.supervisions > 0 and 0 < plan.summary.supervisions_late < plan.summary.supervisions
    assert {t.area for t in county_teams()} == {"West", "Central", "East"}


def test_the_team_holding_a_journey_transfers_and_closes_it() -> None:
    """Referrals lets only the holding team's managers transfer or close a journey (any manager while
    no team holds it): the plan's handovers are made by the team handing over, not the receiving one."""
    plan = make_plan(contacts=1500, seed=5, until=UNTIL)
    managers = {t.id: set(t.managers) for t in county_teams()}
    holder: dict[int, str] = {}
    transfers = closures = 0
    for st in plan.steps:
        if st.kind == "allocate":
            holder[st.journey] = st.data["team_id"]
        elif st.kind == "transfer":
            assert st.data["from_team_id"] == holder[st.journey]
            assert st.actor in managers[holder[st.journey]], st
            holder[st.journey] = st.data["to_team_id"]
            transfers += 1
        elif st.kind == "close" and st.journey in holder:
            assert st.actor in managers[holder[st.journey]], st
            closures += 1
    assert transfers > 0 and closures > 0


def test_children_are_obviously_synthetic() -> None:
    plan = make_plan(contacts=500, seed=9, until=UNTIL)
    for child in plan.children:
        assert child.given_name in GIVEN_NAMES
        assert child.family_name.rsplit("-", 1)[1].isdigit()
        assert child.postcode.startswith("ZZ")  # no real postcode area is ZZ
        assert child.date_of_birth < UNTIL
