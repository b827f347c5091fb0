"""Builds a service's FastAPI app: errors, limits, auth, health, metrics, feed and consumers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import MetaData, Table, text

from shared.audit import Auditor, audit_log_table, audit_router
from shared.auth import Role, TokenVerifier
from shared.db import Database
from shared.errors import document_problems, install_error_handlers
from shared.events.consumer import ConsumerStatus, FeedConsumer, consumer_positions_table
from shared.events.contract import Catalogue
from shared.events.feed import feed_router, policy_router
from shared.events.log import EventLog, journey_events_table
from shared.events.verify import StreamHeads
from shared.idempotency import document_replays, idempotency_keys_table
from shared.middleware import BodySizeLimitMiddleware, RateLimitMiddleware
from shared.migrations import current_revision, head_revision
from shared.negotiation import json_response
from shared.observability import Metrics, ObservabilityMiddleware, configure_logging, setup_tracing
from shared.settings import ServiceSettings

READY_TIMEOUT_SECONDS = 5.0
# Allocations (net) between the collector's young-generation passes; Python's default is 700.
GC_YOUNG_THRESHOLD = 20_000


@dataclass
class PlatformTables:
    """The platform tables a service keeps in its own database, on its own metadata."""

    idempotency: Table
    audit: Table
    events: Table | None
    positions: Table | None

    @classmethod
    def on(cls, metadata: MetaData, *, produces_events: bool, consumes_feeds: bool) -> PlatformTables:
        return cls(
            idempotency=idempotency_keys_table(metadata),
            audit=audit_log_table(metadata),
            events=journey_events_table(metadata) if produces_events else None,
            positions=consumer_positions_table(metadata) if consumes_feeds else None,
        )


@dataclass
class Service:
    """Everything a service's routes and CLI need, built once per app."""

    name: str
    settings: ServiceSettings
    tables: PlatformTables
    catalogue: Catalogue | None = None
    db: Database = field(init=False)
    metrics: Metrics = field(init=False)
    auditor: Auditor = field(init=False)
    event_log: EventLog | None = field(init=False, default=None)
    consumers: list[FeedConsumer] = field(default_factory=list)
    # What a producer serves at `GET /policy` (shared/policy.py): the settings its readers share.
    policy: BaseModel | None = None
    # What the producer's own records say each stream is at, so that verify finds a log cut short.
    stream_heads: StreamHeads | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.db = Database(s.database_url, pool_size=s.db_pool_size, max_overflow=s.db_max_overflow)
        self.metrics = Metrics(self.name)
        self.auditor = Auditor(self.tables.audit)
        if self.tables.events is not None and self.catalogue is not None:
            self.event_log = EventLog(self.tables.events, self.catalogue, self.metrics)


class ReadinessReport(BaseModel):
    status: str = Field(description="ready, or not_ready (database unreachable or migrations not at head).")
    database: str = Field(description="ok, or unreachable (with the error's type).")
    migrations: dict[str, str | None] = Field(
        description="The database's migration revision (`current`) and this version's (`head`)."
    )
    consumers: list[ConsumerStatus] = Field(
        [], description="Each feed this service reads: position, lag and policy agreement."
    )


