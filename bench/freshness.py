"""Benchmark 2, freshness: how long after a write commits does reporting's projection show it?

The three services run on PostgreSQL (one uvicorn worker each, reporting's consumers on). This process
drives a steady open-loop load of contacts and threshold decisions at referrals for a fixed time.
An observer polls, every few milliseconds, the referrals journey log (each event's position and
`recorded_at`) and reporting's stored feed position (`consumer_positions`, committed in the same
transaction as the projected rows). An event has "shown" in reporting's contact-to-outcome projection
when reporting's position reaches it. Lag = the first observation covering the position minus
`recorded_at`, which is stamped just before the insert and commit, so the figure slightly
overstates the true lag.

    python -m bench.freshness [--seconds 30] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime
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
from bench.intake import contact_body

POLL_SECONDS = 0.005


def decision_body(received_at: str) -> dict[str, Any]:
    return {
        "outcome": "EARLY_HELP",
        "threshold_level": 2,
        "rationale": "Synthetic benchmark decision: needs are met by early help.",
        "decided_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }


async def drive(base_url: str, seconds: float, rate: float, stats: dict[str, Any]) -> None:
    """Open loop: every 1/rate s start one contact; each created contact gets a decision ~0.5 s later."""
    headers = {"Authorization": "Bearer " + token("practitioner", sub="bench-practitioner", team="FD-WEST")}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30, limits=limits) as client:
        tasks: set[asyncio.Task[None]] = set()

        async def contact(i: int) -> None:
            body = contact_body()
            r = await client.post("/contacts", json=body, headers={"Idempotency-Key": f"fresh-{i}"})
            stats["contacts"][r.status_code] = stats["contacts"].get(r.status_code, 0) + 1
            if r.status_code != 201:
                return
            doc = r.json()
            contact_id = (doc[0] if isinstance(doc, list) else doc.get("contacts", [doc])[0])["id"]
            await asyncio.sleep(0.5)
            d = await client.post(
                f"/contacts/{contact_id}/decisions",
                json=decision_body(body["received_at"]),
                headers={"Idempotency-Key": f"fresh-d-{i}"},
            )
            stats["decisions"][d.status_code] = stats["decisions"].get(d.status_code, 0) + 1

        started = time.monotonic()
        i = 0
        while time.monotonic() - started < seconds:
            i += 1
            task = asyncio.create_task(contact(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(random.expovariate(rate))
        if tasks:
            await asyncio.wait(tasks, timeout=60)


async def observe(urls: dict[str, str], stop: asyncio.Event, lags: list[float], feed: str) -> dict[str, Any]:
    ref = await pg_connect(db_name(urls["referrals"]))
    rep = await pg_connect(db_name(urls["reporting"]))
    pending: list[tuple[int, datetime]] = []
    seen = 0
    try:
        while True:
            rows = await ref.fetch(
                "SELECT position, recorded_at FROM journey_events WHERE position > $1 ORDER BY position", seen
            )
            for row in rows:
                pending.append((row["position"], row["recorded_at"]))
                seen = row["position"]
            applied = await rep.fetchval("SELECT position FROM consumer_positions WHERE feed = $1", feed) or 0
            now = datetime.now(UTC)
            while pending and pending[0][0] <= applied:
                _, recorded = pending.pop(0)
                lags.append((now - recorded).total_seconds() * 1000)
            if stop.is_set() and not pending:
                break
            if stop.is_set() and time.monotonic() > stop_deadline(stop):
                break
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await ref.close()
        await rep.close()
    return {"events": seen, "unseen": len(pending)}


def stop_deadline(stop: asyncio.Event) -> float:
    return getattr(stop, "deadline", time.monotonic() + 30)


async def run(urls: dict[str, str], referrals_url: str, seconds: float, rate: float) -> dict[str, Any]:
    from services.reporting.projections.service import REFERRALS_FEED

    stats: dict[str, Any] = {"contacts": {}, "decisions": {}}
    lags: list[float] = []
    stop = asyncio.Event()
    observer = asyncio.create_task(observe(urls, stop, lags, REFERRALS_FEED))
    await drive(referrals_url, seconds, rate, stats)
    stop.deadline = time.monotonic() + 30  # type: ignore[attr-defined]
    stop.set()
    seen = await observer
    return {"stats": stats, "lags": lags, **seen}


def main(seconds: float = 30, rate: float = 20) -> dict[str, Any]:
    urls = asyncio.run(fresh_service_databases("fresh"))
    try:
        referrals = service_server("referrals", urls)
        supervision = service_server("supervision", urls)
        with running(referrals, supervision):
            reporting = service_server(
                "reporting",
                urls,
                REPORTING_REFERRALS_URL=referrals.url,
                REPORTING_SUPERVISION_URL=supervision.url,
            )
            with running(reporting):
                out = asyncio.run(run(urls, referrals.url, seconds, rate))
    finally:
        asyncio.run(drop_service_databases(urls))
    lags = out.pop("lags")
    result = {
        "settings": {"seconds": seconds, "contacts_per_s": rate, "decisions_per_s": rate, "poll_ms": 5},
        **out,
        "samples": len(lags),
        "lag_ms": {
            "p50": percentile(lags, 50),
            "p99": percentile(lags, 99),
            "max": max(lags) if lags else None,
        },
        "targets": {"p99_ms_max": 1000},
    }
    result["met"] = {"p99": bool(lags) and result["lag_ms"]["p99"] < 1000 and out["unseen"] == 0}
    log(f"freshness: {result['lag_ms']} over {len(lags)} events; {out['stats']}")
    save("freshness", result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20, help="contacts per second (and as many decisions)")
    a = parser.parse_args()
    main(a.seconds, a.rate)
