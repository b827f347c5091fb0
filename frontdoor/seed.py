"""`frontdoor seed`: a realistic, synthetic year at a large county's front door.

Two halves:

* ``make_plan(contacts, seed, until)`` is pure and deterministic: it scripts a year of contacts, threshold
  decisions, authorisations, allocations, transfers, closures and supervision as time-ordered steps about
  synthetic children. Same arguments, same plan (and the same ``Summary``).
* ``run_seed`` replays the plan through the services' own HTTP APIs, in-process (``InProcess``,
  ``Writer``, ``write_plan``), so every step passes the same validation, audit and journey-event writing
  as in real use. How and why: the comment above ``Writer`` and "A busier picture" in
  ``docs/walkthrough.md``.

Everything is synthetic: children's names come from a short list of made-up names plus a number, and
postcodes use the unused ``ZZ`` area, so nothing can be mistaken for a real child.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sqlite3
import time as _time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import httpx
import typer
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, func, inspect, select, table
from sqlalchemy.engine import make_url

from frontdoor.registry import SERVICES
from frontdoor.run import settings_problems
from services.referrals.settings import Settings as ReferralsSettings
from shared.auth import mint_token, minting_refused
from shared.codes import (
    FRONT_DOOR_CLOSURE_OUTCOMES,
    AssessmentFactor,
    ClosureReason,
    ConsentStatus,
    ContactChannel,
    DecisionOutcome,
    Ethnicity,
    FrontDoorClosure,
    PrimaryNeed,
    ReferralSource,
    ServiceType,
    Sex,
    SupervisionKind,
    Urgency,
    WorkerChangeReason,
)
from shared.dates import within_twelve_months
from shared.settings import ServiceSettings
from shared.types import now_is
from shared.working_days import LONDON, STATUTORY, WorkingCalendar

# --- the county ---------------------------------------------------------------------------------------

AREAS: tuple[str, ...] = ("West", "Central", "East")
# Share of the county's contacts by area (Central is the largest town).
AREA_WEIGHTS: tuple[float, ...] = (0.34, 0.41, 0.25)
AREA_MIX: dict[str, float] = dict(zip(AREAS, AREA_WEIGHTS, strict=True))
TEAM_KINDS: tuple[tuple[str, ServiceType, str], ...] = (
    ("FD", ServiceType.front_door, "Front door"),
    ("AS", ServiceType.assessment, "Assessment"),
    ("FS", ServiceType.family_safeguarding, "Family safeguarding"),
)
# Staff per team kind: (practitioners, managers). Front doors need two managers or more, so that a
# referral decision can always be authorised by a manager other than the one who made it.
STAFFING: dict[str, tuple[int, int]] = {"FD": (10, 3), "AS": (12, 2), "FS": (14, 2)}


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    area: str
    service_type: ServiceType
    practitioners: tuple[str, ...]
    managers: tuple[str, ...]


def county_teams() -> list[Team]:
    """Front door, assessment and family safeguarding teams in West, Central and East."""
    teams: list[Team] = []
    for area in AREAS:
        for prefix, service_type, label in TEAM_KINDS:
            tid = f"{prefix}-{area.upper()}"
            n_prac, n_mgr = STAFFING[prefix]
            slug = f"{prefix.lower()}{area[0].lower()}"
            teams.append(
                Team(
                    id=tid,
                    name=f"{label} {area}",
                    area=area,
                    service_type=service_type,
                    practitioners=tuple(f"sw-{slug}-{i:02d}" for i in range(1, n_prac + 1)),
                    managers=tuple(f"tm-{slug}-{i}" for i in range(1, n_mgr + 1)),
                )
            )
    return teams


# --- national-like mixes ------------------------------------------------------------------------------

# Contact source mix, national-like (England: police ~28%, schools ~20%, health ~14%, individuals ~10%,
# LA services ~9%, then the others).
SOURCE_WEIGHTS: dict[ReferralSource, float] = {
    ReferralSource.C6: 28.0,
    ReferralSource.C2A: 20.0,
    ReferralSource.C2B: 1.5,
    ReferralSource.C3A: 3.0,
    ReferralSource.C3B: 3.0,
    ReferralSource.C3C: 1.0,
    ReferralSource.C3D: 1.5,
    ReferralSource.C3E: 3.5,
    ReferralSource.C3F: 2.0,
    ReferralSource.C1A: 5.0,
    ReferralSource.C1B: 2.0,
    ReferralSource.C1C: 1.5,
    ReferralSource.C1D: 1.5,
    ReferralSource.C5A: 3.0,
    ReferralSource.C5B: 2.5,
    ReferralSource.C5C: 1.5,
    ReferralSource.C5D: 2.0,
    ReferralSource.C4: 2.0,
    ReferralSource.C7: 3.0,
    ReferralSource.C8: 4.0,
    ReferralSource.C9: 1.5,
    ReferralSource.C10: 5.0,
}

# How likely a contact from each source is to become a referral, relative to the average; police
# notifications (mostly domestic abuse) convert least, health and LA services most.
CONVERSION: dict[str, float] = {
    "6": 0.6,
    "2A": 1.1,
    "2B": 1.0,
    "3": 1.35,
    "1": 1.0,
    "5": 1.4,
    "4": 0.9,
    "7": 1.2,
    "8": 1.0,
    "9": 0.6,
    "10": 0.8,
}

REFERRAL_RATE = 0.20  # about 20% of contacts become referrals
# Which child a contact is about: shares of contacts about a child referred before (open to a team:
# a repeat contact; closed: perhaps a re-referral) and about a child seen and closed before.
REPEAT_SHARE = 0.06
RETURN_REFERRED_SHARE = 0.12
RETURN_KNOWN_SHARE = 0.10
REREFERRAL_LIFT = 2.5  # children referred before are likelier to be referred again
S47_SHARE = 0.30  # of referrals, the share that go to a strategy discussion
# Outcomes of contacts that do not become referrals.
NON_REFERRAL_OUTCOMES: tuple[tuple[DecisionOutcome, float], ...] = (
    (DecisionOutcome.NFA, 0.42),
    (DecisionOutcome.INFO_ADVICE, 0.33),
    (DecisionOutcome.EARLY_HELP, 0.23),
)
# The front-door closure that ends a journey after each of those outcomes. The plan draws no OTHER (it
# would need a reason), and records EXISTING_OPEN_CASE only on a referred journey (closed with an RC
# code), so it never needs FD_OTHER or FD_EXISTING_CASE; the API accepts both.
CLOSURE_AFTER: dict[DecisionOutcome, FrontDoorClosure] = {
    outcome: code for code, outcome in FRONT_DOOR_CLOSURE_OUTCOMES.items()
}
CHANNELS: dict[ContactChannel, float] = {
    ContactChannel.phone: 0.35,
    ContactChannel.email: 0.15,
    ContactChannel.online_form: 0.42,
    ContactChannel.in_person: 0.03,
    ContactChannel.other: 0.05,
}
NEED_WEIGHTS: dict[PrimaryNeed, float] = {
    PrimaryNeed.N1: 0.57,
    PrimaryNeed.N2: 0.09,
    PrimaryNeed.N3: 0.03,
    PrimaryNeed.N4: 0.08,
    PrimaryNeed.N5: 0.14,
    PrimaryNeed.N6: 0.02,
    PrimaryNeed.N7: 0.01,
    PrimaryNeed.N8: 0.03,
    PrimaryNeed.N9: 0.02,
    PrimaryNeed.N0: 0.01,
}
FACTOR_POOL: tuple[AssessmentFactor, ...] = (
    AssessmentFactor.C3B,
    AssessmentFactor.C4B,
    AssessmentFactor.C16A,
    AssessmentFactor.C17A,
    AssessmentFactor.C2B,
    AssessmentFactor.C1B,
    AssessmentFactor.C18C,
    AssessmentFactor.C4A,
    AssessmentFactor.C10A,
    AssessmentFactor.C24A,
    AssessmentFactor.C11A,
    AssessmentFactor.C15A,
)
ETHNICITY_WEIGHTS: dict[Ethnicity, float] = {
    Ethnicity.WBRI: 0.70,
    Ethnicity.WOTH: 0.05,
    Ethnicity.WIRI: 0.01,
    Ethnicity.WROM: 0.01,
    Ethnicity.MWBC: 0.03,
    Ethnicity.MOTH: 0.03,
    Ethnicity.MWAS: 0.01,
    Ethnicity.AIND: 0.02,
    Ethnicity.APKN: 0.03,
    Ethnicity.ABAN: 0.01,
    Ethnicity.AOTH: 0.01,
    Ethnicity.BAFR: 0.03,
    Ethnicity.BCRB: 0.01,
    Ethnicity.OOTH: 0.02,
    Ethnicity.NOBT: 0.03,
}

# Obviously made-up names: nobody should ever mistake a seeded child for a real one.
GIVEN_NAMES: tuple[str, ...] = (
    "Zorbel", "Quilla", "Fenwix", "Marlo", "Tibbet", "Yarra", "Pimlo", "Daxie", "Ombry", "Sprocket",
    "Wimble", "Jupiterine", "Nixel", "Bramblet", "Cogsy", "Teaspoon",
)  # fmt: skip
FAMILY_NAMES: tuple[str, ...] = (
    "Testington", "Samplewood", "Fakeley", "Mockridge", "Placeholder", "Dummyford", "Examplar",
    "Synthby",
)  # fmt: skip

# Policy: case supervision every 20 working days with an assessment team and 30 with a family
# safeguarding team (no national figure exists: local policy; the supervision service's defaults).
SUPERVISION_INTERVAL_WD: dict[ServiceType, int] = {
    ServiceType.assessment: 20,
    ServiceType.family_safeguarding: 30,
}
SUPERVISION_OVERDUE_SHARE = 0.12  # sessions that slip past the due date


# --- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildPlan:
    key: int
    given_name: str
    family_name: str
    date_of_birth: date
    sex: Sex
    ethnicity: Ethnicity
    postcode: str
    area: str


@dataclass
class Step:
    """One thing that happens, at `at`, to one child's journey (journey = plan-local key)."""

    at: datetime
    kind: str  # contact | decision | authorise | allocate | transfer | close | supervision
    child: int
    journey: int
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0


