"""The supervision report as it was computed before its counts were kept per day (issue 8): every
journey open at each snapshot day joined to its latest supervision by then. Kept as the tests'
reference: the kept counts must give exactly what this full scan gives."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, func, literal, or_, outerjoin, select
from sqlmodel import col

from services.reporting.projections.day_index import half_index
from services.reporting.projections.models import JourneyFact, SupervisionFact
from services.reporting.reports.models import GroupBy, OverdueJourney, SupervisionReport, SupervisionRow
from services.reporting.reports.service import (
    ALL,
    SUPERVISION_COUNTS,
    TIME_GROUPS,
    Reports,
    count_if,
    pct,
    period_of,
)
from shared.dates import london_window as window
from shared.working_days import london_date


class ScannedReports(Reports):
    def _scan_sql(self, day: date) -> tuple[Any, list[Any], dict[str, Any]]:
        _, day_end = window(day, day)
        s = SupervisionFact
        latest = (
            select(
                col(s.journey_id),
                col(s.held_at),
                col(s.next_due_on),
                col(s.next_due_half_day),
                col(s.due_base_day),
                func.row_number()
                .over(
                    partition_by=col(s.journey_id),
                    order_by=(col(s.held_at).desc(), col(s.supervision_id).desc()),
                )
                .label("rn"),
            )
            .where(col(s.held_at) < day_end)
            .subquery()
        )
        joined = outerjoin(
            JourneyFact,
            latest,
            and_(latest.c.journey_id == col(JourneyFact.journey_id), latest.c.rn == 1),
        )
        open_then = [
            col(JourneyFact.opened_at) < day_end,
            or_(col(JourneyFact.closed_at).is_(None), col(JourneyFact.closed_at) >= day_end),
        ]
        service_type = func.coalesce(col(JourneyFact.current_service_type), "")
        default = self.settings.supervision_default_interval_working_days
        policy = self.settings.supervision_interval_working_days
        interval: Any = (
            case(*[(service_type == k, v) for k, v in policy.items()], else_=literal(default, Integer))
            if policy
            else literal(default, Integer)
        )
        journey_base: Any = JourneyFact.due_base_day
        explicit = latest.c.next_due_on.is_not(None)
        policy_half = 2 * (func.coalesce(latest.c.due_base_day, journey_base) + interval) - 1
        due_half = case((explicit, latest.c.next_due_half_day), else_=policy_half)
        overdue = or_(
            and_(explicit, latest.c.next_due_on < day),
            and_(~explicit, policy_half < half_index(self.local, day)),
        )
        return (
            joined,
            open_then,
            {
                "supervised": latest.c.journey_id.is_not(None),
                "overdue": overdue,
                "due_half": due_half,
                "held_at": latest.c.held_at,
                "next_due_on": latest.c.next_due_on,
            },
        )

    async def _scan_counts(self, day: date, group: Any = None) -> dict[str, Any]:
        joined, open_then, x = self._scan_sql(day)
        counts = [
            func.count().label("open_journeys"),
            count_if(x["supervised"]).label("supervised"),
            count_if(x["overdue"]).label("overdue"),
        ]
        if group is None:
            query = select(*counts).select_from(joined).where(*open_then)
            return {ALL: (await self.session.execute(query)).mappings().one()}
        query = select(group.label("grp"), *counts).select_from(joined).where(*open_then).group_by(group)
        return {r["grp"]: r for r in (await self.session.execute(query)).mappings()}

    async def supervision(
        self, from_date: date, to_date: date, group_by: GroupBy, today: date, limit: int
    ) -> SupervisionReport:
        last_day = min(to_date, today)

        def row(group: str, day: date | None, t: Any) -> SupervisionRow:
            n = int(t["open_journeys"] or 0) if t else 0
            overdue = int(t["overdue"] or 0) if t else 0
            return SupervisionRow(
                group=group,
                as_of=day,
                open_journeys=n,
                supervised=int(t["supervised"] or 0) if t else 0,
                within_interval=n - overdue,
                overdue=overdue,
                pct_within_interval=pct(n - overdue, n),
            )

        if last_day < from_date:  # no day of the range reached: nothing counted
            return SupervisionReport(
                **self._base("supervision", from_date, to_date, group_by),
                definitions={},
                overall=row(ALL, None, None),
                groups=[],
                overdue=[],
                overdue_total=0,
                limit=limit,
            )
        groups: list[SupervisionRow] = []
        if group_by in TIME_GROUPS:
            final = (await self._scan_counts(last_day))[ALL]
            day = from_date
            seen: dict[str, date] = {}
            while day <= last_day:
                seen[period_of(group_by, day)] = day
                day += timedelta(days=1)
            for label, d in seen.items():
                t = final if d == last_day else (await self._scan_counts(d))[ALL]
                groups.append(row(label, d, t))
        else:
            attributes = {
                GroupBy.area: (col(JourneyFact.current_area), col(JourneyFact.area)),
                GroupBy.team: (col(JourneyFact.current_team_id), col(JourneyFact.team_id)),
                GroupBy.source: col(JourneyFact.source),
                GroupBy.outcome: col(JourneyFact.outcome),
            }
            group = self._group_sql(group_by, from_date, to_date, col(JourneyFact.opened_at), attributes)
            by_group = await self._scan_counts(last_day, group)
            groups = [row(k, last_day, by_group[k]) for k in sorted(by_group)]
            final = {name: sum(int(t[name] or 0) for t in by_group.values()) for name in SUPERVISION_COUNTS}

        joined, open_then, x = self._scan_sql(last_day)
        tie = case((x["due_half"] % 2 == 0, x["next_due_on"]), else_=None)
        listed = await self.session.execute(
            select(JourneyFact, x["held_at"], x["next_due_on"])
            .select_from(joined)
            .where(*open_then, x["overdue"])
            .order_by(x["due_half"], tie, col(JourneyFact.journey_id))
            .limit(limit)
        )
        overdue: list[OverdueJourney] = []
        for j, held_at, next_due_on in listed:
            if next_due_on is not None:
                due = next_due_on
            else:
                since = held_at if held_at is not None else j.opened_at
                interval = self.settings.supervision_interval(j.current_service_type)
                due = self.local.add_working_days(london_date(since), interval)
            overdue.append(
                OverdueJourney(
                    journey_id=j.journey_id,
                    child_id=j.child_id,
                    team_id=j.current_team_id or j.team_id,
                    service_type=j.current_service_type,
                    last_supervised_at=held_at,
                    due_on=due,
                    working_days_overdue=self.local.count_working_days(due, last_day),
                )
            )
        return SupervisionReport(
            **self._base("supervision", from_date, to_date, group_by),
            definitions={},
            overall=row(ALL, last_day, final),
            groups=groups,
            overdue=overdue,
            overdue_total=int(final["overdue"] or 0),
            limit=limit,
        )
