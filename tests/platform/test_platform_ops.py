"""Issue 2, item 5: health, Prometheus metrics, JSON request logs, request ids and tracing."""

from __future__ import annotations

import gc
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from platform_kit import SECRET_MARKER, ThingCreated
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from shared.app import GC_YOUNG_THRESHOLD
from shared.events.log import NewEvent
from shared.observability import (
    JsonFormatter,
    outgoing_headers,
    setup_tracing,
    teardown_tracing,
    tracing_enabled,
)
from shared.types import utcnow

CLOSED_PORT_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/frontdoor_nowhere"


# -- health ---------------------------------------------------------------------------------------
async def test_live_needs_no_database(producer) -> None:
    p = await producer(database_url=CLOSED_PORT_URL)
    r = await p.client.get("/health/live")
    assert r.status_code == 200 and r.json() == {"status": "live"}


async def test_ready_when_migrated(producer) -> None:
    p = await producer()
    r = await p.client.get("/health/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["database"] == "ok"
    assert body["migrations"]["current"] == body["migrations"]["head"] is not None


async def test_not_ready_when_the_database_is_unreachable(producer) -> None:
    p = await producer(database_url=CLOSED_PORT_URL)
    r = await p.client.get("/health/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not_ready"
    assert body["database"].startswith("unreachable")
    assert body["migrations"]["current"] is None


async def test_not_ready_sends_the_retry_after_its_openapi_documents(producer) -> None:
    """The document promised a Retry-After header with the 503 (as every 503 here has); none came."""
    p = await producer(database_url=CLOSED_PORT_URL)
    r = await p.client.get("/health/ready")
    assert r.status_code == 503
    documented = p.app.openapi()["paths"]["/health/ready"]["get"]["responses"]["503"]["headers"]
    assert set(documented) == {"Retry-After"}
    assert int(r.headers["retry-after"]) > 0


def never_migrated(db_urls: dict[str, str], tmp_path: Any) -> str:
    """A database URL of this backend that no migration has run on."""
    url = make_url(db_urls["referrals"])
    if url.get_backend_name() == "postgresql":
        return url.set(database="postgres").render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


async def test_not_ready_when_migrations_are_not_at_head(producer, db_urls, tmp_path) -> None:
    empty = never_migrated(db_urls, tmp_path)
    p = await producer(database_url=empty)
    r = await p.client.get("/health/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["database"] == "ok"
    assert body["migrations"]["current"] is None and body["migrations"]["head"] is not None


async def test_a_request_against_a_database_not_yet_migrated_is_503_not_500(
    producer, db_urls, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """Code deployed before `frontdoor migrate` met tables that were not there yet: every request
    was a 500 (a bug, to clients and alerts) while readiness said only "not ready". Now a 503
    problem a client retries, with Retry-After, and the log says what to run; readiness unchanged."""
    empty = never_migrated(db_urls, tmp_path)
    p = await producer(database_url=empty)
    auth = p.auth("manager")
    with caplog.at_level(logging.ERROR, logger="frontdoor.errors"):
        created = await p.client.post("/things", json={"label": "a", "size": 1}, headers=auth)
        read = await p.client.get(f"/things/{uuid.uuid4()}", headers=auth)
    for r in (created, read):
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "schema_not_migrated" and int(r.headers["retry-after"]) > 0
    assert "frontdoor migrate" in caplog.text and "SELECT" not in caplog.text
    assert (await p.client.get("/health/ready")).status_code == 503
    # A statement naming a table no migration makes, on a database at head, is a bug: still a 500
    # (test_500_hides_the_exception_and_sql).


# -- metrics --------------------------------------------------------------------------------------
def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float | None:
    for sample_name, sample_labels, sample_value in samples(text):
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            return sample_value
    return None


async def test_metrics_label_requests_by_route_template(producer) -> None:
    p = await producer()
    auth = p.auth("manager")
    created = await p.client.post("/things", json={"label": "a", "size": 1}, headers=auth)
    assert created.status_code == 201
    for _ in range(2):
        assert (await p.client.get(f"/things/{uuid.uuid4()}", headers=auth)).status_code == 404
    assert (await p.client.get(f"/things/{created.json()['id']}", headers=auth)).status_code == 200
    assert (await p.client.get("/no/such/route")).status_code == 404
    p.service.metrics.service_counters.labels("thing_drill").inc(3)

    r = await p.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    # The template of a route included under a prefix (/things + /{thing_id}), not the concrete path.
    assert value(text, "http_requests_total", route="/things/{thing_id}", method="GET", status="404") == 2
    assert value(text, "http_requests_total", route="/things/{thing_id}", method="GET", status="200") == 1
    assert value(text, "http_requests_total", route="/things", method="POST", status="201") == 1
    assert value(text, "http_requests_total", route="<unmatched>", method="GET", status="404") == 1
    routes = {labels.get("route") for _, labels, _ in samples(text) if "route" in labels}
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", r or "") for r in routes), routes
    assert value(text, "http_request_duration_seconds_count", route="/things/{thing_id}", method="GET") == 3
    assert value(text, "http_request_duration_seconds_bucket", route="/things", method="POST", le="+Inf") == 1
    assert value(text, "db_pool_connections", state="checked_out") is not None
    assert value(text, "journey_events_appended_total", type="test.thing_created") == 1
    assert value(text, "frontdoor_domain_total", action="thing_drill") == 3


async def test_pool_gauges_are_counts_of_connections(producer) -> None:
    """SQLAlchemy's overflow() counts down from -pool_size while the pool is not full: not a number of
    connections. With one connection open, none is in overflow."""
    p = await producer()
    await p.client.post("/things", json={"label": "a", "size": 1}, headers=p.auth("manager"))
    text = (await p.client.get("/metrics")).text
    assert value(text, "db_pool_connections", state="overflow") == 0
    assert value(text, "db_pool_connections", state="checked_out") == 0
    idle = value(text, "db_pool_connections", state="idle")
    assert idle is not None and idle >= 1


async def test_rolled_back_events_are_not_counted_as_appended(producer) -> None:
    p = await producer()
    p.hooks.fail_after_write = True
    r = await p.client.post("/things", json={"label": "a", "size": 1}, headers=p.auth("manager"))
    assert r.status_code == 500
    text = (await p.client.get("/metrics")).text
    assert value(text, "journey_events_appended_total", type="test.thing_created") is None
    assert value(text, "http_requests_total", route="/things", method="POST", status="500") == 1


async def test_a_reused_sessions_rolled_back_events_are_not_counted_with_its_next_commit(producer) -> None:
    p = await producer()
    log = p.service.event_log
    assert log is not None
    async with p.service.db.sessionmaker() as session:
        with pytest.raises(RuntimeError):
            async with session.begin():
                await log.append(
                    session,
                    uuid.uuid4(),
                    [NewEvent(ThingCreated(label="a", size=1), utcnow())],
                    expected_version=0,
                    actor="t",
                )
                raise RuntimeError("rolled back")
        async with session.begin():
            pass  # commits nothing appended
    text = (await p.client.get("/metrics")).text
    assert value(text, "journey_events_appended_total", type="test.thing_created") is None


# -- logs and request ids -------------------------------------------------------------------------
@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, formatted as the services format it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def log_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_one_json_log_line_per_request_with_its_request_id(producer, json_log) -> None:
    p = await producer()
    r = await p.client.get(
        f"/things/{uuid.uuid4()}", headers={**p.auth("manager", sub="staff-9"), "X-Request-ID": "req-abc-1"}
    )
    assert r.status_code == 404
    assert r.headers["x-request-id"] == "req-abc-1"
    lines = [line for line in log_lines(json_log) if line["logger"] == "frontdoor.request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-abc-1"
    assert line["route"] == "/things/{thing_id}"
    assert line["method"] == "GET" and line["status"] == 404
    assert line["service"] == "referrals" and line["subject"] == "staff-9"
    assert isinstance(line["duration_ms"], float)


async def test_a_request_id_is_generated_when_none_or_a_bad_one_is_sent(producer, json_log) -> None:
    p = await producer()
    first = await p.client.get("/health/live")
    second = await p.client.get("/health/live", headers={"X-Request-ID": "bad\x01id"})
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]
    logged = [line["request_id"] for line in log_lines(json_log) if line["logger"] == "frontdoor.request"]
    assert logged == ids
    long = await p.client.get("/health/live", headers={"X-Request-ID": "x" * 500})
    assert long.headers["x-request-id"] == "x" * 128


@pytest.mark.parametrize(
    "sent", ["Jane Smith 12 Acacia Ave", "Jane", "jane smith", "  ", "", "id\twith-tab", "caf\xe9-1"]
)
async def test_a_request_id_that_is_not_an_id_shaped_token_is_not_taken(producer, json_log, sent) -> None:
    # Request ids become the correlation ids of journey events, which reporting receives: free text
    # (a name, an address) must never get there, so only id-shaped tokens are taken.
    p = await producer()
    r = await p.client.get("/health/live", headers={"X-Request-ID": sent.encode("latin-1")})
    if sent == "Jane":
        assert r.headers["x-request-id"] == "Jane"  # one word is a token: nothing to tell it from an id
        return
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), r.headers["x-request-id"]
    lines = [line for line in log_lines(json_log) if line["logger"] == "frontdoor.request"]
    assert [line["request_id"] for line in lines] == [r.headers["x-request-id"]]
    assert lines[0]["request_id_refused"] is True  # said, without the value
    assert "Acacia" not in json_log.getvalue() and "jane smith" not in json_log.getvalue()


@pytest.mark.parametrize(
    "sent", ["req-abc-1", "reporting-0123456789abcdef", "a1b2c3d4e5f6", "urn:uuid:1234/x+y=z@host_a.b"]
)
async def test_an_id_shaped_request_id_is_kept_and_echoed(producer, json_log, sent) -> None:
    p = await producer()
    r = await p.client.get("/health/live", headers={"X-Request-ID": sent})
    assert r.headers["x-request-id"] == sent
    lines = [line for line in log_lines(json_log) if line["logger"] == "frontdoor.request"]
    assert [line["request_id"] for line in lines] == [sent] and "request_id_refused" not in lines[0]


async def test_no_personal_data_or_bodies_in_logs(producer, json_log) -> None:
    p = await producer()
    auth = p.auth("manager")
    await p.client.post("/things", json={"label": SECRET_MARKER[:40], "size": 1}, headers=auth)
    await p.client.post("/things", json={"label": "x", "size": 1, "note": SECRET_MARKER}, headers=auth)
    await p.client.post("/things/drills/raise-bug", headers=auth)
    await p.client.post("/things/drills/bad-sql", headers=auth)
    await p.client.get(f"/things/{uuid.uuid4()}", params={"q": SECRET_MARKER}, headers=auth)  # URL logged?
    text = json_log.getvalue()
    assert "unhandled error" in text  # the failures were logged ...
    assert SECRET_MARKER[:20] not in text  # ... without the data, the SQL or the message
    assert "no_such_table" not in text and "Traceback" not in text
    assert [line["status"] for line in log_lines(json_log) if line["logger"] == "frontdoor.request"] == [
        201,
        422,
        500,
        500,
        404,
    ]


def upstream_app() -> FastAPI:
    upstream = FastAPI()

    @upstream.get("/whoami")
    async def whoami(request: Request) -> dict[str, str | None]:
        return {"request_id": request.headers.get("x-request-id")}

    return upstream


def calling_router(upstream: FastAPI) -> APIRouter:
    router = APIRouter()

    @router.get("/call-upstream")
    async def call_upstream() -> dict[str, str | None]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=upstream), base_url="http://upstream.test"
        ) as client:
            r = await client.get("/whoami", headers=outgoing_headers())
        return {"upstream_saw": r.json()["request_id"]}

    return router


async def test_the_request_id_is_passed_on_to_outgoing_calls(producer) -> None:
    p = await producer(extra_routers=(calling_router(upstream_app()),))
    r = await p.client.get("/call-upstream", headers={"X-Request-ID": "trace-me-42"})
    assert r.json() == {"upstream_saw": "trace-me-42"}
    generated = await p.client.get("/call-upstream")
    assert generated.json() == {"upstream_saw": generated.headers["x-request-id"]}
    assert outgoing_headers() == {}  # outside a request there is none


# -- tracing --------------------------------------------------------------------------------------
OTEL_VARS = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@pytest.fixture
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in OTEL_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_tracing_follows_the_otel_environment(no_otel_env: pytest.MonkeyPatch) -> None:
    mp = no_otel_env
    assert tracing_enabled() is False
    mp.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing_enabled() is True
    mp.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing_enabled() is False
    mp.delenv("OTEL_SDK_DISABLED")
    mp.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing_enabled() is False  # an explicit "none" wins
    mp.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    mp.setenv("OTEL_TRACES_EXPORTER", "console")
    assert tracing_enabled() is True
    mp.delenv("OTEL_TRACES_EXPORTER")
    mp.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")
    assert tracing_enabled() is True


async def test_tracing_is_off_by_default(producer, no_otel_env) -> None:
    p = await producer()
    assert getattr(p.app.state, "tracer_provider", None) is None
    assert setup_tracing(p.app, p.service.db.engine, "referrals") is False
    r = await p.client.get("/health/live")
    assert "traceparent" not in r.headers


def _attributes_text(spans: tuple[ReadableSpan, ...]) -> str:
    parts = []
    for span in spans:
        parts.append(json.dumps(dict(span.attributes or {}), default=str))
        parts.append(str(span.status.description))
        parts.extend(json.dumps(dict(e.attributes or {}), default=str) for e in span.events)
    return "\n".join(parts)


async def test_spans_for_a_request_include_sqlalchemy(producer) -> None:
    p = await producer()
    exporter = InMemorySpanExporter()
    assert setup_tracing(p.app, p.service.db.engine, "referrals", exporter=exporter) is True
    try:
        r = await p.client.get(f"/things/{uuid.uuid4()}", headers=p.auth("manager"))
        assert r.status_code == 404
        spans = exporter.get_finished_spans()
        server = [s for s in spans if s.kind is SpanKind.SERVER]
        assert len(server) == 1
        assert server[0].attributes is not None
        assert server[0].attributes.get("http.route") == "/things/{thing_id}"
        sql = [s for s in spans if (s.attributes or {}).get("db.system") in ("sqlite", "postgresql")]
        assert sql, [s.name for s in spans]
        assert all(s.context.trace_id == server[0].context.trace_id for s in sql)

        exporter.clear()
        await p.client.post("/things/drills/bad-sql", headers=p.auth("manager"))
        await p.client.post("/things/drills/raise-bug", headers=p.auth("manager"))
        spans = exporter.get_finished_spans()
        assert spans
        assert SECRET_MARKER not in _attributes_text(spans)
    finally:
        teardown_tracing(p.app)


# -- start-up -------------------------------------------------------------------------------------
async def test_start_up_freezes_what_lives_as_long_as_the_process(app_client) -> None:
    """Once a service has started, the collector's full passes skip everything built before it."""
    client = await app_client("reporting")
    app = client.app  # type: ignore[attr-defined]
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            # The calendars and code tables the reports read were built before start-up.
            assert gc.get_freeze_count() > 10_000
            assert gc.is_tracked(app.state.service) and app.state.service not in gc.get_objects(2)
    finally:
        gc.unfreeze()


async def test_start_up_makes_the_collectors_young_passes_rarer(app_client) -> None:
    client = await app_client("referrals")
    app = client.app  # type: ignore[attr-defined]
    before = gc.get_threshold()
    gc.set_threshold(700, *before[1:])
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
            assert GC_YOUNG_THRESHOLD > 700
    finally:
        gc.set_threshold(*before)
