"""What the contact counts kept per month save a report: the counts read per day or per month.

Conversion and contact to outcome sum the counts kept for the contacts of a range. Until
rpt_contact_months they summed a row per London day and key of rpt_contact_days: a year by source
is 365 rows per source once every source occurs daily, so the reading grew with the data. Now the
months a range covers whole are read from the month rows and only its edge months' other days from
the day rows (`Reports._day_totals`). This times both readings, alternately, in one process on one
database: a projection-only rebuild of generated feeds (as `bench.rebuild`), on PostgreSQL. The
reading per day is written out here as it was; both must give the same totals.

    python -m bench.contact_months [--events 200000] [--repeats 200]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter, defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select

from bench import rebuild
from bench.common import db_name, drop_database, log, percentile, save
from bench.reports import settle

# (name, grouping, first day, last day): the conversion report's default grouping over the whole
# year of the generated data and over a range with partial edge months; contact to outcome's
# default grouping (month), whose counts are the whole's.
CASES = (
    ("conversion by source, 2025", "source", date(2025, 1, 1), date(2025, 12, 31)),
    ("conversion by source, 2025-01-11 to 2025-12-20", "source", date(2025, 1, 11), date(2025, 12, 20)),
    ("contact to outcome by month, 2025", "month", date(2025, 1, 1), date(2025, 12, 31)),
)


async def per_day(session: Any, group_by: Any, first: date, last: date, names: tuple[str, ...]) -> Any:
    """The totals as the reports read them before the month rows: every day row of the range."""
    from services.reporting.projections.models import ContactDay
    from services.reporting.reports.models import GroupBy
    from services.reporting.reports.service import period_of

    t = ContactDay.__table__  # type: ignore[attr-defined]
    by_time = group_by is GroupBy.month
    grp = t.c.day if by_time else t.c.key
    query = (
        select(grp.label("grp"), *[func.sum(t.c[c]).label(c) for c in names])
        .where(t.c.dimension == ("all" if by_time else group_by.value), t.c.day.between(first, last))
        .group_by(grp)
    )
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for row in (await session.execute(query)).mappings():
        key = period_of(group_by, row["grp"]) if by_time else row["grp"]
        totals[key].update({c: int(row[c] or 0) for c in names})
    return {key: t for key, t in totals.items() if t["contacts"]}


async def measure(url: str, repeats: int) -> dict[str, Any]:
    """Each case's two readings, `repeats` calls each, alternating; their totals compared first."""
    from services.reporting.projections.contact_days import CONVERSION_COUNTS
    from services.reporting.reports.models import Freshness, GroupBy
    from services.reporting.reports.service import Reports
    from services.reporting.settings import Settings
    from shared.db import Database

    database = Database(url)
    settings = Settings(database_url=url, environment="test")
    fresh = Freshness(latest_event_at=None, feeds=[])
    out: dict[str, Any] = {}
    try:
        async with database.read_session() as session:
            reports = Reports(session, settings, fresh)
            for name, grouping, first, last in CASES:
                group_by = GroupBy(grouping)
                readings = {
                    "per_day": lambda g=group_by, a=first, b=last: per_day(
                        session, g, a, b, CONVERSION_COUNTS
                    ),
                    "per_month": lambda g=group_by, a=first, b=last: reports._day_totals(
                        a, b, g, CONVERSION_COUNTS
                    ),
                }
                found = {how: dict(await read()) for how, read in readings.items()}
                if found["per_day"] != found["per_month"]:
                    raise AssertionError(f"{name}: the two readings disagree")
                times: dict[str, list[float]] = {how: [] for how in readings}
                for _ in range(repeats):
                    for how, read in readings.items():
                        t0 = time.perf_counter()
                        await read()
                        times[how].append((time.perf_counter() - t0) * 1000)
                figures = {
                    how: {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95)}
                    for how, ms in times.items()
                }
                out[name] = {
                    **figures,
                    "groups": len(found["per_month"]),
                    "contacts": sum(t["contacts"] for t in found["per_month"].values()),
                    "p50_ratio": round(figures["per_day"]["p50_ms"] / figures["per_month"]["p50_ms"], 2),
                }
                log(f"  {name}: {out[name]}")
    finally:
        await database.dispose()
    return out


def main(events: int = 200_000, repeats: int = 200) -> dict[str, Any]:
    url = rebuild.PG
    log(f"rebuilding {events:,} referrals events into {db_name(url)}")
    try:
        built = asyncio.run(
            rebuild.rebuild(url, rebuild.feed_pages(events), rebuild.BATCH_SIZE, rebuild.CATCH_UP_BATCH_SIZE)
        )
        asyncio.run(settle(url))
        result = {
            "events": built["total"]["events"],
            "repeats": repeats,
            "cases": asyncio.run(measure(url, repeats)),
        }
    finally:
        asyncio.run(drop_database(db_name(url)))
    save("contact-months", result, module="contact_months")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000, help="referrals events (supervision follows)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    main(args.events, args.repeats)
