"""Benchmarks 3, 4 and 5: reports at scale, rebuild speed, and peak memory of each service.

1. Fresh PostgreSQL databases; the generator (bench.generator) COPYs `--base` referrals events (plus
   the supervision events those journeys produce) straight into the producers' journey logs.
2. Rebuild (benchmark 4): referrals and supervision serve their feeds; every reporting projection is
   reset and replayed from position 0 through the normal consumer (`FeedConsumer.rebuild`, what
   `frontdoor rebuild` runs), timed, with the SQL statements it issues counted.
3. Reports (benchmark 3): the reporting service runs and every report in its OpenAPI is called
   `--repeats` times (analyst token, whole data range). Then the projection is scaled up by cloning
   its own rows (produced by the projection code above) with fresh ids — every uuid column mapped
   through md5(id || round), so joins between projection tables hold — doubling until the next
   `--contacts` checkpoint, and the reports are timed again. Dates are kept, so the same year
   simply holds more children. (Projecting millions of events through the consumer is far beyond
   this window at the measured rebuild speed; see BENCHMARKS.md.)
4. Peak RSS (benchmark 5, VmHWM) of each service is read at the end.

    python -m bench.reports [--base 10000] [--contacts 200000 1000000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import date
from typing import Any

import httpx
import sqlalchemy as sa

from bench.common import (
    db_name,
    drop_service_databases,
    fresh_service_databases,
    log,
    percentile,
    pg_connect,
    running,
    save,
    service_server,
    token,
)
from bench.generator import load

RANGE = ("2025-01-01", "2025-12-31")  # the generator's journeys start from 2025-01-06 over ~347 days
COMPARED = {"a_": ("2025-01-01", "2025-06-30"), "b_": ("2025-07-01", "2025-12-31")}
# Contact to outcome takes its percentiles from durations counted per month when grouped by month
# or quarter (the default grouping), reading those counted per day on the fewer days of each
# partial edge month; by week from those counted per week (and per day for a partial week); by a
# key from those counted per key and month, and per key and day on a partial edge month's fewer
# days; by day of the week from those counted per month and weekday, and per day on a partial
# edge month's fewer days. These calls time a
# key (team) over whole months and not, the week, the day of the week, and ranges that are not
# whole months: one day off each end, and one whose edge holds about half of the contacts (the most
# an edge can read).
OTHER_SHAPES = {
    "GET /reports/contact-to-outcome?group_by=team": {"from": RANGE[0], "to": RANGE[1], "group_by": "team"},
    "GET /reports/contact-to-outcome?group_by=week": {"from": RANGE[0], "to": RANGE[1], "group_by": "week"},
    # Counted per month and weekday: seven rows' worth a month, where the days are thirty.
    "GET /reports/contact-to-outcome?group_by=day_of_week": {
        "from": RANGE[0],
        "to": RANGE[1],
        "group_by": "day_of_week",
    },
    "GET /reports/contact-to-outcome?group_by=team&from=2025-01-11&to=2025-12-20": {
        "from": "2025-01-11",
        "to": "2025-12-20",
        "group_by": "team",
    },
    # Not whole months, but every contact of the data (whose first journeys open on 2025-01-06).
    "GET /reports/contact-to-outcome?from=2025-01-02&to=2025-12-30": {
        "from": "2025-01-02",
        "to": "2025-12-30",
    },
    # January is taken whole and its 1st to 10th taken off, December likewise and its 21st to 31st:
    # each edge reads ten or eleven days' counts (an edge month reads at most half its days).
    "GET /reports/contact-to-outcome?from=2025-01-11&to=2025-12-20": {
        "from": "2025-01-11",
        "to": "2025-12-20",
    },
    # Handovers keep counts per month of the first contact, for the whole and per key, and the same
    # per day: grouped by a key, whole months read the month rows; a range that is not whole months
    # reads them too, with the day rows of its edges (January taken whole and its 1st to 10th taken
    # off, December likewise and its 21st to 31st), as contact to outcome does. By week it reads the
    # whole's counts per ISO week, and the day rows of the year's partial first and last weeks.
    "GET /reports/handovers?group_by=team": {"from": RANGE[0], "to": RANGE[1], "group_by": "team"},
    "GET /reports/handovers?from=2025-01-11&to=2025-12-20": {"from": "2025-01-11", "to": "2025-12-20"},
    "GET /reports/handovers?group_by=week": {"from": RANGE[0], "to": RANGE[1], "group_by": "week"},
}
# The worst case for the durations counted per month: in the clone, a month has the durations the
# generator drew (whole calendar hours among them), and cloning only doubles their counts. Real
# times, to the second, fill far more of the tenths of an hour, so the last size is timed again with
# every tenth of an hour from 0 to PADDED_HOURS (and every working day to PADDED_DAYS) counted in
# every month of the range: about twice what a month of 80,000 real contacts could hold.
PADDED_HOURS, PADDED_DAYS = 300, 100
SKIP_TAGS = {"operations", "journey events", "admin", "audit"}


async def rebuild(urls: dict[str, str], referrals_url: str, supervision_url: str) -> dict[str, Any]:
    """Rebuild every reporting projection from zero, in this process, as `frontdoor rebuild` does."""
    from services.reporting.main import build_service
    from services.reporting.settings import Settings

    settings = Settings(
        database_url=urls["reporting"],
        referrals_url=referrals_url,
        supervision_url=supervision_url,
        environment="test",
    )
    service = build_service(settings)
    statements = [0]

    @sa.event.listens_for(service.db.engine.sync_engine, "after_cursor_execute")
    def _count(*_: Any) -> None:
        statements[0] += 1

    feeds: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        for consumer in service.consumers:
            t0 = time.perf_counter()
            applied = await consumer.rebuild()
            feeds[consumer.feed] = {
                "applied": applied,
                "position": consumer.status.position,
                "seconds": time.perf_counter() - t0,
            }
    finally:
        for consumer in service.consumers:
            await consumer.close()
        await service.db.dispose()
    seconds = time.perf_counter() - started
    events = sum(f["position"] for f in feeds.values())
    return {
        "statements": statements[0],
        "statements_per_event": statements[0] / events if events else 0,
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds if seconds else 0,
        "feeds": feeds,
    }


def _param_value(param: dict[str, Any], schema: dict[str, Any], ids: dict[str, str]) -> Any:
    name = param["name"].lower()
    s = param.get("schema", {})
    if "$ref" in s:
        s = schema["components"]["schemas"][s["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in s:
        s = next((x for x in s["anyOf"] if x.get("type") != "null"), s["anyOf"][0])
        if "$ref" in s:
            s = schema["components"]["schemas"][s["$ref"].rsplit("/", 1)[1]]
    if "enum" in s:
        return s["enum"][0]
    if s.get("format") == "date":
        # A comparison gets two different periods (the halves of the range), so both are computed.
        first, last = COMPARED.get(name[:2], RANGE)
        return last if name.endswith("to") or name.endswith("end") else first
    if s.get("format") == "uuid" or name.endswith("_id"):
        return ids.get(name, next(iter(ids.values())))
    if s.get("type") == "integer":
        return s.get("default", 1)
    return s.get("default", "")


def report_calls(schema: dict[str, Any], ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, path, query) for every GET report in the OpenAPI, required parameters filled in."""
    calls = []
    for path, ops in sorted(schema["paths"].items()):
        op = ops.get("get")
        if (
            op is None
            or SKIP_TAGS.intersection(op.get("tags", []))
            or path.startswith(("/health", "/metrics"))
        ):
            continue
        query: dict[str, Any] = {}
        real_path = path
        for p in op.get("parameters", []):
            if p["in"] == "path":
                real_path = real_path.replace("{" + p["name"] + "}", str(_param_value(p, schema, ids)))
            elif p["in"] == "query" and p.get("required"):
                query[p["name"]] = _param_value(p, schema, ids)
        calls.append((f"GET {path}", real_path, query))
    calls += [(label, label.split()[1].split("?")[0], query) for label, query in OTHER_SHAPES.items()]
    return calls