class Summary(BaseModel):
    """What the plan contains; identical for the same seed, contacts and period."""

    seed: int
    period_start: date
    period_end: date
    teams: int
    children: int
    contacts: int
    contacts_by_source: dict[str, int]
    contacts_by_area: dict[str, int]
    out_of_hours_contacts: int
    repeat_contacts: int
    journeys: int
    decisions: dict[str, int]
    referrals: int
    referral_rate: float
    re_referrals: int
    decisions_within_1_working_day: int
    authorisations: int
    allocations: int
    transfers: int
    transfers_by_reason: dict[str, int]
    closures: dict[str, int]
    supervisions: int
    supervisions_late: int
    open_journeys_at_end: int
    steps: int


@dataclass
class Plan:
    seed: int
    period_start: date
    period_end: date
    teams: list[Team]
    children: list[ChildPlan]
    steps: list[Step]
    summary: Summary


def _weighted(rng: random.Random, weights: dict[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def _source_group(source: ReferralSource) -> str:
    code = source.value
    if code in {"2A", "2B", "10"}:
        return code
    return code[0] if code[0] in "135" else code


class _Clock:
    """Working-hour arithmetic on the statutory calendar (office hours 09:00-17:00 London)."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.cal = calendar

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        at = self.cal.clock_start(start).astimezone(LONDON)
        remaining = timedelta(hours=hours)
        while True:
            close = datetime.combine(at.date(), self.cal.office_end, tzinfo=LONDON)
            if at + remaining <= close:
                return (at + remaining).astimezone(UTC)
            remaining -= close - at
            nxt = self.cal.next_working_day(at.date())
            at = datetime.combine(nxt, self.cal.office_start, tzinfo=LONDON)

    def add_working_days(self, start: datetime, days: int, hour: float) -> datetime:
        """A time on the `days`-th working day after `start`, at `hour` (London wall clock)."""
        d = self.cal.add_working_days(start.astimezone(LONDON).date(), days)
        if not self.cal.is_working_day(d):
            d = self.cal.next_working_day(d)
        hh = int(hour)
        mm = int((hour - hh) * 60)
        return datetime.combine(d, time(hh, mm), tzinfo=LONDON).astimezone(UTC)


def _contact_days(start: date, end: date, cal: WorkingCalendar) -> tuple[list[date], list[float]]:
    """Each day of the period with its relative contact volume: working days carry the load, with
    peaks in the first weeks of school terms and a dip in August; weekends and bank holidays get the
    out-of-hours trickle."""
    days: list[date] = []
    weights: list[float] = []
    d = start
    while d < end:
        if cal.is_working_day(d):
            w = 1.0
            if (d.month == 9 and d.day >= 4) or (d.month == 10 and d.day <= 10):
                w = 1.3  # start of the autumn term
            elif (d.month == 1 and d.day >= 4) or (d.month == 4 and 15 <= d.day <= 30):
                w = 1.15
            elif d.month == 8:
                w = 0.75
            elif d.month == 12 and d.day >= 20:
                w = 0.6
        else:
            w = 0.12
        days.append(d)
        weights.append(w)
        d += timedelta(days=1)
    return days, weights


def _received_time(rng: random.Random, day: date, working: bool) -> tuple[datetime, bool]:
    """When on `day` a contact arrives; returns (UTC instant, out of hours)."""
    if working and rng.random() < 0.93:
        # Office hours, busiest in the morning.
        hour = 9.0 + min(rng.betavariate(1.6, 2.2) * 8.0, 7.99)
        ooh = False
    else:
        # Evenings and nights (emergency duty), recorded the next working morning.
        hour = rng.choice([rng.uniform(17.0, 23.99), rng.uniform(0.0, 8.99)])
        ooh = True
    hh = int(hour)
    mm = int((hour - hh) * 60)
    ss = rng.randrange(60)
    local = datetime.combine(day, time(hh, mm, ss), tzinfo=LONDON)
    return local.astimezone(UTC), ooh


def _decision_working_hours(rng: random.Random, urgency: Urgency) -> float:
    """Working hours from the clock start to the decision: mostly the same day, a realistic tail."""
    r = rng.random()
    if urgency is Urgency.red:
        return rng.uniform(0.1, 2.0)
    if r < 0.62:
        return rng.uniform(0.25, 6.0)
    if r < 0.88:
        return rng.uniform(6.0, 16.0)  # within one working day
    if r < 0.97:
        return rng.uniform(16.0, 32.0)
    return rng.uniform(32.0, 80.0)  # the tail: up to two weeks


@dataclass
class _Journey:
    key: int
    child: int
    area: str
    opened_at: datetime
    team: Team
    worker: str
    referral: bool = False
    closes_at: datetime | None = None  # None: open at the end of the period (or until decided)
    post_referral_from: datetime | None = None  # repeat contacts land here while the child is open


def make_plan(
    contacts: int = 40_000,
    seed: int = 7,
    until: date | None = None,
    calendar: WorkingCalendar = STATUTORY,
) -> Plan:
    """Script a year (365 days ending the day before `until`) of front-door activity."""
    if contacts < 1:
        raise ValueError("contacts must be at least 1")
    rng = random.Random(seed)
    end = until or datetime.now(UTC).date()
    start = end - timedelta(days=365)
    end_at = datetime.combine(end, time(0), tzinfo=LONDON).astimezone(UTC)
    clock = _Clock(calendar)
    teams = county_teams()
    by_id = {t.id: t for t in teams}

    def team(prefix: str, area: str) -> Team:
        return by_id[f"{prefix}-{area.upper()}"]

    # Contact arrival times for the whole year, in order.
    days, weights = _contact_days(start, end, calendar)
    picked = rng.choices(range(len(days)), weights=weights, k=contacts)
    arrivals: list[tuple[datetime, bool]] = sorted(
        _received_time(rng, days[i], calendar.is_working_day(days[i])) for i in picked
    )

    # Calibrate per-source referral probabilities so that about REFERRAL_RATE of contacts overall
    # become referrals, given that contacts about a child already open to an assessment or family
    # safeguarding team go to that team instead (EXISTING_OPEN_CASE, roughly 7% of contacts).
    total_w = sum(SOURCE_WEIGHTS.values())
    mean_conv = sum(SOURCE_WEIGHTS[s] * CONVERSION[_source_group(s)] for s in SOURCE_WEIGHTS) / total_w
    base_rate = REFERRAL_RATE / 0.93 / mean_conv

    children: list[ChildPlan] = []
    steps: list[Step] = []
    journeys: dict[int, _Journey] = {}
    current: dict[int, _Journey] = {}  # child -> latest journey
    last_referral: dict[int, datetime] = {}
    known: list[int] = []  # children seen before, in order of first contact
    referred: list[int] = []  # children referred before, in order of (latest) referral
    n_journeys = 0
    stats: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    closures: Counter[str] = Counter()
    reasons: Counter[str] = Counter()

    def new_child(area: str, at: datetime) -> int:
        key = len(children)
        age_days = int(rng.triangular(0, 18 * 365 - 1, 9 * 365))
        children.append(
            ChildPlan(
                key=key,
                given_name=rng.choice(GIVEN_NAMES),
                family_name=f"{rng.choice(FAMILY_NAMES)}-{key + 1:05d}",
                date_of_birth=at.date() - timedelta(days=max(age_days, 14)),
                sex=rng.choices([Sex.M, Sex.F, Sex.U], weights=[49, 49, 2])[0],
                ethnicity=_weighted(rng, ETHNICITY_WEIGHTS),
                postcode=f"ZZ{rng.randint(1, 99)} {rng.randint(1, 9)}"
                f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
                area=area,
            )
        )
        known.append(key)
        return key

    def add(at: datetime, kind: str, child: int, journey: int, actor: str, **data: Any) -> None:
        if at < end_at:
            steps.append(Step(at=at, kind=kind, child=child, journey=journey, actor=actor, data=data))
            stats[kind] += 1

    def transfer(
        at: datetime,
        child: int,
        journey: int,
        by: str,
        src: Team,
        dest: Team,
        from_worker: str,
        to_worker: str,
        reason: WorkerChangeReason,
    ) -> None:
        """A handover between teams (or a worker change within one), counted by its reason; `by` is a
        manager of `src`, the team holding the journey (referrals refuses any other team's)."""
        add(
            at,
            "transfer",
            child,
            journey,
            by,
            from_team_id=src.id,
            to_team_id=dest.id,
            to_area=dest.area,
            to_service_type=dest.service_type,
            from_worker_id=from_worker,
            to_worker_id=to_worker,
            reason=reason,
        )
        if at < end_at:
            reasons[reason.value] += 1

    for contact_no, (received_at, ooh) in enumerate(arrivals):
        # Which child? Most contacts are about a child new to the front door this year. Some are about
        # a child open to an assessment or family safeguarding team (a repeat contact), some about a
        # child referred before (a possible re-referral), some about a child seen and closed before.
        r = rng.random()
        child: int | None = None
        want = (
            "repeat"
            if r < REPEAT_SHARE
            else "returning_referred"
            if r < REPEAT_SHARE + RETURN_REFERRED_SHARE
            else "returning"
            if r < REPEAT_SHARE + RETURN_REFERRED_SHARE + RETURN_KNOWN_SHARE
            else "new"
        )
        pool = known if want == "returning" else referred if want != "new" else []
        for _ in range(6 if pool else 0):
            # Recent children are likelier to come back: sample from the newest part of the list.
            cand = pool[len(pool) - 1 - min(int(rng.expovariate(1 / 2500)), len(pool) - 1)]
            j = current.get(cand)
            is_open = j is not None and (j.closes_at is None or j.closes_at > received_at)
            # A repeat contact needs the journey to stay open until well after its decision.
            with_team = (
                j is not None
                and j.post_referral_from is not None
                and j.post_referral_from <= received_at
                and (j.closes_at is None or j.closes_at > received_at + timedelta(days=7))
            )
            if (want == "repeat" and with_team) or (want != "repeat" and not is_open):
                child = cand
                break
        area = children[child].area if child is not None else _weighted(rng, AREA_MIX)
        if child is None:
            child = new_child(area, received_at)
        source = _weighted(rng, SOURCE_WEIGHTS)
        sources[source.value] += 1
        areas[area] += 1
        if ooh:
            stats["out_of_hours"] += 1
        fd = team("FD", area)
        channel = (
            ContactChannel.police_notification
            if source is ReferralSource.C6 and rng.random() < 0.8
            else _weighted(rng, CHANNELS)
        )
        urgency = rng.choices([Urgency.red, Urgency.amber, Urgency.green], weights=[6, 30, 64])[0]
        consent = rng.choices(
            [ConsentStatus.given, ConsentStatus.not_given, ConsentStatus.not_required], weights=[70, 8, 22]
        )[0]
        recorder = rng.choice(fd.practitioners)
        # Out-of-hours contacts are typed up the next working morning, backdated to when they came in.
        recorded_at = clock.add_working_hours(received_at, rng.uniform(0.1, 1.5)) if ooh else received_at

        prev = current.get(child)
        open_prev = prev is not None and (prev.closes_at is None or prev.closes_at > received_at)
        if (
            open_prev
            and prev is not None
            and prev.post_referral_from
            and prev.post_referral_from <= received_at
        ):
            # A repeat contact about a child open to a team: passed to the allocated team.
            stats["repeat_contacts"] += 1
            decided_at = clock.add_working_hours(recorded_at, rng.uniform(0.2, 4.0))
            add(
                recorded_at,
                "contact",
                child,
                prev.key,
                recorder,
                received_at=received_at,
                source=source,
                channel=channel,
                urgency=urgency,
                consent=consent,
                team_id=fd.id,
                area=area,
                out_of_hours=ooh,
                repeat=True,
                contact_key=contact_no,
            )
            add(
                decided_at,
                "decision",
                child,
                prev.key,
                rng.choice(fd.managers),
                outcome=DecisionOutcome.EXISTING_OPEN_CASE,
                threshold_level=3,
                received_at=received_at,
                contact_key=contact_no,
            )
            if decided_at < end_at:
                decisions[DecisionOutcome.EXISTING_OPEN_CASE.value] += 1
                if calendar.within_working_days(received_at, decided_at, 1):
                    stats["within_1wd"] += 1
            continue
        n_journeys += 1
        jkey = n_journeys
        worker = recorder
        journey = _Journey(key=jkey, child=child, area=area, opened_at=received_at, team=fd, worker=worker)
        journeys[jkey] = journey
        current[child] = journey
        add(
            recorded_at,
            "contact",
            child,
            jkey,
            recorder,
            received_at=received_at,
            source=source,
            channel=channel,
            urgency=urgency,
            consent=consent,
            team_id=fd.id,
            area=area,
            out_of_hours=ooh,
            repeat=False,
            contact_key=contact_no,
        )
        add(
            recorded_at + timedelta(seconds=1),
            "allocate",
            child,
            jkey,
            rng.choice(fd.managers),
            team_id=fd.id,
            area=area,
            service_type=ServiceType.front_door,
            worker_id=worker,
        )

        p_ref = base_rate * CONVERSION[_source_group(source)]
        if child in last_referral:
            p_ref *= REREFERRAL_LIFT
        if urgency is Urgency.red:
            p_ref = min(0.95, p_ref * 2.5)
        elif urgency is Urgency.green:
            p_ref *= 0.7
        is_ref = rng.random() < p_ref
        if is_ref:
            outcome = (
                DecisionOutcome.STRATEGY_S47
                if rng.random() < (S47_SHARE * (2.0 if urgency is Urgency.red else 1.0))
                else DecisionOutcome.CIN_ASSESSMENT
            )
        else:
            outcome = _weighted(rng, dict(NON_REFERRAL_OUTCOMES))
        decided_at = clock.add_working_hours(recorded_at, _decision_working_hours(rng, urgency))
        decider_is_manager = is_ref or rng.random() < 0.4
        decider = rng.choice(fd.managers) if decider_is_manager else worker
        decision_data: dict[str, Any] = {
            "outcome": outcome,
            "threshold_level": 3 if outcome is DecisionOutcome.CIN_ASSESSMENT else 4 if is_ref else 2,
            "received_at": received_at,
            "contact_key": contact_no,
        }
        if is_ref:
            decision_data["primary_need"] = _weighted(rng, NEED_WEIGHTS)
            decision_data["assessment_factors"] = sorted(
                rng.sample(FACTOR_POOL, k=rng.randint(1, 3)), key=lambda f: f.value
            )
        if decided_at < end_at:
            decisions[outcome.value] += 1
        if decided_at < end_at and calendar.within_working_days(received_at, decided_at, 1):
            stats["within_1wd"] += 1
        add(decided_at, "decision", child, jkey, decider, **decision_data)
        if decided_at >= end_at:
            continue  # awaiting a decision at the end of the period

        if not is_ref:
            closure = CLOSURE_AFTER[outcome]
            closed_at = decided_at + timedelta(minutes=rng.randint(5, 240))
            journey.closes_at = closed_at
            if closed_at < end_at:
                closures[closure.value] += 1
            add(closed_at, "close", child, jkey, rng.choice(fd.managers), closure_reason=closure)
            continue

        # A referral: a different front-door manager authorises it, usually within hours.
        stats["referrals"] += 1
        journey.referral = True
        prior = last_referral.get(child)
        if prior is not None and within_twelve_months(prior, received_at):
            stats["re_referrals"] += 1
        if prior is None:
            referred.append(child)
        last_referral[child] = received_at
        authoriser = rng.choice([m for m in fd.managers if m != decider])
        authorised_at = clock.add_working_hours(decided_at, rng.uniform(0.1, 3.0))
        add(authorised_at, "authorise", child, jkey, authoriser, contact_key=contact_no)
        if authorised_at < end_at:
            stats["authorised"] += 1

        # Handover from the front door: assessment for CIN referrals, family safeguarding for s47;
        # a few children live on an area border and go to another area's team.
        dest_area = area if rng.random() > 0.04 else rng.choice([a for a in AREAS if a != area])
        prefix = "FS" if outcome is DecisionOutcome.STRATEGY_S47 else "AS"
        dest = team(prefix, dest_area)
        moved_at = clock.add_working_days(authorised_at, rng.choice([0, 1, 1, 1, 2, 2, 3, 5]), 10.5)
        moved_at = max(moved_at, authorised_at + timedelta(minutes=30))
        dest_worker = rng.choice(dest.practitioners)
        by = rng.choice(fd.managers)  # the team holding a journey hands it over (and closes it)
        transfer(moved_at, child, jkey, by, fd, dest, worker, dest_worker, WorkerChangeReason.TSPROC)
        journey.team, journey.worker = dest, dest_worker
        journey.post_referral_from = moved_at

        # The assessment: most finish within 45 working days, some run over.
        assess_wd = int(min(rng.lognormvariate(math.log(24), 0.45), 90))
        assessed_at = clock.add_working_days(moved_at, max(assess_wd, 3), rng.uniform(9.5, 16.5))
        cur_team, cur_worker = dest, dest_worker
        worker_changed_at: datetime | None = None
        prev_worker = dest_worker
        r = rng.random()
        if outcome is DecisionOutcome.CIN_ASSESSMENT and r < 0.47:
            ends: tuple[str, datetime] = (ClosureReason.RC8.value, assessed_at)
        elif outcome is DecisionOutcome.CIN_ASSESSMENT and r < 0.72:
            ends = (ClosureReason.RC9.value, assessed_at)
        elif outcome is DecisionOutcome.STRATEGY_S47 and r < 0.35:
            # No assessment on the journey, so RC8/RC9 do not apply (census 8825Q).
            ends = (ClosureReason.RC7.value, assessed_at)
        else:
            # Needs longer-term help: assessment teams hand over to family safeguarding; the
            # child's plan runs for months and ends with services ceasing (RC7) or is still open.
            if cur_team.service_type is ServiceType.assessment:
                fs = team("FS", cur_team.area)
                fs_worker = rng.choice(fs.practitioners)
                by = rng.choice(cur_team.managers)
                transfer(
                    assessed_at,
                    child,
                    jkey,
                    by,
                    cur_team,
                    fs,
                    cur_worker,
                    fs_worker,
                    WorkerChangeReason.TSPROC,
                )
                cur_team, cur_worker = fs, fs_worker
            plan_days = int(rng.uniform(60, 260))
            ends = (
                ClosureReason.RC7.value if rng.random() < 0.85 else ClosureReason.RC5.value,
                assessed_at + timedelta(days=plan_days),
            )
            # Some children change worker mid-plan (caseloads, staff leaving, absence).
            if rng.random() < 0.35:
                change_at = assessed_at + timedelta(days=int(rng.uniform(10, plan_days - 5)))
                change_at = clock.add_working_days(change_at, 0, 11.0)
                new_worker = rng.choice([w for w in cur_team.practitioners if w != cur_worker])
                reason = rng.choices(
                    [WorkerChangeReason.MANAGE, WorkerChangeReason.LEFTRL, WorkerChangeReason.ABSENC],
                    weights=[5, 3, 2],
                )[0]
                by = rng.choice(cur_team.managers)
                transfer(change_at, child, jkey, by, cur_team, cur_team, cur_worker, new_worker, reason)
                prev_worker, cur_worker, worker_changed_at = cur_worker, new_worker, change_at

        close_reason, close_at = ends
        journey.closes_at = close_at
        add(close_at, "close", child, jkey, rng.choice(cur_team.managers), closure_reason=close_reason)
        if close_at < end_at:
            closures[close_reason] += 1

        # Supervision at policy intervals while the child is with a team, some sessions late. It is
        # recorded by a manager of the team holding the journey at the end of that day, never on the
        # day the journey closes (the supervision service only supervises open journeys).
        close_day = _day(close_at)
        due = clock.add_working_days(moved_at, 10, 10.0)
        while due < min(close_at, end_at):
            late = rng.random() < SUPERVISION_OVERDUE_SHARE
            slip = rng.randint(3, 20) if late else 0  # late sessions slip 3-20 working days
            held = clock.add_working_days(due, slip, rng.uniform(9.5, 16.0))
            if held >= end_at or _day(held) >= close_day:
                break
            after_assessment = _day(held) >= _day(assessed_at)
            sup_team = cur_team if after_assessment else dest
            supervisee = dest_worker
            if after_assessment:
                supervisee = (
                    cur_worker if worker_changed_at is None or held >= worker_changed_at else prev_worker
                )
            kind = rng.choices(
                [SupervisionKind.individual, SupervisionKind.group, SupervisionKind.management_oversight],
                weights=[75, 10, 15],
            )[0]
            interval = SUPERVISION_INTERVAL_WD[sup_team.service_type]
            next_due = calendar.add_working_days(_day(held), interval)
            add(
                held,
                "supervision",
                child,
                jkey,
                rng.choice(sup_team.managers),
                team_id=sup_team.id,
                supervisee_id=supervisee,
                supervision_kind=kind,
                next_due_on=next_due,
                actions=rng.choice([0, 1, 1, 2, 3]),
                late=late,
            )
            if late:
                stats["supervisions_late"] += 1
            due = datetime.combine(next_due, time(10), tzinfo=LONDON).astimezone(UTC)

    steps.sort(key=lambda s: (s.at, s.journey, _KIND_ORDER[s.kind]))
    for i, s in enumerate(steps):
        s.seq = i
    referrals = stats["referrals"]
    open_at_end = sum(1 for j in journeys.values() if j.closes_at is None or j.closes_at >= end_at)
    summary = Summary(
        seed=seed,
        period_start=start,
        period_end=end,
        teams=len(teams),
        children=len(children),
        contacts=contacts,
        contacts_by_source=dict(sorted(sources.items(), key=lambda kv: _SOURCE_ORDER[kv[0]])),
        contacts_by_area={a: areas[a] for a in AREAS},
        out_of_hours_contacts=stats["out_of_hours"],
        repeat_contacts=stats["repeat_contacts"],
        journeys=n_journeys,
        decisions=dict(sorted(decisions.items())),
        referrals=referrals,
        referral_rate=round(referrals / contacts, 4),
        re_referrals=stats["re_referrals"],
        decisions_within_1_working_day=stats["within_1wd"],
        authorisations=stats["authorise"],
        allocations=stats["allocate"],
        transfers=stats["transfer"],
        transfers_by_reason=dict(sorted(reasons.items())),
        closures=dict(sorted(closures.items())),
        supervisions=stats["supervision"],
        supervisions_late=stats["supervisions_late"],
        open_journeys_at_end=open_at_end,
        steps=len(steps),
    )
    return Plan(
        seed=seed,
        period_start=start,
        period_end=end,
        teams=teams,
        children=children,
        steps=steps,
        summary=summary,
    )


_KIND_ORDER = {
    "contact": 0,
    "allocate": 1,
    "decision": 2,
    "authorise": 3,
    "transfer": 4,
    "supervision": 5,
    "close": 6,
}
_SOURCE_ORDER = {s.value: i for i, s in enumerate(ReferralSource)}


def journeys_in_order(plan: Plan) -> dict[int, list[Step]]:
    """Each journey's steps in time order (journeys are independent of each other)."""
    out: dict[int, list[Step]] = {}
    for s in plan.steps:
        out.setdefault(s.journey, []).append(s)
    return out


# --- writing the plan through the services -----------------------------------------------------------
#
# The bulk path: the seeder starts the referrals and supervision apps in this process and sends every
# step to them as an ordinary HTTP request (httpx's ASGI transport: no sockets), so each step passes
# the same validation, authorisation, audit and event writing as in real use. Each request runs with
# `shared.types.simulated_now` set to the step's time, so the year is recorded as it would have been
# at the time (an out-of-hours contact typed up the next morning is backdated, decisions are not "in
# the future"). Children are independent, so their step sequences run concurrently; the supervision
# service learns about journeys from the referrals feed, so its consumer catches up once per
# simulated day before that day's supervision is recorded. At the end the reporting service's
# consumers catch up too, so the reports show the year at once.

CONCERNS = "Synthetic seed contact: a worry about the child (no real person)."
RATIONALE = "Synthetic seed decision: threshold applied to the information received."
LATE_REASON = "Synthetic seed reason: more contacts arrived that day than the duty team could decide."
BACKDATING_REASON = "Received out of hours by the emergency duty team; entered next working morning."


class SeedError(RuntimeError):
    """A step the services refused: the seed stops rather than write a partial, inconsistent year."""


class SeedRefused(RuntimeError):
    """`run_seed` refused before writing anything: settings it must not or cannot seed under
    (`settings_refusal`; `held` is empty), or databases that already hold children, contacts or
    supervisions (`held`, as `data_held` gives it) without `append`."""

    def __init__(self, message: str, held: dict[str, dict[str, int]] | None = None) -> None:
        super().__init__(message)
        self.held = held or {}


@dataclass
class _Ids:
    children: dict[int, str] = field(default_factory=dict)
    journeys: dict[int, str] = field(default_factory=dict)
    contacts: dict[int, str] = field(default_factory=dict)  # contact key -> contact id
    decisions: dict[int, str] = field(default_factory=dict)  # contact key -> its decision's id
    allocated: set[int] = field(default_factory=set)


class Writer:
    """Sends plan steps to the services' HTTP APIs (in-process or over the network)."""

    def __init__(
        self,
        referrals: httpx.AsyncClient,
        supervision: httpx.AsyncClient,
        token: Callable[[str, list[str], str | None], str],
        teams: list[Team],
        decision_due_at: Callable[[datetime], datetime],
    ) -> None:
        self.referrals = referrals
        # The referrals service's T1 deadline, as configured: a decision after it says why.
        self._decision_due_at = decision_due_at
        self.supervision = supervision
        self._mint = token
        self.ids = _Ids()
        self._tokens: dict[str, dict[str, str]] = {}
        self._team_of: dict[str, Team] = {}
        for t in teams:
            for sid in (*t.practitioners, *t.managers):
                self._team_of[sid] = t
        self.requests = 0

    def headers(self, actor: str) -> dict[str, str]:
        h = self._tokens.get(actor)
        if h is None:
            team = self._team_of.get(actor)
            roles = (
                ["manager"]
                if actor.startswith("tm-")
                else ["admin"]
                if actor == "seed-admin"
                else ["practitioner"]
            )
            h = {"Authorization": f"Bearer {self._mint(actor, roles, team.id if team else None)}"}
            self._tokens[actor] = h
        return h

    async def _send(
        self, client: httpx.AsyncClient, method: str, url: str, actor: str, body: Any, ok: tuple[int, ...]
    ) -> Any:
        self.requests += 1
        response = await client.request(method, url, json=body, headers=self.headers(actor))
        if response.status_code not in ok:
            raise SeedError(f"{method} {url} as {actor} -> {response.status_code}: {response.text[:600]}")
        return response.json() if response.content else None

    async def register_teams(self, teams: list[Team]) -> None:
        for t in teams:
            body = {"id": t.id, "name": t.name, "area": t.area, "service_type": t.service_type.value}
            await self._send(self.referrals, "POST", "/teams", "seed-admin", body, (201, 409))

    async def step(self, plan: Plan, s: Step) -> None:
        """One step, at its simulated time."""
        with now_is(s.at):
            await getattr(self, f"_{s.kind}")(plan, s)

    async def _contact(self, plan: Plan, s: Step) -> None:
        d = s.data
        body: dict[str, Any] = {
            "received_at": _iso(d["received_at"]),
            "source": d["source"].value,
            "channel": d["channel"].value,
            "concerns_summary": CONCERNS,
            "consent": {"status": d["consent"].value},
            "urgency": d["urgency"].value,
        }
        if d["consent"] is not ConsentStatus.given:
            body["consent"]["reason"] = "Synthetic seed: consent not sought (safeguarding concern)."
        if d["source"] is not ReferralSource.C9:
            body["referrer"] = {"name": "Seed Referrer", "organisation": "Synthetic Agency"}
        if s.at - d["received_at"] > timedelta(hours=2):
            body["backdating_reason"] = BACKDATING_REASON
        child_id = self.ids.children.get(s.child)
        if child_id is None:
            c = plan.children[s.child]
            body["new_children"] = [
                {
                    "given_name": c.given_name,
                    "family_name": c.family_name,
                    "date_of_birth": c.date_of_birth.isoformat(),
                    "sex": c.sex.value,
                    "ethnicity": c.ethnicity.value,
                    "postcode": c.postcode,
                }
            ]
        else:
            body["child_ids"] = [child_id]
        out = await self._send(self.referrals, "POST", "/contacts", s.actor, body, (201,))
        contact = out["contacts"][0]
        self.ids.children[s.child] = contact["child_id"]
        self.ids.journeys[s.journey] = contact["journey_id"]
        self.ids.contacts[s.data["contact_key"]] = contact["id"]

    async def _allocate(self, plan: Plan, s: Step) -> None:
        d = s.data
        body = {"team_id": d["team_id"], "worker_id": d["worker_id"], "effective_at": _iso(s.at)}
        url = f"/journeys/{self.ids.journeys[s.journey]}/allocation"
        await self._send(self.referrals, "POST", url, s.actor, body, (201,))

    async def _decision(self, plan: Plan, s: Step) -> None:
        d = s.data
        body: dict[str, Any] = {
            "outcome": d["outcome"].value,
            "threshold_level": d["threshold_level"],
            "rationale": RATIONALE,
            "decided_at": _iso(s.at),
        }
        if s.at > self._decision_due_at(d["received_at"]):
            body["late_reason"] = LATE_REASON
        if "primary_need" in d:
            body["primary_need"] = d["primary_need"].value
            body["assessment_factors"] = [f.value for f in d["assessment_factors"]]
        url = f"/contacts/{self.ids.contacts[s.data['contact_key']]}/decisions"
        out = await self._send(self.referrals, "POST", url, s.actor, body, (201,))
        self.ids.decisions[s.data["contact_key"]] = out["id"]

    async def _authorise(self, plan: Plan, s: Step) -> None:
        url = f"/decisions/{self.ids.decisions[s.data['contact_key']]}/authorise"
        await self._send(self.referrals, "POST", url, s.actor, None, (200, 201))

    async def _transfer(self, plan: Plan, s: Step) -> None:
        d = s.data
        body = {
            "team_id": d["to_team_id"],
            "worker_id": d["to_worker_id"],
            "reason": d["reason"].value,
            "effective_at": _iso(s.at),
        }
        url = f"/journeys/{self.ids.journeys[s.journey]}/transfers"
        await self._send(self.referrals, "POST", url, s.actor, body, (201,))

    async def _close(self, plan: Plan, s: Step) -> None:
        body = {"reason": str(s.data["closure_reason"]), "closed_at": _iso(s.at)}
        url = f"/journeys/{self.ids.journeys[s.journey]}/closure"
        await self._send(self.referrals, "POST", url, s.actor, body, (200, 201))

    async def _supervision(self, plan: Plan, s: Step) -> None:
        d = s.data
        body = {
            "journey_id": self.ids.journeys[s.journey],
            "supervisee_id": d["supervisee_id"],
            "held_at": _iso(s.at),
            "kind": d["supervision_kind"].value,
            "discussion": "Synthetic seed supervision: the child's plan and progress.",
            "decisions": "Synthetic seed: continue the plan; review at the next supervision.",
            "actions": [
                {
                    "description": f"Synthetic seed action {i + 1}",
                    "owner_id": d["supervisee_id"],
                    "due_on": calendar_add(s.at, 5 + 5 * i).isoformat(),
                }
                for i in range(d["actions"])
            ],
        }
        await self._send(self.supervision, "POST", "/supervisions", s.actor, body, (201,))


def calendar_add(at: datetime, working_days: int) -> date:
    return STATUTORY.add_working_days(at.astimezone(LONDON).date(), working_days)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _day(at: datetime) -> date:
    return at.astimezone(LONDON).date()


async def write_plan(
    plan: Plan,
    writer: Writer,
    *,
    catch_up_supervision: Callable[[], Awaitable[Any]],
    concurrency: int = 8,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Replay the plan one simulated day at a time: each child's steps in order, children in parallel,
    then the supervision service catches up with the day's journeys and the day's supervision."""
    await writer.register_teams(plan.teams)
    gate = asyncio.Semaphore(concurrency)

    async def run_child(steps: list[Step]) -> None:
        async with gate:
            for s in steps:
                await writer.step(plan, s)
        if on_progress is not None:
            on_progress(len(steps))

    days: dict[date, list[Step]] = {}
    for s in plan.steps:
        days.setdefault(_day(s.at), []).append(s)
    for day in sorted(days):
        by_child: dict[int, list[Step]] = {}
        supervision: list[Step] = []
        for s in days[day]:
            if s.kind == "supervision":
                supervision.append(s)
            else:
                by_child.setdefault(s.child, []).append(s)
        await _gather(run_child(steps) for steps in by_child.values())
        if supervision:
            await catch_up_supervision()
            await _gather(run_child([s]) for s in supervision)


async def _gather(coros: Iterable[Coroutine[Any, Any, None]]) -> None:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# --- running it in-process --------------------------------------------------------------------------


@dataclass
class SeedResult:
    summary: Summary
    requests: int
    seconds: float
    feed_heads: dict[str, int]
    reporting_applied: dict[str, int]
    # What the referrals and supervision databases held before the run: empty unless `append` let it add.
    held_before: dict[str, dict[str, int]] = field(default_factory=dict)


class _InlineCursor:
    """An aiosqlite-shaped cursor that runs sqlite3 calls on the caller's thread."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._c = cursor

    async def __aenter__(self) -> _InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._c.close()

    async def execute(self, sql: str, parameters: Any = None) -> _InlineCursor:
        if parameters is None:
            self._c.execute(sql)
        else:
            self._c.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> _InlineCursor:
        self._c.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._c.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._c.fetchmany(size) if size is not None else self._c.fetchmany()

    async def fetchall(self) -> list[Any]:
        return self._c.fetchall()

    async def close(self) -> None:
        self._c.close()

    @property
    def description(self) -> Any:
        return self._c.description

    @property
    def rowcount(self) -> int:
        return self._c.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._c.lastrowid

    @property
    def arraysize(self) -> int:
        return self._c.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._c.arraysize = value


class _InlineQueue:
    """Stands in for aiosqlite's request queue: runs the function at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class _InlineConnection:
    """An aiosqlite-shaped connection without aiosqlite's worker thread.

    aiosqlite hands every call (about 50 per request) to a thread and back; on two busy cores each
    handoff costs more than the SQL. The seeder writes one step at a time, so it can run sqlite3 on
    the event loop's own thread. Same SQL, same transactions, same data: only the threading differs.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._connection = conn
        self._tx = _InlineQueue()

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._live().isolation_level

    def cursor(self) -> _InlineCursor:
        return _InlineCursor(self._live().cursor())

    async def commit(self) -> None:
        self._live().commit()

    async def rollback(self) -> None:
        self._live().rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._live().create_function(*args, **kw)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _use_inline_sqlite(db: Any) -> None:
    """Point a service's Database at an engine on the same SQLite file that runs sqlite3 inline
    (see `_InlineConnection`), with the same pragmas and BEGIN IMMEDIATE as `shared.db`."""
    from sqlalchemy import event
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

    from shared.db import _sqlite_pragmas

    path = make_url(db.url).database or ":memory:"

    async def connect() -> _InlineConnection:
        return _InlineConnection(sqlite3.connect(path, timeout=30, check_same_thread=False))

    engine = create_async_engine(db.url, async_creator=connect)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        _sqlite_pragmas(dbapi_connection, record)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    db.engine = engine
    db.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)


class InProcess:
    """The referrals, supervision and reporting apps in this process, wired to each other by ASGI
    transports instead of sockets, on the databases their settings name (migrated first)."""

    def __init__(self, settings: dict[str, ServiceSettings], *, inline_sqlite: bool = True) -> None:
        self.settings = settings
        self.inline_sqlite = inline_sqlite
        self.apps: dict[str, Any] = {}
        self.clients: dict[str, httpx.AsyncClient] = {}

    async def __aenter__(self) -> InProcess:
        import logging

        from shared.db import Database

        logging.getLogger("httpx").setLevel(logging.WARNING)
        from shared.migrations import upgrade

        for name, s in self.settings.items():
            db = Database(s.database_url)
            try:
                await upgrade(name, db.engine)
            finally:
                await db.dispose()
            app = SERVICES[name].main().create(s, run_consumers=False)
            service = app.state.service
            if self.inline_sqlite and service.db.is_sqlite:
                old = service.db.engine
                _use_inline_sqlite(service.db)
                app.state.db = service.db
                await old.dispose()
            self.apps[name] = app
            self.clients[name] = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{name}.seed", timeout=120
            )
        # Consumers read their upstream feeds through the in-process apps.
        for app in self.apps.values():
            for consumer in app.state.service.consumers:
                upstream = self.apps.get(consumer.feed)
                if upstream is not None:
                    consumer.transport = httpx.ASGITransport(app=upstream)
                    consumer.base_url = f"http://{consumer.feed}.seed"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients.values():
            await client.aclose()
        for app in self.apps.values():
            service = app.state.service
            for consumer in service.consumers:
                await consumer.close()
            await service.db.dispose()

    async def catch_up(self, name: str) -> dict[str, int]:
        applied: dict[str, int] = {}
        app = self.apps.get(name)
        if app is None:
            return applied
        for consumer in app.state.service.consumers:
            if consumer.feed in self.apps:
                applied[consumer.feed] = await consumer.catch_up()
        return applied

    async def feed_heads(self) -> dict[str, int]:
        heads: dict[str, int] = {}
        for name, app in self.apps.items():
            service = app.state.service
            if service.event_log is not None:
                async with service.db.sessionmaker() as session:
                    heads[name] = await service.event_log.head(session)
        return heads


def seed_settings(database_urls: dict[str, str] | None = None) -> dict[str, ServiceSettings]:
    """Each service's settings from the environment (as `frontdoor up` uses them), with no request
    rate limit: the seeder is one very busy caller."""
    out: dict[str, ServiceSettings] = {}
    for name in ("referrals", "supervision", "reporting"):
        # No request lines in the log: a year is a few hundred thousand requests.
        overrides: dict[str, Any] = {"rate_limit_per_minute": 0, "log_level": "WARNING"}
        if database_urls and name in database_urls:
            overrides["database_url"] = database_urls[name]
        out[name] = SERVICES[name].settings(**overrides)
    return out


def settings_refusal(settings: dict[str, ServiceSettings]) -> str | None:
    """Why nothing may be seeded under `settings` (None: it may), checked before any database is
    reached: synthetic data is never written to a production system, and the seeder calls the
    services with tokens it mints, which an identity provider's settings (a public-key algorithm)
    cannot give."""
    if any(s.environment == "production" for s in settings.values()):
        return "refused: synthetic data is never written to a production system"
    if (why := minting_refused(settings["referrals"])) is not None:
        return f"refused: the seeder mints its callers' tokens, but {why}"
    return None


async def run_seed(
    plan: Plan,
    settings: dict[str, ServiceSettings],
    *,
    append: bool = False,
    concurrency: int = 8,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[], None] | None = None,
    catch_up_reporting: bool = True,
) -> SeedResult:
    """Write `plan` through the services on the databases `settings` name.

    Databases that already hold children, contacts or supervisions are refused (`SeedRefused`, before
    anything is migrated or written): a second run would add a second copy of the year beside the
    first while its summary still counted one. `append=True` adds it anyway; the result's
    `held_before` then says what was there. `on_start` is called once that check has passed.

    Settings it must not or cannot seed under (`settings_refusal`: production, or tokens an identity
    provider signs) are refused first (`SeedRefused`), before any database is reached."""
    started = _time.monotonic()
    if (refusal := settings_refusal(settings)) is not None:
        raise SeedRefused(refusal)
    # A second run would silently add a second year (the same children again, under new ids) while
    # its summary still counted one: refuse before writing anything, unless told to add.
    # Created where missing, as `migrate` and `up` do (an empty database holds nothing to refuse).
    held = await data_held(settings, create=True)
    if held and not append:
        raise SeedRefused(held_refusal(held, settings), held)
    if on_start is not None:
        on_start()
    referrals_settings = settings["referrals"]

    def mint(subject: str, roles: list[str], team: str | None) -> str:
        return mint_token(referrals_settings, roles=roles, subject=subject, team=team, ttl_seconds=24 * 3600)

    if any(s.is_sqlite for s in settings.values()):
        # SQLite has one writer at a time and the seeder runs sqlite3 inline (`_InlineConnection`):
        # a second step waiting for the write lock would block the only thread. One at a time.
        concurrency = 1
    async with InProcess(settings) as system:

        async def catch_up_supervision() -> None:
            await system.catch_up("supervision")

        assert isinstance(referrals_settings, ReferralsSettings)
        writer = Writer(
            system.clients["referrals"],
            system.clients["supervision"],
            mint,
            plan.teams,
            referrals_settings.decision_due_at,
        )
        await write_plan(
            plan,
            writer,
            catch_up_supervision=catch_up_supervision,
            concurrency=concurrency,
            on_progress=on_progress,
        )
        await system.catch_up("supervision")
        reporting = await system.catch_up("reporting") if catch_up_reporting else {}
        heads = await system.feed_heads()
    return SeedResult(
        summary=plan.summary,
        requests=writer.requests,
        seconds=round(_time.monotonic() - started, 1),
        feed_heads=heads,
        reporting_applied=reporting,
        held_before=held,
    )


def _held_tables() -> dict[str, tuple[tuple[str, str], ...]]:
    """What a seeded year (or real use) leaves in each database, as (what, table): rows in any of these
    mean a run would add its year beside what is there, so the seed refuses unless told to add
    (`--append`). Teams alone do not count: the seeder registers its nine teams idempotently."""
    from services.referrals.children.models import Child
    from services.referrals.contacts.models import Contact
    from services.supervision.supervisions.models import Supervision

    return {
        "referrals": (("children", str(Child.__tablename__)), ("contacts", str(Contact.__tablename__))),
        "supervision": (("supervisions", str(Supervision.__tablename__)),),
    }


def _count_held(conn: Connection, tables: tuple[tuple[str, str], ...]) -> dict[str, int]:
    present = set(inspect(conn).get_table_names())
    counts: dict[str, int] = {}
    for what, name in tables:
        # A table not there yet (a database never migrated) holds nothing.
        if name in present:
            counts[what] = conn.execute(select(func.count()).select_from(table(name))).scalar_one()
    return counts


async def data_held(
    settings: dict[str, ServiceSettings], *, create: bool = False
) -> dict[str, dict[str, int]]:
    """What the referrals and supervision databases already hold of what a seeded year writes
    (children, contacts, supervisions), by service; only the services holding some, only the non-zero
    counts. Reads only (`create`: first creates each PostgreSQL database that does not exist, which
    holds nothing): it runs before the seed migrates or writes anything else."""
    from shared.db import Database
    from shared.migrations import ensure_database

    if create:
        for service in settings.values():
            await ensure_database(service.database_url)
    held: dict[str, dict[str, int]] = {}
    for name, tables in _held_tables().items():
        db = Database(settings[name].database_url)
        try:
            async with db.engine.connect() as conn:
                counts = await conn.run_sync(_count_held, tables)
        finally:
            await db.dispose()
        if nonzero := {what: n for what, n in counts.items() if n}:
            held[name] = nonzero
    return held


def held_refusal(held: dict[str, dict[str, int]], settings: dict[str, ServiceSettings]) -> str:
    """The message refusing to seed into databases that already hold data, naming each one."""
    where = "; ".join(
        f"the {name} database ({make_url(settings[name].database_url).render_as_string(hide_password=True)})"
        f" already holds {', '.join(f'{n} {what}' for what, n in counts.items())}"
        for name, counts in held.items()
    )
    return (
        f"refused: {where}. Seeding would add this year beside what is there (a second run, a second "
        "copy of the year). Seed into empty databases, or give --append (run_seed: append=True) to add it."
    )


# The services refuse times before 1970; a year's first day (London, then an hour ahead of UTC all
# year) must start after 1970-01-01 for all of it to be written.
EARLIEST_UNTIL = date(1970, 1, 2) + timedelta(days=365)


def seed_command(
    contacts: Annotated[
        int, typer.Option(min=1, help="How many contacts to generate over the year.")
    ] = 40_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed (and --until) gives the same year.")
    ] = 7,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="The day after the year ends (default: today, UTC)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Children written in parallel (one at a time on SQLite).")
    ] = 8,
    plan_only: Annotated[
        bool, typer.Option("--plan-only", help="Print the plan's summary; write nothing.")
    ] = False,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up/--no-catch-up",
            help="Bring the reporting service up to date at the end (else it catches up when started).",
        ),
    ] = True,
    append: Annotated[
        bool,
        typer.Option(
            "--append",
            help=(
                "Add the year to referrals or supervision databases that already hold children, "
                "contacts or supervisions (refused without it); the summary then counts only what "
                "this run added."
            ),
        ),
    ] = False,
) -> None:
    """Write a realistic, synthetic year at a large county's front door through the services.

    The services run in this process, on the databases their settings name; a JSON summary is printed
    at the end. Databases that already hold children, contacts or supervisions are refused (exit 2)
    unless --append is given."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from frontdoor.cli import reported  # the CLI imports this module

    if until is not None:
        if until.date() < EARLIEST_UNTIL:
            raise typer.BadParameter(
                f"the year must begin after 1970-01-01, the earliest time the services accept: "
                f"give {EARLIEST_UNTIL} or later",
                param_hint="'--until'",
            )
        if not plan_only and until.date() > datetime.now(UTC).date():
            raise typer.BadParameter(
                "the year would be recorded as if in the future: give today (UTC) or earlier",
                param_hint="'--until'",
            )
    plan = make_plan(contacts=contacts, seed=seed, until=until.date() if until else None)
    try:
        settings = seed_settings()
    except ValidationError as exc:  # e.g. production settings that refuse development secrets
        typer.echo(f"refused: {settings_problems(exc)}", err=True)
        raise typer.Exit(2) from None
    # The same check `run_seed` makes first, here before the progress bar is shown.
    if not plan_only and (refusal := settings_refusal(settings)) is not None:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    if plan_only:
        typer.echo(plan.summary.model_dump_json(indent=2))
        return
    progress = Progress(
        TextColumn("[bold]seeding[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),  # stdout carries only the JSON summary
        transient=False,
    )
    task = progress.add_task(f"{contacts} contacts", total=len(plan.steps))
    try:
        with reported("seed"):
            result = asyncio.run(
                run_seed(
                    plan,
                    settings,
                    append=append,
                    concurrency=concurrency,
                    on_progress=lambda n: progress.advance(task, n),
                    # The bar is shown once run_seed has checked what the databases hold.
                    on_start=progress.start,
                    catch_up_reporting=catch_up,
                )
            )
    except SeedRefused as refused:  # databases holding a year, and no --append
        typer.echo(str(refused), err=True)
        raise typer.Exit(2) from None
    finally:
        progress.stop()
    out = {
        "summary": result.summary.model_dump(mode="json"),
        "requests": result.requests,
        "seconds": result.seconds,
        "feed_heads": result.feed_heads,
        "reporting_applied": result.reporting_applied,
    }
    if append:
        out["appended"] = {
            "note": (
                "summary, requests and reporting_applied count only what this run added; "
                "feed_heads are the feeds' totals"
            ),
            "held_before": result.held_before,
        }
    typer.echo(json.dumps(out, indent=2))
