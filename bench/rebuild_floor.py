"""Where a rebuild's time goes: the client's CPU, PostgreSQL's CPU, and PostgreSQL's floor.

Rebuilds the reporting projections on PostgreSQL from generated feeds (as `bench.rebuild` does,
projection only), reading the CPU time of this process and of PostgreSQL (live backends, plus
what the postmaster has collected from backends that ended) around it. Then copies every
projection table's final rows out and back into empty, migrated tables (the same indexes) with one
binary COPY each, twice: how fast PostgreSQL takes in the rows a rebuild ends with, with no Python,
no reads, no upserts of kept counts and no batches. The rebuild can go no faster than that floor;
its distance from the floor is the cost of arriving at those rows batch by batch.

    python -m bench.rebuild_floor [--events 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from typing import Any

import asyncpg

from bench import rebuild
from bench.common import cores, log, postgresql_cpu_seconds, save

DSN = rebuild.PG.replace("postgresql+asyncpg", "postgresql")


async def final_rows() -> dict[str, tuple[bytes, int]]:
    """Each non-empty table's rows as binary COPY data, with its row count."""
    conn = await asyncpg.connect(DSN)
    try:
        tables = [
            r[0]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ]
        rows: dict[str, tuple[bytes, int]] = {}
        for table in tables:
            count = int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))
            if count:
                out = io.BytesIO()
                await conn.copy_from_table(table, output=out, format="binary")
                rows[table] = (out.getvalue(), count)
        return rows
    finally:
        await conn.close()


async def copy_in(rows: dict[str, tuple[bytes, int]]) -> float:
    """Seconds to COPY `rows` into a fresh, migrated database, in one transaction."""
    await rebuild.fresh_database(rebuild.PG)
    conn = await asyncpg.connect(DSN)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for table, (data, _) in rows.items():
                await conn.copy_to_table(table, source=io.BytesIO(data), format="binary")
        return time.perf_counter() - started
    finally:
        await conn.close()


def main(events: int = 200_000) -> dict[str, Any]:
    feeds = rebuild.feed_pages(events)
    pg0, cpu0 = postgresql_cpu_seconds(), time.process_time()
    result = asyncio.run(rebuild.rebuild(rebuild.PG, feeds, rebuild.BATCH_SIZE, rebuild.CATCH_UP_BATCH_SIZE))
    pg1, cpu1 = postgresql_cpu_seconds(), time.process_time()
    total = result["total"]
    log(f"rebuild: {total}; client CPU {cpu1 - cpu0:.1f} s, PostgreSQL CPU {pg1 - pg0:.1f} s")
    rows = asyncio.run(final_rows())
    copies = [asyncio.run(copy_in(rows)) for _ in range(2)]
    log(f"COPY of the final rows: {copies} s for {total['events']} events")
    out = {
        "rebuild": result,
        # The client's includes generating nothing (the feeds are built before) but does include
        # creating and migrating the database, as PostgreSQL's does: about a second each.
        "client_cpu_s": round(cpu1 - cpu0, 2),
        "postgresql_cpu_s": round(pg1 - pg0, 2),
        # Events a second with every core busy at this CPU per event, however the work were split
        # or overlapped: what the rebuild could reach on this machine without doing less work.
        "cores": cores(),
        "cpu_bound_events_per_s": round(cores() * total["events"] / ((cpu1 - cpu0) + (pg1 - pg0))),
        "final_rows": {table: count for table, (_, count) in rows.items()},
        "final_rows_mb": round(sum(len(data) for data, _ in rows.values()) / 1e6, 1),
        "copy_in_s": [round(s, 2) for s in copies],
        "copy_in_events_per_s": [round(total["events"] / s) for s in copies],
    }
    save("rebuild-floor", out, module="rebuild_floor")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="referrals events to generate")
    main(parser.parse_args().events)