async def first_journey(urls: dict[str, str]) -> dict[str, str]:
    """Ids of the first journey in the referrals log, for reports that take a path id."""
    conn = await pg_connect(db_name(urls["referrals"]))
    try:
        row = await conn.fetchrow(
            "SELECT journey_id, payload->>'child_id' AS child_id FROM journey_events"
            " ORDER BY position LIMIT 1"
        )
        return {"journey_id": str(row["journey_id"]), "child_id": str(row["child_id"])}
    finally:
        await conn.close()


def time_reports(
    base_url: str, calls: list[tuple[str, str, dict[str, Any]]], repeats: int, budget_s: float = 20.0
) -> dict[str, Any]:
    """Call each report `repeats` times sequentially, but stop a report after `budget_s` seconds of
    calls (at least 2 samples after the warm-up), so very slow reports at large sizes still finish."""
    headers = {"Authorization": "Bearer " + token("analyst", sub="bench-analyst")}
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=600) as client:
        for label, path, query in calls:
            t0 = time.perf_counter()
            first = client.get(path, params=query)  # warm-up, and a check that the call is valid
            warm_ms = (time.perf_counter() - t0) * 1000
            samples: list[float] = []
            spent = 0.0
            r = first
            while len(samples) < repeats and (len(samples) < 2 or spent < budget_s):
                t0 = time.perf_counter()
                r = client.get(path, params=query)
                samples.append((time.perf_counter() - t0) * 1000)
                spent += samples[-1] / 1000
            out[label] = {
                "status": first.status_code,
                "query": query,
                "n": len(samples),
                "warm_up_ms": warm_ms,
                "p50_ms": percentile(samples, 50),
                "p95_ms": percentile(samples, 95),
                "max_ms": max(samples),
                # Every call, in order, so any other percentile can be read off later.
                "samples_ms": [round(ms, 2) for ms in samples],
                "bytes": len(r.content),
            }
            log(
                f"    {label}: {first.status_code} n={len(samples)} "
                f"p50 {out[label]['p50_ms']:.1f} ms p95 {out[label]['p95_ms']:.1f} ms"
            )
    return out


