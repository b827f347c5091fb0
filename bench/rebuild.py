"""Rebuild speed of the reporting projections alone, on PostgreSQL and on SQLite.

The generator (bench.generator) produces about `--events` referrals events (plus the supervision
events of those journeys); an in-memory feed (an httpx MockTransport answering `GET /events` like the
producers do, pages of `limit` after `after`) serves them, and both reporting consumers rebuild from
position 0 through the normal `FeedConsumer.rebuild`, timed, with the SQL statements counted. The
producers' own work is left out on purpose: this measures what reporting spends per event. So each
event is JSON-encoded once before timing (a page is then a join of bytes, not an encode per request),
and the generated feeds are moved out of the garbage collector's sight (`gc.freeze`): they stand for
data that lives in the producers' processes, and scanning them would bill reporting's collections for
the producers' memory.

    python -m bench.rebuild [--events 20000] [--backend postgres sqlite]
        [--batch-size 500] [--catch-up-batch-size 5000] [--rebuild-batch-size 20000]

Run it on a checkout of main for the "before" figure (the file has no dependency on the change).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import db_name, save
from bench.generator import COLUMNS, batches
from shared.settings import ServiceSettings

# The consumers' own page sizes unless told otherwise.
BATCH_SIZE: int = ServiceSettings.model_fields["consumer_batch_size"].default
CATCH_UP_BATCH_SIZE: int = ServiceSettings.model_fields["consumer_catch_up_batch_size"].default
REBUILD_BATCH_SIZE: int = ServiceSettings.model_fields["consumer_rebuild_batch_size"].default

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_rebuild_reporting"


def feed_pages(referrals_events: int) -> dict[str, list[dict[str, Any]]]:
    """The generated events as the two feeds publish them (JSON-ready envelopes, positions from 1)."""
    feeds: dict[str, list[dict[str, Any]]] = {"referrals": [], "supervision": []}
    for ref_rows, sup_rows, _ in batches(referrals_events):
        for name, rows in (("referrals", ref_rows), ("supervision", sup_rows)):
            for row in rows:
                envelope = dict(zip(COLUMNS, row, strict=True))
                envelope["position"] = len(feeds[name]) + 1
                feeds[name].append(json.loads(json.dumps(envelope, default=str)))
    return feeds


def transport(events: list[dict[str, Any]]) -> httpx.MockTransport:
    encoded = [json.dumps(e).encode() for e in events]

    def handle(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("after", 0))
        limit = int(request.url.params.get("limit", 500))
        body = b'{"events":[%s],"head":%d}' % (b",".join(encoded[after : after + limit]), len(events))
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handle)


async def fresh_database(url: str) -> None:
    from shared.db import Database
    from shared.migrations import ensure_database, upgrade

    if url.startswith("postgresql"):
        admin = create_async_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name(url)}" WITH (FORCE)'))
        await admin.dispose()
    await ensure_database(url)
    database = Database(url)
    try:
        await upgrade("reporting", database.engine)
    finally:
        await database.dispose()


async def rebuild(
    url: str,
    feeds: dict[str, list[dict[str, Any]]],
    batch_size: int,
    catch_up_batch_size: int,
    rebuild_batch_size: int = REBUILD_BATCH_SIZE,
) -> dict[str, Any]:
    from services.reporting.main import build_service
    from services.reporting.settings import Settings

    await fresh_database(url)
    settings = Settings(database_url=url, environment="test")
    service = build_service(settings)
    statements = [0]

    @sa.event.listens_for(service.db.engine.sync_engine, "after_cursor_execute")
    def _count(*_: Any) -> None:
        statements[0] += 1

    result: dict[str, Any] = {}
    transports = {feed: transport(events) for feed, events in feeds.items()}
    gc.collect()
    gc.freeze()
    try:
        for consumer in service.consumers:
            consumer.transport = transports[consumer.feed]
            consumer.batch_size = batch_size
            consumer.catch_up_batch_size = catch_up_batch_size
            consumer.rebuild_batch_size = rebuild_batch_size
            before = statements[0]
            t0 = time.perf_counter()
            await consumer.rebuild()
            seconds = time.perf_counter() - t0
            events = consumer.status.position
            result[consumer.feed] = {
                "events": events,
                "seconds": round(seconds, 2),
                "events_per_s": round(events / seconds),
                "statements": statements[0] - before,
            }
    finally:
        gc.unfreeze()
        for consumer in service.consumers:
            await consumer.close()
        await service.db.dispose()
    events = sum(f["events"] for f in result.values())
    seconds = sum(f["seconds"] for f in result.values())
    result["total"] = {
        "events": events,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
    }
    return result


def run(
    events: int = 20_000,
    backends: Sequence[str] = ("postgres", "sqlite"),
    batch_size: int = BATCH_SIZE,
    catch_up_batch_size: int = CATCH_UP_BATCH_SIZE,
    rebuild_batch_size: int = REBUILD_BATCH_SIZE,
) -> None:
    feeds = feed_pages(events)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            url = PG if backend == "postgres" else f"sqlite+aiosqlite:///{tmp}/reporting.db"
            results[backend] = asyncio.run(
                rebuild(url, feeds, batch_size, catch_up_batch_size, rebuild_batch_size)
            )
            print(backend, json.dumps(results[backend]), flush=True)
    # Outside any event loop: recording the machine asks PostgreSQL its version with its own loop.
    save(
        "rebuild",
        {
            "batch_size": batch_size,
            "catch_up_batch_size": catch_up_batch_size,
            "rebuild_batch_size": rebuild_batch_size,
            "backends": results,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000, help="referrals events (supervision follows)")
    parser.add_argument("--backend", nargs="+", default=["postgres", "sqlite"])
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="page size near the head")
    parser.add_argument(
        "--catch-up-batch-size", type=int, default=CATCH_UP_BATCH_SIZE, help="page size while behind"
    )
    parser.add_argument(
        "--rebuild-batch-size", type=int, default=REBUILD_BATCH_SIZE, help="events per transaction (pages)"
    )
    args = parser.parse_args()
    run(args.events, args.backend, args.batch_size, args.catch_up_batch_size, args.rebuild_batch_size)


if __name__ == "__main__":
    main()
