"""The front-door measures, read from the projections (never by replaying events).

Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the value at
rank ceil(p/100 x n) (1-based); the median is the 50th percentile by the same rule (for an even
count, the lower of the two middle values). Means are arithmetic. Figures are rounded to 2 places.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.reporting.projections.models import (
    AllocationFact,
    ContactFact,
    FeedState,
    JourneyFact,
    SupervisionFact,
    TimelineEntry,
)
from services.reporting.reports.models import (
    AwaitingContact,
    AwaitingReport,
    AwaitingRow,
    ContactToOutcomeReport,
    ContactToOutcomeRow,
    ConversionReport,
    ConversionRow,
    FeedFreshness,
    Freshness,
    GroupBy,
    HandoverReason,
    HandoverReport,
    HandoverRow,
    JourneyHandovers,
    OverdueJourney,
    SupervisionReport,
    SupervisionRow,
    Timeline,
    TimelineItem,
)
from services.reporting.settings import Settings
from shared.codes import REFERRAL_OUTCOMES
from shared.events.consumer import FeedConsumer
from shared.working_days import LONDON, WorkingCalendar

ALL = "ALL"
T = TypeVar("T")

DEFINITIONS_COMMON = {
    "date_range": "from/to are London dates, inclusive.",
    "percentiles": "Nearest rank: value at rank ceil(p/100 x n); median = 50th percentile (lower middle).",
}


# -- helpers ------------------------------------------------------------------------------------


def window(from_date: date, to_date: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC for London dates from..to inclusive."""
    start = datetime.combine(from_date, time(0), tzinfo=LONDON).astimezone(UTC)
    end = datetime.combine(to_date + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(UTC)
    return start, end


def period_key(group_by: GroupBy, at: datetime) -> str:
    d = at.astimezone(LONDON).date()
    return period_of(group_by, d)


def period_of(group_by: GroupBy, d: date) -> str:
    if group_by is GroupBy.week:
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    if group_by is GroupBy.month:
        return f"{d.year}-{d.month:02d}"
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


TIME_GROUPS = (GroupBy.week, GroupBy.month, GroupBy.quarter)


def attribute_key(value: str | None, group_by: GroupBy) -> str:
    if value:
        return value
    return "undecided" if group_by is GroupBy.outcome else "unknown"


def nearest_rank(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return _r(ordered[rank - 1])


def mean(values: Sequence[float]) -> float | None:
    return _r(sum(values) / len(values)) if values else None


def _r(value: float) -> float:
    return round(float(value), 2)


def pct(part: int, whole: int) -> float | None:
    return _r(100 * part / whole) if whole else None


def grouped(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    groups: dict[str, list[T]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return dict(sorted(groups.items()))


def one_year_before(at: datetime) -> datetime:
    try:
        return at.replace(year=at.year - 1)
    except ValueError:  # 29 February
        return at.replace(year=at.year - 1, day=28)


async def freshness(session: AsyncSession, consumers: Sequence[FeedConsumer]) -> Freshness:
    feeds: list[FeedFreshness] = []
    for consumer in consumers:
        position_row = (
            await session.execute(
                select(consumer.positions.c.position).where(consumer.positions.c.feed == consumer.feed)
            )
        ).first()
        state = await session.get(FeedState, consumer.feed)
        feeds.append(
            FeedFreshness(
                feed=consumer.feed,
                position=int(position_row[0]) if position_row else 0,
                latest_event_recorded_at=state.latest_recorded_at if state else None,
                latest_event_occurred_at=state.latest_occurred_at if state else None,
                skipped_events=state.skipped if state else 0,
            )
        )
    times = [f.latest_event_recorded_at for f in feeds if f.latest_event_recorded_at is not None]
    return Freshness(latest_event_at=max(times) if times else None, feeds=feeds)


class Reports:
    """The measures over one session, with the service's calendar settings."""

    def __init__(self, session: AsyncSession, settings: Settings, fresh: Freshness) -> None:
        self.session = session
        self.settings = settings
        calendar = settings.calendar()
        self.statutory: WorkingCalendar = calendar.statutory()
        self.local: WorkingCalendar = calendar.local()
        self.fresh = fresh

    def _base(self, measure: str, from_date: date, to_date: date, group_by: GroupBy) -> dict[str, Any]:
        return {
            "measure": measure,
            "from_date": from_date,
            "to_date": to_date,
            "group_by": group_by,
            "freshness": self.fresh,
        }

    async def _contacts(self, from_date: date, to_date: date) -> list[ContactFact]:
        start, end = window(from_date, to_date)
        query = (
            select(ContactFact)
            .where(col(ContactFact.received_at) >= start, col(ContactFact.received_at) < end)
            .order_by(col(ContactFact.received_at), col(ContactFact.contact_id))
        )
        return list((await self.session.execute(query)).scalars())

    @staticmethod
    def _contact_key(group_by: GroupBy) -> Callable[[ContactFact], str]:
        if group_by in TIME_GROUPS:
            return lambda c: period_key(group_by, c.received_at)
        attr = {
            GroupBy.area: "area",
            GroupBy.team: "team_id",
            GroupBy.source: "source",
            GroupBy.outcome: "current_outcome",
        }[group_by]
        return lambda c: attribute_key(getattr(c, attr), group_by)

    # -- a. contact to outcome ------------------------------------------------------------------

    async def contact_to_outcome(
        self, from_date: date, to_date: date, group_by: GroupBy, now: datetime
    ) -> ContactToOutcomeReport:
        contacts = await self._contacts(from_date, to_date)
        groups = grouped(contacts, self._contact_key(group_by))
        n = self.settings.decision_within_working_days
        return ContactToOutcomeReport(
            **self._base("contact-to-outcome", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Contacts received (received_at, London) in the range.",
                "decision": "Time from received_at to the FIRST threshold decision: a decision later "
                "superseded still ended the wait; the outcome shown is the CURRENT (non-superseded) one.",
                "authorisation": "Time from received_at to the authorisation of the current decision.",
                "working_hours": "Office hours on England & Wales working days (statutory calendar).",
                "working_days": "Working days from the clock start (the next office opening when received "
                "out of hours) to the decision.",
                "decided_within_timescale": f"Decided by office close on working day {n} of the clock "
                f"({self.settings.counting.value} counting), statutory calendar.",
                "due": "Denominator of the percentage: decided contacts plus undecided ones already past "
                "their deadline.",
                "backdated": f"Recorded more than {self.settings.backdate_threshold_hours:g} hours after "
                "received_at; still measured from received_at.",
            },
            overall=self._c2o_row(ALL, contacts, now),
            groups=[self._c2o_row(k, v, now) for k, v in groups.items()],
        )

    @staticmethod
    def _c2o_row(group: str, contacts: list[ContactFact], now: datetime) -> ContactToOutcomeRow:
        decided = [c for c in contacts if c.first_decided_at is not None]
        authorised = [c for c in decided if c.working_hours_to_authorisation is not None]
        due = len(decided) + sum(
            1 for c in contacts if c.first_decided_at is None and c.decision_due_at < now
        )

        def figures(prefix: str, values: list[float]) -> dict[str, float | None]:
            return {
                f"{prefix}_median": nearest_rank(values, 50),
                f"{prefix}_p90": nearest_rank(values, 90),
                f"{prefix}_mean": mean(values),
            }

        within = sum(1 for c in decided if c.decided_within_timescale)
        return ContactToOutcomeRow(
            group=group,
            contacts=len(contacts),
            backdated=sum(1 for c in contacts if c.backdated),
            decided=len(decided),
            undecided=len(contacts) - len(decided),
            with_superseded_decision=sum(1 for c in contacts if c.decisions > 1),
            due=due,
            decided_within_timescale=within,
            pct_decided_within_timescale=pct(within, due),
            **figures("decision_working_hours", [c.working_hours_to_decision or 0.0 for c in decided]),
            **figures("decision_working_days", [float(c.working_days_to_decision or 0) for c in decided]),
            **figures("decision_calendar_hours", [c.calendar_hours_to_decision or 0.0 for c in decided]),
            authorised=len(authorised),
            awaiting_authorisation=sum(
                1 for c in decided if c.requires_authorisation and c.authorised_at is None
            ),
            **figures(
                "authorisation_working_hours", [c.working_hours_to_authorisation or 0.0 for c in authorised]
            ),
            **figures(
                "authorisation_working_days",
                [float(c.working_days_to_authorisation or 0) for c in authorised],
            ),
            **figures(
                "authorisation_calendar_hours",
                [c.calendar_hours_to_authorisation or 0.0 for c in authorised],
            ),
        )

    # -- b. awaiting decision -------------------------------------------------------------------

    async def awaiting(
        self, from_date: date, to_date: date, group_by: GroupBy, as_of: datetime
    ) -> AwaitingReport:
        start, end = window(from_date, to_date)
        query = (
            select(ContactFact)
            .where(
                col(ContactFact.received_at) >= start,
                col(ContactFact.received_at) < end,
                col(ContactFact.received_at) <= as_of,
                or_(
                    col(ContactFact.first_decided_at).is_(None),
                    col(ContactFact.first_decided_at) > as_of,
                ),
            )
            .order_by(col(ContactFact.received_at), col(ContactFact.contact_id))
        )
        waiting = list((await self.session.execute(query)).scalars())
        items = [
            AwaitingContact(
                contact_id=c.contact_id,
                child_id=c.child_id,
                journey_id=c.journey_id,
                received_at=c.received_at,
                source=c.source,
                urgency=c.urgency,
                team_id=c.team_id,
                area=c.area,
                decision_due_at=c.decision_due_at,
                age_working_hours=_r(self.statutory.working_hours_between(c.received_at, as_of)),
                age_calendar_hours=_r(self.statutory.calendar_hours_between(c.received_at, as_of)),
                breached=as_of > c.decision_due_at,
            )
            for c in waiting
        ]
        by_id = {i.contact_id: i for i in items}
        # Every contact in the queue was undecided at as_of, whatever was decided later.
        key = (lambda _c: "undecided") if group_by is GroupBy.outcome else self._contact_key(group_by)

        def row(group: str, rows: list[AwaitingContact]) -> AwaitingRow:
            ages = [i.age_working_hours for i in rows]
            return AwaitingRow(
                group=group,
                waiting=len(rows),
                breached=sum(1 for i in rows if i.breached),
                age_working_hours_median=nearest_rank(ages, 50),
                age_working_hours_max=max(ages) if ages else None,
            )

        groups = grouped(waiting, key)
        return AwaitingReport(
            **self._base("awaiting-decision", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Contacts received in the range and by as_of with no decision by as_of.",
                "age": "Working hours (statutory calendar) from received_at to as_of.",
                "breached": "as_of is after the statutory decision deadline.",
            },
            as_of=as_of,
            overall=row(ALL, items),
            groups=[row(k, [by_id[c.contact_id] for c in v]) for k, v in groups.items()],
            contacts=items,
        )

    # -- c. handovers ---------------------------------------------------------------------------

    def _journey_key(self, group_by: GroupBy) -> Callable[[JourneyFact], str]:
        if group_by in TIME_GROUPS:
            return lambda j: period_key(group_by, j.opened_at) if j.opened_at else "unknown"
        attr = {
            GroupBy.area: "area",
            GroupBy.team: "team_id",
            GroupBy.source: "source",
            GroupBy.outcome: "outcome",
        }[group_by]
        return lambda j: attribute_key(getattr(j, attr), group_by)

    async def _journeys(self, from_date: date, to_date: date) -> list[JourneyFact]:
        start, end = window(from_date, to_date)
        query = (
            select(JourneyFact)
            .where(col(JourneyFact.opened_at) >= start, col(JourneyFact.opened_at) < end)
            .order_by(col(JourneyFact.opened_at), col(JourneyFact.journey_id))
        )
        return list((await self.session.execute(query)).scalars())

    async def handovers(
        self, from_date: date, to_date: date, group_by: GroupBy, now: datetime
    ) -> HandoverReport:
        journeys = await self._journeys(from_date, to_date)
        per_journey: dict[uuid.UUID, JourneyHandovers] = {}
        for j in journeys:
            hours, days = j.unallocated_hours_closed, j.unallocated_working_days_closed
            if j.unallocated_since is not None and j.closed_at is None:
                hours += self.local.calendar_hours_between(j.unallocated_since, now)
                days += self.local.working_days_between(j.unallocated_since, now)
            per_journey[j.journey_id] = JourneyHandovers(
                journey_id=j.journey_id,
                child_id=j.child_id,
                opened_at=j.opened_at,
                closed_at=j.closed_at,
                handovers=j.transfers,
                team_transfers=j.team_transfers,
                worker_changes=j.worker_changes,
                unallocated_days=_r(hours / 24),
                unallocated_working_days=days,
            )
        key = self._journey_key(group_by)
        groups = grouped(journeys, key)
        start, end = window(from_date, to_date)
        transfers = (
            await self.session.execute(
                select(AllocationFact, JourneyFact)
                .join(JourneyFact, col(JourneyFact.journey_id) == col(AllocationFact.journey_id))
                .where(
                    col(AllocationFact.kind) == "transferred",
                    col(JourneyFact.opened_at) >= start,
                    col(JourneyFact.opened_at) < end,
                )
            )
        ).all()
        reasons: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for allocation, journey in transfers:
            reason = allocation.reason or "unknown"
            for group in (ALL, key(journey)):
                counts = reasons[(group, reason)]
                counts[0] += 1
                counts[1] += int(allocation.team_changed)
                counts[2] += int(allocation.worker_changed)

        def row(group: str, rows: list[JourneyHandovers]) -> HandoverRow:
            figures: dict[str, Any] = {"group": group, "journeys": len(rows)}
            figures["closed"] = sum(1 for r in rows if r.closed_at is not None)
            for name in ("team_transfers", "worker_changes"):
                values = [getattr(r, name) for r in rows]
                for bucket in range(5):
                    figures[f"{name}_{bucket}"] = sum(1 for v in values if v == bucket)
                figures[f"{name}_5_plus"] = sum(1 for v in values if v >= 5)
                figures[f"{name}_mean"] = mean(values)
                figures[f"{name}_median"] = nearest_rank(values, 50)
                figures[f"{name}_max"] = max(values) if values else None
            calendar_days = [r.unallocated_days for r in rows]
            working_days = [r.unallocated_working_days for r in rows]
            figures["unallocated_days_mean"] = mean(calendar_days)
            figures["unallocated_days_median"] = nearest_rank(calendar_days, 50)
            figures["unallocated_days_max"] = max(calendar_days) if calendar_days else None
            figures["unallocated_working_days_mean"] = mean(working_days)
            figures["unallocated_working_days_median"] = nearest_rank(working_days, 50)
            figures["unallocated_working_days_max"] = max(working_days) if working_days else None
            return HandoverRow(**figures)

        ordered_reasons = sorted(reasons.items(), key=lambda kv: (kv[0][0] != ALL, kv[0][0], kv[0][1]))
        return HandoverReport(
            **self._base("handovers", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Journeys whose first contact was received in the range.",
                "team_transfers": "Handovers that changed the team, first contact to closure (or now).",
                "worker_changes": "Handovers that changed the worker; the first allocation is not one.",
                "unallocated": "Time without a named worker: from the first contact to the first "
                "allocation to a worker, plus any later spell a handover left without one, up to "
                "closure or now. Working days use the local calendar (closure days excluded).",
            },
            overall=row(ALL, list(per_journey.values())),
            groups=[row(k, [per_journey[j.journey_id] for j in v]) for k, v in groups.items()],
            reasons=[
                HandoverReason(
                    group=g, reason=reason, handovers=c[0], team_transfers=c[1], worker_changes=c[2]
                )
                for (g, reason), c in ordered_reasons
            ],
            journeys=list(per_journey.values()),
        )

    # -- d. supervision -------------------------------------------------------------------------

    async def supervision(
        self, from_date: date, to_date: date, group_by: GroupBy, today: date
    ) -> SupervisionReport:
        # The last snapshot is the range's last day, but never in the future.
        last_day = max(from_date, min(to_date, today))
        start, end = window(from_date, last_day)
        journeys = list(
            (
                await self.session.execute(
                    select(JourneyFact).where(
                        col(JourneyFact.opened_at) < end,
                        or_(
                            col(JourneyFact.closed_at).is_(None),
                            col(JourneyFact.closed_at) >= start,
                        ),
                    )
                )
            ).scalars()
        )
        held: dict[uuid.UUID, list[SupervisionFact]] = defaultdict(list)
        if journeys:
            rows = await self.session.execute(
                select(SupervisionFact)
                .join(JourneyFact, col(JourneyFact.journey_id) == col(SupervisionFact.journey_id))
                .where(
                    col(SupervisionFact.held_at) < end,
                    col(JourneyFact.opened_at) < end,
                    or_(col(JourneyFact.closed_at).is_(None), col(JourneyFact.closed_at) >= start),
                )
                .order_by(col(SupervisionFact.held_at))
            )
            for s in rows.scalars():
                held[s.journey_id].append(s)

        def snapshot(day: date) -> list[tuple[JourneyFact, OverdueJourney, bool]]:
            """Journeys open at the end of `day`, each with its due date and whether supervised."""
            _, day_end = window(day, day)
            result = []
            for j in journeys:
                if j.opened_at is None or j.opened_at >= day_end:
                    continue
                if j.closed_at is not None and j.closed_at < day_end:
                    continue
                latest = next((s for s in reversed(held[j.journey_id]) if s.held_at < day_end), None)
                interval = self.settings.supervision_interval(j.current_service_type)
                if latest is not None and latest.next_due_on is not None:
                    due = latest.next_due_on
                else:
                    since = latest.held_at if latest is not None else j.opened_at
                    due = self.local.add_working_days(since.astimezone(LONDON).date(), interval)
                overdue_days = self.local.count_working_days(due, day) if day > due else 0
                result.append(
                    (
                        j,
                        OverdueJourney(
                            journey_id=j.journey_id,
                            child_id=j.child_id,
                            team_id=j.current_team_id or j.team_id,
                            service_type=j.current_service_type or "front_door",
                            last_supervised_at=latest.held_at if latest else None,
                            due_on=due,
                            working_days_overdue=overdue_days,
                        ),
                        latest is not None,
                    )
                )
            return result

        def row(
            group: str, day: date, entries: list[tuple[JourneyFact, OverdueJourney, bool]]
        ) -> SupervisionRow:
            overdue = sum(1 for _, o, _s in entries if day > o.due_on)
            return SupervisionRow(
                group=group,
                as_of=day,
                open_journeys=len(entries),
                supervised=sum(1 for *_, s in entries if s),
                within_interval=len(entries) - overdue,
                overdue=overdue,
                pct_within_interval=pct(len(entries) - overdue, len(entries)),
            )

        final = snapshot(last_day)
        groups: list[SupervisionRow] = []
        if group_by in TIME_GROUPS:
            # One snapshot per period, at the period's last day (or the end of the range).
            day = from_date
            seen: dict[str, date] = {}
            while day <= last_day:
                seen[period_of(group_by, day)] = day
                day += timedelta(days=1)
            groups = [row(label, d, snapshot(d)) for label, d in seen.items()]
        else:
            attr = {
                GroupBy.area: lambda j: j.current_area or j.area,
                GroupBy.team: lambda j: j.current_team_id or j.team_id,
                GroupBy.source: lambda j: j.source,
                GroupBy.outcome: lambda j: j.outcome,
            }[group_by]
            by_group = grouped(final, lambda e: attribute_key(attr(e[0]), group_by))
            groups = [row(k, last_day, v) for k, v in by_group.items()]
        return SupervisionReport(
            **self._base("supervision", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Journeys open at the end of the day counted (the range's last day, or "
                "each period's last day when grouped by time); team and area are the allocated ones.",
                "due_on": "next_due_on of the latest supervision; else the policy interval "
                "(working days, local calendar, per service type) after the latest supervision, or "
                "after the first contact when never supervised.",
                "within_interval": "Open journeys whose due date has not passed.",
            },
            overall=row(ALL, last_day, final),
            groups=groups,
            overdue=sorted(
                (o for _, o, _s in final if last_day > o.due_on),
                key=lambda o: (o.due_on, str(o.journey_id)),
            ),
        )

    # -- e. conversion and repeats --------------------------------------------------------------

    async def conversion(self, from_date: date, to_date: date, group_by: GroupBy) -> ConversionReport:
        contacts = await self._contacts(from_date, to_date)
        referrals = [c for c in contacts if c.current_outcome in REFERRAL_OUTCOMES]
        re_referred: set[uuid.UUID] = set()
        if referrals:
            # Earlier referrals of the same children, from 12 months before the first referral in the
            # range: a range scan on received_at, so the cost follows the referrals in that window.
            earliest = one_year_before(referrals[0].received_at)
            history = (
                await self.session.execute(
                    select(
                        col(ContactFact.child_id), col(ContactFact.received_at), col(ContactFact.contact_id)
                    ).where(
                        col(ContactFact.received_at) >= earliest,
                        col(ContactFact.received_at) <= referrals[-1].received_at,
                        col(ContactFact.current_outcome).in_(sorted(REFERRAL_OUTCOMES)),
                    )
                )
            ).all()
            children = {c.child_id for c in referrals}
            previous: dict[uuid.UUID, list[tuple[datetime, uuid.UUID]]] = defaultdict(list)
            for child_id, received_at, contact_id in history:
                if child_id in children:
                    previous[child_id].append((received_at, contact_id))
            for c in referrals:
                since = one_year_before(c.received_at)
                if any(
                    since <= at < c.received_at or (at == c.received_at and cid < c.contact_id)
                    for at, cid in previous[c.child_id]
                    if cid != c.contact_id
                ):
                    re_referred.add(c.contact_id)

        def row(group: str, rows: list[ContactFact]) -> ConversionRow:
            outcomes: dict[str, int] = defaultdict(int)
            for c in rows:
                if c.current_outcome:
                    outcomes[c.current_outcome] += 1
            refs = [c for c in rows if c.current_outcome in REFERRAL_OUTCOMES]
            re = sum(1 for c in refs if c.contact_id in re_referred)
            return ConversionRow(
                group=group,
                contacts=len(rows),
                repeat_contacts=sum(1 for c in rows if c.repeat_contact),
                decided=sum(1 for c in rows if c.current_outcome),
                nfa=outcomes["NFA"],
                info_advice=outcomes["INFO_ADVICE"],
                early_help=outcomes["EARLY_HELP"],
                cin_assessment=outcomes["CIN_ASSESSMENT"],
                strategy_s47=outcomes["STRATEGY_S47"],
                existing_open_case=outcomes["EXISTING_OPEN_CASE"],
                other=outcomes["OTHER"],
                referrals=len(refs),
                pct_contacts_to_referral=pct(len(refs), len(rows)),
                re_referrals=re,
                pct_re_referrals=pct(re, len(refs)),
            )

        groups = grouped(contacts, self._contact_key(group_by))
        return ConversionReport(
            **self._base("conversion", from_date, to_date, group_by),
            definitions={
                **DEFINITIONS_COMMON,
                "population": "Contacts received in the range, by their CURRENT decision's outcome.",
                "referral": "A contact whose current decision is CIN_ASSESSMENT or STRATEGY_S47, dated by "
                "received_at.",
                "re_referral": "A referral of a child with another referral received in the 12 months "
                "before it (same date a year earlier, inclusive), in any journey.",
                "repeat_contacts": "Contacts received while the child's journey was already open.",
            },
            overall=row(ALL, contacts),
            groups=[row(k, v) for k, v in groups.items()],
        )

    # -- f. timeline ----------------------------------------------------------------------------

    async def timeline(self, child_id: uuid.UUID) -> Timeline | None:
        journey_ids: set[uuid.UUID] = set()
        owners: list[tuple[Any, Any]] = [
            (TimelineEntry.journey_id, TimelineEntry.child_id),
            (JourneyFact.journey_id, JourneyFact.child_id),
            (SupervisionFact.journey_id, SupervisionFact.child_id),
        ]
        for journey_column, child_column in owners:
            rows = await self.session.execute(
                select(col(journey_column)).where(col(child_column) == child_id).distinct()
            )
            journey_ids.update(rows.scalars())
        if not journey_ids:
            return None
        entries = (
            await self.session.execute(
                select(TimelineEntry)
                .where(col(TimelineEntry.journey_id).in_(journey_ids))
                .order_by(
                    col(TimelineEntry.occurred_at), col(TimelineEntry.feed), col(TimelineEntry.position)
                )
            )
        ).scalars()
        return Timeline(
            child_id=child_id,
            journeys=sorted(journey_ids, key=str),
            events=[
                TimelineItem(
                    feed=e.feed,
                    position=e.position,
                    journey_id=e.journey_id,
                    type=e.type,
                    occurred_at=e.occurred_at,
                    recorded_at=e.recorded_at,
                    codes=e.codes,
                )
                for e in entries
            ],
            freshness=self.fresh,
        )