# Run before every timing (after the rebuild, each clone and the padding), so the reports are timed
# on a projection as it stands after growing over months, not in the wake of the benchmark's own
# bulk writes: vacuumed as it grew (the visibility map set, so index-only scans skip the table), and
# its pages written out. Otherwise the timings depend on when autovacuum and the checkpointer get to
# it: on 2026-12-07 the checkpoint behind the clone to 923,424 contacts wrote through the whole
# timing at that size (bench/NOTES.md). CHECKPOINT returns when those pages are written.
BEFORE_TIMING = ("VACUUM ANALYZE", "CHECKPOINT")


async def settle(url: str, *tables: str) -> None:
    """`BEFORE_TIMING` on a database: its `tables`, or all of them, vacuumed and analysed."""
    conn = await pg_connect(db_name(url))
    try:
        for table in tables or ("",):
            await conn.execute(f"{BEFORE_TIMING[0]} {table}")
        await conn.execute(BEFORE_TIMING[1])
    finally:
        await conn.close()


async def clone_projection(url: str, round_no: int) -> dict[str, int]:
    """Double every projection table (except per-feed bookkeeping) with ids mapped by md5(id || round)."""
    from services.reporting.db import metadata

    conn = await pg_connect(db_name(url))
    counts: dict[str, int] = {}
    try:
        for table in metadata.sorted_tables:
            # The newly-qualified register is keyed by worker id, which the clones keep: left as it is.
            if not table.name.startswith("rpt_") or table.name in ("rpt_feed_state", "rpt_newly_qualified"):
                continue
            if any(isinstance(c.type, sa.Uuid) for c in table.columns):
                cols = [
                    f"md5({c.name}::text || ':{round_no}')::uuid" if isinstance(c.type, sa.Uuid) else c.name
                    for c in table.columns
                ]
                names = ", ".join(c.name for c in table.columns)
                statement = f"INSERT INTO {table.name} ({names}) SELECT {', '.join(cols)} FROM {table.name}"
            else:
                # Counts kept per day and key (rpt_contact_days): the clones fall on the same days
                # and keys, so each count doubles.
                doubled = [f"{c.name} = 2 * {c.name}" for c in table.columns if not c.primary_key]
                statement = f"UPDATE {table.name} SET {', '.join(doubled)}"
            await conn.execute(statement)
            counts[table.name] = int(await conn.fetchval(f"SELECT count(*) FROM {table.name}"))
    finally:
        await conn.close()
    await settle(url)
    return counts


