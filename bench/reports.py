"""Benchmarks 3, 4 and 5: reports at scale, rebuild speed, and peak memory of each service.

For each size: fresh PostgreSQL databases; the generator (bench.generator) COPYs N referrals events
(plus the supervision events those journeys produce) straight into the producers' journey logs; the
referrals and supervision services serve their feeds; the reporting projections are rebuilt from
position 0 through the normal consumer (`FeedConsumer.rebuild`, what `frontdoor rebuild` runs) and
timed; then the reporting service runs and every report found in its OpenAPI is called repeatedly
with an analyst token over the whole data range. Peak RSS (VmHWM) of each service is read at the end.

    python -m bench.reports [--sizes 10000 1000000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import httpx

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

RANGE = ("2025-01-01", "2025-12-31")  # the generator's journeys start 2025-01-06 and span < 1 year
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
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds if seconds else 0,
        "feeds": feeds,
    }


def _param_value(param: dict[str, Any], schema: dict[str, Any], journey_id: str) -> Any:
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
        return RANGE[1] if name.endswith("to") or name.endswith("end") else RANGE[0]
    if s.get("format") == "uuid" or name.endswith("_id"):
        return journey_id
    if s.get("type") == "integer":
        return s.get("default", 1)
    return s.get("default", "")


def report_calls(schema: dict[str, Any], journey_id: str) -> list[tuple[str, str, dict[str, Any]]]:
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
                real_path = real_path.replace("{" + p["name"] + "}", str(_param_value(p, schema, journey_id)))
            elif p["in"] == "query" and p.get("required"):
                query[p["name"]] = _param_value(p, schema, journey_id)
        calls.append((f"GET {path}", real_path, query))
    return calls


async def first_journey(urls: dict[str, str]) -> str:
    conn = await pg_connect(db_name(urls["referrals"]))
    try:
        return str(await conn.fetchval("SELECT journey_id FROM journey_events ORDER BY position LIMIT 1"))
    finally:
        await conn.close()


def time_reports(base_url: str, calls: list[tuple[str, str, dict[str, Any]]], repeats: int) -> dict[str, Any]:
    headers = {"Authorization": "Bearer " + token("analyst", sub="bench-analyst")}
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        for label, path, query in calls:
            first = client.get(path, params=query)  # warm-up, and a check that the call is valid
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                r = client.get(path, params=query)
                samples.append((time.perf_counter() - t0) * 1000)
            out[label] = {
                "status": first.status_code,
                "query": query,
                "p50_ms": percentile(samples, 50),
                "p95_ms": percentile(samples, 95),
                "max_ms": max(samples),
                "bytes": len(r.content),
            }
            log(
                f"    {label}: {first.status_code} "
                f"p50 {out[label]['p50_ms']:.1f} ms p95 {out[label]['p95_ms']:.1f} ms"
            )
    return out


def run_size(n: int, repeats: int) -> dict[str, Any]:
    log(f"size {n:,}: creating databases")
    urls = asyncio.run(fresh_service_databases(f"r{n}"))
    try:
        loaded = asyncio.run(load(urls, n))
        log(
            f"  loaded {loaded['referrals']:,} + {loaded['supervision']:,} events in {loaded['seconds']:.0f}s"
        )
        referrals = service_server("referrals", urls)
        supervision = service_server("supervision", urls)
        with running(referrals, supervision):
            rb = asyncio.run(rebuild(urls, referrals.url, supervision.url))
            log(f"  rebuild: {rb['events']:,} events in {rb['seconds']:.1f}s = {rb['events_per_s']:.0f}/s")
            reporting = service_server(
                "reporting",
                urls,
                REPORTING_REFERRALS_URL=referrals.url,
                REPORTING_SUPERVISION_URL=supervision.url,
            )
            with running(reporting):
                schema = httpx.get(f"{reporting.url}/openapi.json").json()
                calls = report_calls(schema, asyncio.run(first_journey(urls)))
                reports = time_reports(reporting.url, calls, repeats)
                memory = {s.name: s.memory() for s in (referrals, supervision, reporting)}
        return {"size": n, "loaded": loaded, "rebuild": rb, "reports": reports, "memory": memory}
    finally:
        asyncio.run(drop_service_databases(urls))


def main(sizes: list[int], repeats: int) -> dict[str, Any]:
    results = [run_size(n, repeats) for n in sizes]
    smallest, largest = results[0], results[-1]
    growth = {
        label: largest["reports"][label]["p95_ms"] / smallest["reports"][label]["p95_ms"]
        for label in largest["reports"]
        if label in smallest["reports"] and smallest["reports"][label]["p95_ms"] > 0
    }
    out = {
        "settings": {"sizes": sizes, "repeats": repeats, "range": RANGE},
        "sizes": results,
        "growth_p95": growth,
        "targets": {"p95_ms_max": 100, "growth_max": 2.0, "rebuild_events_per_s_min": 20_000},
    }
    save("reports", out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    default_sizes = [int(x) for x in os.environ.get("BENCH_SIZES", "10000 1000000").split()]
    parser.add_argument("--sizes", type=int, nargs="+", default=default_sizes)
    parser.add_argument("--repeats", type=int, default=30)
    a = parser.parse_args()
    main(a.sizes, a.repeats)
