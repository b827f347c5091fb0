"""Benchmark 1, intake efficiency: `POST /contacts` on referrals vs a bare FastAPI + asyncpg INSERT.

Both apps run at the same time as one uvicorn worker each on PostgreSQL; wrk (a separate process)
drives 32 connections at one of them at a time, alternating which goes first in each round, so both
see the same machine state. The ratio is front door ÷ baseline requests/s within each round.

Each measured run also reads the CPU that the app's worker, PostgreSQL and wrk used per request
(from /proc and wrk's rusage). With every core on such work, no number of workers could serve more
than cores ÷ that total a second: `cpu_bound_rps`, and `ratio_cpu_bound` against the baseline as
measured, which says whether more workers could reach the target on this machine at all.

    python -m bench.intake [--rounds 3] [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    Server,
    cores,
    create_database,
    db_name,
    drop_database,
    drop_service_databases,
    free_port,
    fresh_service_databases,
    log,
    pg_connect,
    postgresql_cpu_seconds,
    run_wrk,
    running,
    save,
    service_server,
    summary,
    token,
    wrk_script,
)

TEAM = "FD-WEST"


def contact_body() -> dict[str, Any]:
    """A typical contact about one new child (synthetic), received an hour ago."""
    received = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    return {
        "new_children": [
            {
                "given_name": "Alex",
                "family_name": "Testchild",
                "date_of_birth": "2016-04-02",
                "sex": "U",
            }
        ],
        "received_at": received.isoformat().replace("+00:00", "Z"),
        "source": "2A",
        "channel": "phone",
        "referrer": {"name": "Sam Example", "organisation": "Example Primary School", "role": "DSL"},
        "concerns_summary": "Synthetic benchmark contact: attendance has dropped and the child seems hungry.",
        "consent": {"status": "given"},
        "urgency": "amber",
    }


def headers() -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Authorization": "Bearer " + token("practitioner", sub="bench-practitioner", team=TEAM),
    }


async def count_rows(db: str, table: str) -> int:
    conn = await pg_connect(db)
    try:
        return int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))
    finally:
        await conn.close()


def cpu_per_request(requests: int, **seconds: float) -> dict[str, float]:
    """Milliseconds of CPU per request spent by each process named (the app's worker, PostgreSQL, wrk),
    and their total."""
    per = {name: 1000 * used / requests for name, used in seconds.items()}
    return {**per, "total": sum(per.values())}


def cpu_bound_rps(cpu_ms: dict[str, float], cores: int) -> float:
    """Requests a second with every core of the machine busy with this work at this CPU per request:
    what any number of workers could reach here, whatever else bounds one worker."""
    return cores * 1000 / cpu_ms["total"]


def measured_run(server: Server, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run at `server`, with the CPU that its worker, PostgreSQL and wrk used per request."""
    assert server.proc is not None
    worker, postgresql = server.cpu_seconds(), postgresql_cpu_seconds()
    result = run_wrk(server.url, script, connections=connections, seconds=seconds)
    result["cpu_ms_per_request"] = cpu_per_request(
        max(result["requests"], 1),
        worker=server.cpu_seconds() - worker,
        postgresql=postgresql_cpu_seconds() - postgresql,
        wrk=result["wrk_cpu_s"],
    )
    return result


def check_all_created(written: int, answered: int, runs: int, connections: int) -> None:
    """Every request wrk counted must have created a contact: an idempotent replay (a key sent again)
    is also a 2xx to wrk, but does none of the work this benchmark is about. wrk stops counting with
    up to `connections` requests of each run still in flight, which the service may still complete."""
    if not answered <= written <= answered + runs * connections:
        raise RuntimeError(
            f"{written} contacts written for {answered} requests answered in {runs} runs: "
            "requests were replayed or lost, so the figures are not of creating contacts"
        )


def main(
    rounds: int = 3,
    seconds: float = 10,
    connections: int = 32,
    factory: str = "services.referrals.main:create",
    name: str = "intake",
    warmup: float = 30,
) -> dict[str, Any]:
    urls = asyncio.run(fresh_service_databases("intake"))
    baseline_db = db_name(urls["referrals"]).replace("_referrals", "_baseline")
    asyncio.run(create_database(baseline_db))
    referrals = service_server("referrals", urls)
    referrals.target = factory
    baseline = Server(
        "baseline",
        "bench.baseline_app:create",
        free_port(),
        {"BENCH_BASELINE_DSN": f"postgresql://postgres@127.0.0.1:5432/{baseline_db}"},
    )
    body = contact_body()
    script = wrk_script("/contacts", body, headers())
    runs: dict[str, list[dict[str, Any]]] = {"frontdoor": [], "baseline": []}
    ratios: list[float] = []
    ratio_ceilings: list[float] = []
    machine_cores = cores()
    try:
        with running(referrals, baseline):
            # Warm both, results discarded. Not just imports and pools: the front door's CPU per contact
            # keeps falling for about a minute of load (PostgreSQL's per-connection caches and plans
            # for a dozen statements on each of 30 connections, the tables' first pages), so a few
            # seconds measured a service just started rather than one that has been running.
            answered = 0  # by the front door, warm-up included
            for server in (referrals, baseline):
                warm = run_wrk(server.url, script, connections=connections, seconds=warmup)
                answered += warm["requests"] if server is referrals else 0
            for r in range(rounds):
                order = [("frontdoor", referrals), ("baseline", baseline)]
                if r % 2:
                    order.reverse()
                this: dict[str, dict[str, Any]] = {}
                for app, server in order:
                    result = measured_run(server, script, connections, seconds)
                    log(
                        f"round {r + 1} {app}: {result['rps']:.0f} req/s p50 {result['p50_ms']:.1f} ms "
                        f"p99 {result['p99_ms']:.1f} ms errors {result['errors']}"
                    )
                    runs[app].append(result)
                    this[app] = result
                    answered += result["requests"] if app == "frontdoor" else 0
                ratios.append(this["frontdoor"]["rps"] / this["baseline"]["rps"])
                ceiling = cpu_bound_rps(this["frontdoor"]["cpu_ms_per_request"], machine_cores)
                ratio_ceilings.append(ceiling / this["baseline"]["rps"])
            memory = {"referrals": referrals.memory(), "baseline": baseline.memory()}
        contacts = asyncio.run(count_rows(db_name(urls["referrals"]), "contacts"))
        check_all_created(contacts, answered, rounds + 1, connections)
    finally:
        asyncio.run(drop_service_databases(urls))
        asyncio.run(drop_database(baseline_db))

    def figures(app: str) -> dict[str, Any]:
        rs = runs[app]
        return {
            "rps": summary([x["rps"] for x in rs]),
            "p50_ms": summary([x["p50_ms"] for x in rs]),
            "p99_ms": summary([x["p99_ms"] for x in rs]),
            "errors": sum(x["errors"] for x in rs),
            "cpu_ms_per_request": {
                name: summary([x["cpu_ms_per_request"][name] for x in rs])
                for name in ("worker", "postgresql", "wrk", "total")
            },
            "cpu_bound_rps": summary([cpu_bound_rps(x["cpu_ms_per_request"], machine_cores) for x in rs]),
        }

    result = {
        "settings": {
            "rounds": rounds,
            "seconds": seconds,
            "connections": connections,
            "factory": factory,
            "warmup_seconds": warmup,
        },
        "frontdoor": figures("frontdoor"),
        "baseline": figures("baseline"),
        "ratio": summary(ratios),
        # The front door with every core at work on contacts (any number of workers), against the
        # baseline's one worker as measured: the most that adding workers could give on this machine.
        "cores": machine_cores,
        "ratio_cpu_bound": summary(ratio_ceilings),
        "contacts_written": contacts,
        "every_request_created": True,  # or check_all_created would have stopped the run
        "memory": memory,
        "runs": runs,
        "body": body,
        "targets": {
            "ratio_min": 0.35,
            "p99_ms_max": 50,
        },
    }
    result["met"] = {
        "ratio": result["ratio"]["median"] >= 0.35,
        "p99": result["frontdoor"]["p99_ms"]["median"] < 50,
    }
    save(name, result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--factory", default="services.referrals.main:create", help="uvicorn app factory")
    parser.add_argument("--name", default="intake", help="result name (bench/results/<name>.json)")
    parser.add_argument("--warmup", type=float, default=30, help="seconds of discarded load per app first")
    a = parser.parse_args()
    out = main(a.rounds, a.seconds, a.connections, a.factory, a.name, a.warmup)
    print({k: out[k] for k in ("frontdoor", "baseline", "ratio", "met")})
