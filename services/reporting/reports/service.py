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

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
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

    # -- SQL aggregation ------------------------------------------------------------------------

    @staticmethod
    def _contact_group_sql(group_by: GroupBy, from_date: date, to_date: date) -> Any:
        """The grouping key as a SQL expression, equal to `_contact_key` for rows in the range.

        Time keys are London periods: a CASE over the UTC instants where the period changes, worked
        out here with `period_of`, so both backends agree with Python exactly (DST included)."""
        if group_by in TIME_GROUPS:
            received = col(ContactFact.received_at)
            day, key = from_date, period_of(group_by, from_date)
            whens: list[tuple[Any, str]] = []
            while day < to_date:
                day += timedelta(days=1)
                next_key = period_of(group_by, day)
                if next_key != key:
                    whens.append((received < window(day, day)[0], key))
                    key = next_key
            return case(*whens, else_=literal(key)) if whens else literal(key)
        column = {
            GroupBy.area: col(ContactFact.area),
            GroupBy.team: col(ContactFact.team_id),
            GroupBy.source: col(ContactFact.source),
            GroupBy.outcome: col(ContactFact.current_outcome),
        }[group_by]
        default = "undecided" if group_by is GroupBy.outcome else "unknown"
        return case((or_(column.is_(None), column == ""), literal(default)), else_=column)

    async def _nearest_ranks(
        self, where: list[Any], group: Any, metrics: dict[str, Any], ps: Sequence[int]
    ) -> tuple[dict[str, dict[int, float]], dict[str, dict[str, dict[int, float]]]]:
        """Nearest-rank percentiles of each metric, overall and per group, in one SQL scan: rank
        ceil(p/100 x n) is (p*n + 99) / 100 in integer arithmetic (equal to the float ceil for every
        n tested up to 3 million), and only the rows at those ranks are returned."""
        scopes = {"all": [], "grp": [group]}
        inner_cols: list[Any] = [group.label("grp")]
        for scope, partition in scopes.items():
            inner_cols.append(func.count().over(partition_by=partition).label(f"n_{scope}"))
            for name, value in metrics.items():
                inner_cols.append(
                    func.row_number().over(partition_by=partition, order_by=value).label(f"rn_{scope}_{name}")
                )
        inner_cols += [value.label(f"v_{name}") for name, value in metrics.items()]
        inner = select(*inner_cols).where(*where).subquery()
        conditions = [
            inner.c[f"rn_{scope}_{name}"] == (p * inner.c[f"n_{scope}"] + 99) // 100
            for scope in scopes
            for name in metrics
            for p in ps
        ]
        rows = (await self.session.execute(select(inner).where(or_(*conditions)))).mappings()
        overall: dict[str, dict[int, float]] = defaultdict(dict)
        groups: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
        for row in rows:
            for scope, into in (("all", overall), ("grp", groups[row["grp"]])):
                n = int(row[f"n_{scope}"])
                for name in metrics:
                    rn = int(row[f"rn_{scope}_{name}"])
                    for p in ps:
                        if rn == max(1, math.ceil(p / 100 * n)):
                            into[name][p] = _r(row[f"v_{name}"])
        return overall, groups

    # -- a. contact to outcome ------------------------------------------------------------------

    async def contact_to_outcome(
        self, from_date: date, to_date: date, group_by: GroupBy, now: datetime
    ) -> ContactToOutcomeReport:
        start, end = window(from_date, to_date)
        in_range = [col(ContactFact.received_at) >= start, col(ContactFact.received_at) < end]
        group = self._contact_group_sql(group_by, from_date, to_date)
        decided = col(ContactFact.first_decided_at).is_not(None)
        authorised = and_(decided, col(ContactFact.working_hours_to_authorisation).is_not(None))

        in_time: Any = ContactFact.decided_within_timescale  # nullable: col() won't type it

        def count_if(condition: Any) -> Any:
            return func.sum(case((condition, 1), else_=0))

        decision = {
            "decision_working_hours": func.coalesce(col(ContactFact.working_hours_to_decision), 0.0),
            "decision_working_days": func.coalesce(col(ContactFact.working_days_to_decision), 0),
            "decision_calendar_hours": func.coalesce(col(ContactFact.calendar_hours_to_decision), 0.0),
        }
        authorisation = {
            "authorisation_working_hours": func.coalesce(
                col(ContactFact.working_hours_to_authorisation), 0.0
            ),
            "authorisation_working_days": func.coalesce(col(ContactFact.working_days_to_authorisation), 0),
            "authorisation_calendar_hours": func.coalesce(
                col(ContactFact.calendar_hours_to_authorisation), 0.0
            ),
        }
        counts = [
            func.count().label("contacts"),
            count_if(col(ContactFact.backdated)).label("backdated"),
            count_if(decided).label("decided"),
            count_if(col(ContactFact.decisions) > 1).label("with_superseded_decision"),
            count_if(and_(~decided, col(ContactFact.decision_due_at) < now)).label("overdue"),
            count_if(and_(decided, in_time.is_(True))).label("within"),
            count_if(authorised).label("authorised"),
            count_if(
                and_(
                    decided,
                    col(ContactFact.requires_authorisation),
                    col(ContactFact.authorised_at).is_(None),
                )
            ).label("awaiting_authorisation"),
            *[func.sum(case((decided, v), else_=None)).label(f"sum_{k}") for k, v in decision.items()],
            *[
                func.sum(case((authorised, v), else_=None)).label(f"sum_{k}")
                for k, v in authorisation.items()
            ],
        ]
        overall = (await self.session.execute(select(*counts).where(*in_range))).mappings().one()
        totals: dict[str, Any] = {}
        for row in (
            await self.session.execute(select(group.label("grp"), *counts).where(*in_range).group_by(group))
        ).mappings():
            totals[row["grp"]] = row
        ps = (50, 90)
        # Percentiles of the whole range (one partition) and of each group.
        overall_ranks: dict[str, dict[int, float]] = {}
        ranks: dict[str, dict[str, dict[int, float]]] = {}
        if overall["contacts"]:
            for where, metrics in ((decided, decision), (authorised, authorisation)):
                whole, by_group = await self._nearest_ranks([*in_range, where], group, metrics, ps)
                overall_ranks.update(whole)
                for key, figures in by_group.items():
                    ranks.setdefault(key, {}).update(figures)
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
            overall=self._c2o_row(ALL, overall, overall_ranks),
            groups=[self._c2o_row(k, totals[k], ranks.get(k, {})) for k in sorted(totals)],
        )

    @staticmethod
    def _c2o_row(group: str, t: Any, ranks: dict[str, dict[int, float]]) -> ContactToOutcomeRow:
        contacts = int(t["contacts"] or 0)
        decided = int(t["decided"] or 0)
        authorised = int(t["authorised"] or 0)
        due = decided + int(t["overdue"] or 0)
        within = int(t["within"] or 0)

        def figures(prefix: str, count: int) -> dict[str, float | None]:
            if not count:
                return {f"{prefix}_median": None, f"{prefix}_p90": None, f"{prefix}_mean": None}
            metric = ranks.get(prefix, {})
            return {
                f"{prefix}_median": metric.get(50),
                f"{prefix}_p90": metric.get(90),
                f"{prefix}_mean": _r(float(t[f"sum_{prefix}"]) / count),
            }

        return ContactToOutcomeRow(
            group=group,
            contacts=contacts,
            backdated=int(t["backdated"] or 0),
            decided=decided,
            undecided=contacts - decided,
            with_superseded_decision=int(t["with_superseded_decision"] or 0),
            due=due,
            decided_within_timescale=within,
            pct_decided_within_timescale=pct(within, due),
            **figures("decision_working_hours", decided),
            **figures("decision_working_days", decided),
            **figures("decision_calendar_hours", decided),
            authorised=authorised,
            awaiting_authorisation=int(t["awaiting_authorisation"] or 0),
            **figures("authorisation_working_hours", authorised),
            **figures("authorisation_working_days", authorised),
            **figures("authorisation_calendar_hours", authorised),
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
        start, end = window(from_date, to_date)
        in_range = [col(ContactFact.received_at) >= start, col(ContactFact.received_at) < end]
        group = self._contact_group_sql(group_by, from_date, to_date)
        outcome = col(ContactFact.current_outcome)
        referral_codes = sorted(str(o) for o in REFERRAL_OUTCOMES)

        def count_if(condition: Any) -> Any:
            return func.sum(case((condition, 1), else_=0))

        outcome_names = {
            "nfa": "NFA",
            "info_advice": "INFO_ADVICE",
            "early_help": "EARLY_HELP",
            "cin_assessment": "CIN_ASSESSMENT",
            "strategy_s47": "STRATEGY_S47",
            "existing_open_case": "EXISTING_OPEN_CASE",
            "other": "OTHER",
        }
        counts = [
            func.count().label("contacts"),
            count_if(col(ContactFact.repeat_contact)).label("repeat_contacts"),
            count_if(and_(outcome.is_not(None), outcome != "")).label("decided"),
            *[count_if(outcome == code).label(name) for name, code in outcome_names.items()],
            count_if(outcome.in_(referral_codes)).label("referrals"),
        ]
        overall = (await self.session.execute(select(*counts).where(*in_range))).mappings().one()
        totals = {
            row["grp"]: row
            for row in (
                await self.session.execute(
                    select(group.label("grp"), *counts).where(*in_range).group_by(group)
                )
            ).mappings()
        }

        # Re-referrals: only pairs of referrals of the same child, the earlier one no earlier than a
        # year before the range, cross the wire (a superset); the exact 12-month rule is applied here.
        re_referred: dict[str, int] = defaultdict(int)
        re_total = 0
        if overall["referrals"]:
            earlier = aliased(ContactFact)
            pairs = await self.session.execute(
                select(
                    group.label("grp"),
                    col(ContactFact.contact_id),
                    col(ContactFact.received_at),
                    col(earlier.contact_id),
                    col(earlier.received_at),
                )
                .join(earlier, col(earlier.child_id) == col(ContactFact.child_id))
                .where(
                    *in_range,
                    outcome.in_(referral_codes),
                    col(earlier.current_outcome).in_(referral_codes),
                    col(earlier.contact_id) != col(ContactFact.contact_id),
                    col(earlier.received_at) >= one_year_before(start),
                    col(earlier.received_at) <= col(ContactFact.received_at),
                )
            )
            found: dict[uuid.UUID, str] = {}
            for grp, contact_id, received_at, cid, at in pairs:
                if contact_id in found:
                    continue
                if one_year_before(received_at) <= at < received_at or (
                    at == received_at and cid < contact_id
                ):
                    found[contact_id] = grp
            for grp in found.values():
                re_referred[grp] += 1
            re_total = len(found)

        def row(group: str, t: Any, re: int) -> ConversionRow:
            contacts = int(t["contacts"] or 0)
            referrals = int(t["referrals"] or 0)
            return ConversionRow(
                group=group,
                contacts=contacts,
                repeat_contacts=int(t["repeat_contacts"] or 0),
                decided=int(t["decided"] or 0),
                **{name: int(t[name] or 0) for name in outcome_names},
                referrals=referrals,
                pct_contacts_to_referral=pct(referrals, contacts),
                re_referrals=re,
                pct_re_referrals=pct(re, referrals),
            )

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
            overall=row(ALL, overall, re_total),
            groups=[row(k, totals[k], re_referred[k]) for k in sorted(totals)],
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