def create_app(
    service: Service,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    run_consumers: bool = True,
    openapi_tags: list[dict[str, Any]] | None = None,
) -> FastAPI:
    settings = service.settings
    configure_logging(settings.log_level)
    expected_head = head_revision(service.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What exists by now (modules, the app, calendars, code tables) lives as long as the process:
        # frozen, the collector's full passes stop walking it. Unfrozen, each pass took 90-120 ms in
        # the reporting service, a pause on whichever request set it off.
        gc.collect()
        gc.freeze()
        # A young-generation pass walks every young object still alive, and with 32 requests in
        # flight that is thousands (sessions, rows, models): at the default threshold (700
        # allocations) those passes were about 8% of the intake worker's CPU (bench/NOTES.md).
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        stop = asyncio.Event()
        tasks = [asyncio.create_task(c.run(stop)) for c in service.consumers] if run_consumers else []
        try:
            yield
        finally:
            # Finish the batch in hand (its position is committed with it), then stop.
            stop.set()
            if tasks:
                await asyncio.wait(tasks, timeout=15)
            for c in service.consumers:
                await c.close()
            await service.db.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        openapi_tags=openapi_tags,
        # FastAPI's own OpenTelemetry logs carry exception messages and stack traces: never ship those.
        telemetry={"logs": False},
    )
    app.state.service = service

    async def schema_behind() -> bool:
        """Whether the database is not at this version's migration head (for errors: 503, not 500)."""
        try:
            current = await asyncio.wait_for(
                current_revision(service.db.read_engine), timeout=READY_TIMEOUT_SECONDS
            )
        except Exception:
            return False  # cannot tell: the error stands as it is
        return current != expected_head

    app.state.schema_behind = schema_behind
    app.state.settings = settings
    app.state.db = service.db
    app.state.metrics = service.metrics
    app.state.token_verifier = verifier = TokenVerifier(settings)
    app.state.idempotency_table = service.tables.idempotency
    app.state.idempotency_inflight = set()

    install_error_handlers(app)  # first: its catch-all middleware must be the innermost
    # Added innermost first: the observability layer sees every response, including 413 and 429.
    if settings.rate_limit_per_minute > 0:

        def consumer_poll(path: str, authorization: bytes) -> bool:
            # A consumer's polls of a feed are paced by the producer's writes (a long poll returns as
            # events arrive), so at a busy hour they outran any per-minute budget and the 429s showed
            # as an upstream outage and a stale report. Only a token already verified is recalled.
            scheme, _, token = authorization.decode("latin-1").partition(" ")
            if path != "/events" or scheme.lower() != "bearer":
                return False
            principal = verifier.recall(token)
            return principal is not None and principal.has(Role.service)

        app.add_middleware(
            RateLimitMiddleware, per_minute=settings.rate_limit_per_minute, unlimited=consumer_poll
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=service.metrics, service=service.name)

    ops = APIRouter(tags=["operations"])

    @ops.get("/health/live", summary="The process is up (no dependencies checked)")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @ops.get(
        "/health/ready",
        response_model=ReadinessReport,
        summary="Database reachable, migrations at head, and consumer lag",
        responses={503: {"model": ReadinessReport, "description": "Not ready"}},
    )
    async def ready() -> Response:
        database = "ok"
        current: str | None = None

        async def probe() -> str | None:
            async with service.db.read_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return await current_revision(service.db.read_engine)

        try:
            # Bounded: a probe that hangs on a black-holed database must still answer "not ready".
            current = await asyncio.wait_for(probe(), timeout=READY_TIMEOUT_SECONDS)
        except Exception as exc:
            database = f"unreachable ({type(exc).__name__})"
        ok = database == "ok" and current == expected_head
        report = ReadinessReport(
            status="ready" if ok else "not_ready",
            database=database,
            migrations={"current": current, "head": expected_head},
            consumers=[c.status for c in service.consumers],
        )
        if ok:
            return json_response(report)
        # As the OpenAPI document says of every 503 here: when to ask again (a probe's next interval).
        return json_response(
            report,
            status_code=503,
            headers={"Retry-After": str(int(READY_TIMEOUT_SECONDS))},
        )

    @ops.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
    )
    async def metrics(request: Request) -> Response:
        pool = service.db.engine.pool
        for state, getter in (("checked_out", "checkedout"), ("idle", "checkedin"), ("overflow", "overflow")):
            fn = getattr(pool, getter, None)
            if callable(fn):
                # QueuePool.overflow() is negative (from -pool_size) until the pool is full: none beyond.
                service.metrics.db_pool.labels(state).set(max(0, fn()))
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(ops)
    if service.event_log is not None:
        app.include_router(feed_router(service.db, service.event_log, service.stream_heads))
    if service.policy is not None:
        app.include_router(policy_router(service.policy))
    app.include_router(audit_router(service.db, service.auditor))
    for router in routers:
        app.include_router(router)
    setup_tracing(app, service.db.engine, service.name)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_replays(document_problems(FastAPI.openapi(app)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