async def pad_duration_months(url: str) -> dict[str, int]:
    """Count every tenth of an hour up to PADDED_HOURS and every working day up to PADDED_DAYS once
    more in each month of RANGE, for each duration (and in its band of ten values), for the whole
    and for each team key the data has; returns the value rows the whole's and the keys' tables then
    hold."""
    from services.reporting.projections.contact_days import BAND, DURATIONS, HOUR_DURATIONS

    months = "generate_series($2::date, $3::date, interval '1 month') AS m"
    teams = "(SELECT DISTINCT key FROM rpt_contact_days WHERE dimension = 'team') AS k"
    conn = await pg_connect(db_name(url))
    try:
        for name in DURATIONS:
            top = PADDED_HOURS * 10 if name in HOUR_DURATIONS else PADDED_DAYS
            args = (name, date.fromisoformat(RANGE[0]), date.fromisoformat(RANGE[1]), top)
            await conn.execute(
                "INSERT INTO rpt_contact_duration_months (metric, value, month, contacts)"
                f" SELECT $1, v, m::date, 1 FROM {months}, generate_series(0, $4) AS v"
                " ON CONFLICT (metric, value, month)"
                " DO UPDATE SET contacts = rpt_contact_duration_months.contacts + 1",
                *args,
            )
            await conn.execute(
                "INSERT INTO rpt_contact_duration_bands (month, metric, band, contacts)"
                f" SELECT m::date, $1, v / {BAND}, count(*) FROM {months}, generate_series(0, $4) AS v"
                " GROUP BY 1, 3"
                " ON CONFLICT (month, metric, band)"
                " DO UPDATE SET contacts = rpt_contact_duration_bands.contacts + excluded.contacts",
                *args,
            )
            await conn.execute(
                "INSERT INTO rpt_contact_duration_key_months (dimension, metric, key, value, month, contacts)"
                f" SELECT 'team', $1, k.key, v, m::date, 1"
                f" FROM {months}, {teams}, generate_series(0, $4) AS v"
                " ON CONFLICT (dimension, metric, key, value, month)"
                " DO UPDATE SET contacts = rpt_contact_duration_key_months.contacts + 1",
                *args,
            )
            await conn.execute(
                "INSERT INTO rpt_contact_duration_key_bands (dimension, month, metric, key, band, contacts)"
                f" SELECT 'team', m::date, $1, k.key, v / {BAND}, count(*)"
                f" FROM {months}, {teams}, generate_series(0, $4) AS v"
                " GROUP BY 2, 4, 5"
                " ON CONFLICT (dimension, month, metric, key, band)"
                " DO UPDATE SET contacts = rpt_contact_duration_key_bands.contacts + excluded.contacts",
                *args,
            )
        rows = {
            table: int(await conn.fetchval(f"SELECT count(*) FROM rpt_contact_duration_{table}"))
            for table in ("months", "key_months")
        }
    finally:
        await conn.close()
    await settle(url, *(f"rpt_contact_duration_{t}" for t in ("months", "bands", "key_months", "key_bands")))
    return rows


