"""Request ids, JSON request logs, Prometheus metrics and opt-in OpenTelemetry tracing."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 128
# An id-shaped token: request ids go into every journey event's envelope (`correlation_id`), which the
# feeds publish to reporting, so free text (a name, an address: anything with a space) is never taken.
REQUEST_ID_PATTERN = re.compile(rf"[A-Za-z0-9._:/+=@-]{{1,{REQUEST_ID_MAX_LENGTH}}}")


def is_request_id(value: str | None) -> bool:
    """Whether `value` is an id-shaped token that may travel as a request id (and a correlation id)."""
    return value is not None and REQUEST_ID_PATTERN.fullmatch(value) is not None


class JsonFormatter(logging.Formatter):
    """One JSON object per line; only fields we put there ourselves, never request bodies."""

    SAFE_EXTRAS = (
        "service",
        "method",
        "route",
        "status",
        "duration_ms",
        "subject",
        "path",
        "consumer",
        "lag",
        "request_id_refused",
    )

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            doc["request_id"] = rid
        for key in self.SAFE_EXTRAS:
            if key in record.__dict__:
                doc[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            doc["error"] = record.exc_info[0].__name__  # the type only: tracebacks may carry data
        return json.dumps(doc, default=str)


def configure_logging(level: str = "INFO") -> None:
    # At INFO httpx logs every outgoing URL, query string included (which may carry personal data).
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn.access",):  # our own request line replaces uvicorn's
        logging.getLogger(name).disabled = True


class Metrics:
    """A registry per app, so several services (or test apps) can live in one process."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.db_pool = Gauge("db_pool_connections", "DB pool connections", ["state"], registry=self.registry)
        self.events_appended = Counter(
            "journey_events_appended_total", "Journey events appended", ["type"], registry=self.registry
        )
        self.consumer_lag_events = Gauge(
            "consumer_lag_events", "Events behind the upstream head", ["feed"], registry=self.registry
        )
        self.consumer_lag_seconds = Gauge(
            "consumer_lag_seconds", "Age of the oldest unapplied event", ["feed"], registry=self.registry
        )
        self.consumer_applied = Counter(
            "consumer_events_applied_total", "Events applied by a consumer", ["feed"], registry=self.registry
        )
        self.consumer_skipped = Counter(
            "consumer_events_skipped_total",
            "Events of unknown types skipped",
            ["feed", "type"],
            registry=self.registry,
        )
        self.consumer_errors = Counter(
            "consumer_errors_total", "Failed consumer polls", ["feed"], registry=self.registry
        )
        self.policy_mismatches = Gauge(
            "frontdoor_policy_mismatches",
            "Values a producer's published policy and this service's settings differ in (NaN: unknown)",
            ["feed"],
            registry=self.registry,
        )
        self.service_counters = Counter(
            "frontdoor_domain_total", "Domain actions", ["action"], registry=self.registry
        )


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/things/{thing_id}`), never the concrete path.

    FastAPI 0.165 includes routers lazily: for a route reached through `include_router(prefix=...)`,
    `scope["route"]` is the router's own APIRoute, whose `path` lacks the include prefix. The full
    template is on the effective route context FastAPI records in `scope["fastapi"]`.
    """
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        context = fastapi_scope.get("effective_route_context")
        template = getattr(context, "path_format", None) or getattr(context, "path", None)
        if isinstance(template, str) and template:
            return template
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else "<unmatched>"


class ObservabilityMiddleware:
    """Request id in and out, metrics by route template, and one JSON log line per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, service: str) -> None:
        self.app = app
        self.metrics = metrics
        self.service = service
        self.log = logging.getLogger("frontdoor.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        refused = False
        for key, value in scope.get("headers", []):
            if key == b"x-request-id":
                candidate = value.decode("latin-1")[:REQUEST_ID_MAX_LENGTH]
                if is_request_id(candidate):
                    rid = candidate
                else:
                    refused = True
                break
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            template = route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(elapsed)
            principal = (
                getattr(scope.get("state", {}).get("principal"), "subject", None)
                if isinstance(scope.get("state"), dict)
                else None
            )
            extra: dict[str, Any] = {
                "service": self.service,
                "method": method,
                "route": template,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            }
            if principal:
                extra["subject"] = principal
            if refused:
                # Said, never shown: the refused value may be free text (a name, an address).
                extra["request_id_refused"] = True
            self.log.info("request", extra=extra)
            request_id_var.reset(token)


def outgoing_headers() -> dict[str, str]:
    """Headers to pass the current request id on to outgoing calls."""
    rid = request_id_var.get()
    return {REQUEST_ID_HEADER: rid} if rid else {}


def tracing_enabled() -> bool:
    """Tracing is off unless the standard OTEL_* variables ask for an exporter."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False  # an explicit "none" wins over an endpoint set for other signals
    return bool(
        exporter
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def setup_tracing(app: Any, engine: Any, service: str, *, exporter: Any = None) -> bool:
    """Instrument FastAPI, httpx and SQLAlchemy when the standard OTEL_* variables ask for it.

    `exporter` (e.g. an InMemorySpanExporter) forces tracing on with that exporter. SQLAlchemy is traced
    per engine (not through the process-wide instrumentor, which only ever instruments its first engine).
    `teardown_tracing(app)` undoes it.
    """
    if exporter is None and not tracing_enabled():
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import __version__ as sqlalchemy_instrumentation_version
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="health/live,metrics")
    httpx_instrumentor = HTTPXClientInstrumentor()
    if not httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.instrument(tracer_provider=provider)
    sql_tracer = provider.get_tracer(
        "opentelemetry.instrumentation.sqlalchemy", sqlalchemy_instrumentation_version
    )
    connections = get_meter("opentelemetry.instrumentation.sqlalchemy").create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(sql_tracer, engine.sync_engine, connections)
    app.state.tracer_provider = provider
    if exporter is None:
        trace.set_tracer_provider(provider)
    return True


def teardown_tracing(app: Any) -> None:
    """Undo `setup_tracing` (tests; a process normally traces until it exits)."""
    provider = getattr(app.state, "tracer_provider", None)
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    FastAPIInstrumentor.uninstrument_app(app)
    HTTPXClientInstrumentor().uninstrument()
    EngineTracer.remove_all_event_listeners()
    provider.shutdown()
    app.state.tracer_provider = None