async def projected_contacts(url: str) -> int:
    conn = await pg_connect(db_name(url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM rpt_contacts"))
    finally:
        await conn.close()


def main(base: int, checkpoints: list[int], repeats: int, name: str = "reports") -> dict[str, Any]:
    log(f"base {base:,} referrals events: creating databases")
    urls = asyncio.run(fresh_service_databases("reports"))
    sizes: list[dict[str, Any]] = []
    try:
        loaded = asyncio.run(load(urls, base))
        log(
            f"  loaded {loaded['referrals']:,} + {loaded['supervision']:,} events in {loaded['seconds']:.0f}s"
        )
        referrals = service_server("referrals", urls)
        supervision = service_server("supervision", urls)
        with running(referrals, supervision):
            rb = asyncio.run(rebuild(urls, referrals.url, supervision.url))
            log(
                f"  rebuild: {rb['events']:,} events in {rb['seconds']:.1f}s = {rb['events_per_s']:.0f}/s, "
                f"{rb['statements_per_event']:.1f} SQL statements per event"
            )
            asyncio.run(settle(urls["reporting"]))
            reporting = service_server(
                "reporting",
                urls,
                REPORTING_REFERRALS_URL=referrals.url,
                REPORTING_SUPERVISION_URL=supervision.url,
            )
            with running(reporting):
                schema = httpx.get(f"{reporting.url}/openapi.json").json()
                calls = report_calls(schema, asyncio.run(first_journey(urls)))
                contacts = asyncio.run(projected_contacts(urls["reporting"]))
                round_no = 0
                targets = [contacts, *[c for c in checkpoints if c > contacts]]
                for target in targets:
                    rows: dict[str, int] = {}
                    while contacts < target:
                        round_no += 1
                        t0 = time.perf_counter()
                        rows = asyncio.run(clone_projection(urls["reporting"], round_no))
                        contacts = rows["rpt_contacts"]
                        log(
                            f"  cloned round {round_no}: {contacts:,} contacts "
                            f"({time.perf_counter() - t0:.0f}s)"
                        )
                    log(f"  reports at {contacts:,} contacts")
                    sizes.append(
                        {
                            "contacts": contacts,
                            "cloned": round_no > 0,
                            "rows": rows,
                            "reports": time_reports(reporting.url, calls, repeats),
                        }
                    )
                    # Saved after every checkpoint, so a run cut short still leaves its figures.
                    memory = {s.name: s.memory() for s in (referrals, supervision, reporting)}
                    out = _result(base, checkpoints, repeats, loaded, rb, sizes, memory)
                    out["partial"] = target != targets[-1]
                    save(name, out)
                rows_now = asyncio.run(pad_duration_months(urls["reporting"]))
                log(
                    f"  durations padded: {rows_now['months']:,} month rows,"
                    f" {rows_now['key_months']:,} by key"
                )
                kept = (
                    "GET /reports/contact-to-outcome",
                    "GET /reports/compare",
                    "GET /reports/contact-to-outcome?group_by=team",
                )
                padded = [c for c in calls if c[0] in kept]
                out["padded"] = {
                    "contacts": contacts,
                    "hours": PADDED_HOURS,
                    "days": PADDED_DAYS,
                    "duration_rows": rows_now["months"],
                    "key_duration_rows": rows_now["key_months"],
                    "reports": time_reports(reporting.url, padded, repeats),
                }
                save(name, out)
    finally:
        asyncio.run(drop_service_databases(urls))
    return out


def _result(
    base: int,
    checkpoints: list[int],
    repeats: int,
    loaded: dict[str, Any],
    rb: dict[str, Any],
    sizes: list[dict[str, Any]],
    memory: dict[str, Any],
) -> dict[str, Any]:
    smallest, largest = sizes[0], sizes[-1]
    growth = {
        label: largest["reports"][label]["p95_ms"] / smallest["reports"][label]["p95_ms"]
        for label in largest["reports"]
        if label in smallest["reports"] and smallest["reports"][label]["p95_ms"] > 0
    }
    return {
        "settings": {
            "base_events": base,
            "checkpoints": checkpoints,
            "repeats": repeats,
            "range": RANGE,
            "compared": COMPARED,
            "before_timing": BEFORE_TIMING,
        },
        "loaded": loaded,
        "rebuild": rb,
        "sizes": sizes,
        "growth_p95": growth,
        "memory": memory,
        "targets": {"p95_ms_max": 100, "growth_max": 2.0, "rebuild_events_per_s_min": 20_000},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=int, default=10_000, help="referrals events projected by the consumer")
    default = [int(x) for x in os.environ.get("BENCH_CONTACTS", "200000 1000000").split()]
    parser.add_argument("--contacts", type=int, nargs="+", default=default, help="contact checkpoints")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--name", default="reports", help="result name (bench/results/<name>.json)")
    a = parser.parse_args()
    main(a.base, a.contacts, a.repeats, a.name)
