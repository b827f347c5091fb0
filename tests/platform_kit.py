"""Test-only apps for the platform and backbone tests (never part of the product).

A producer: `create_app` on the referrals database with a small "things" resource whose writes use
`SessionDep`, `IdempotencyDep`, `check_if_match`, the auditor and the event log, with hooks to hold,
fail or synchronise requests. A consumer: a projection of the producer's feed on the reporting
database, driven by `FeedConsumer`. Their tables live on test MetaData, created and dropped by tests.
"""

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import httpx
import pytest
from dbutil import delete_all
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from services.referrals.db import platform as referrals_tables
from services.reporting.db import platform as reporting_tables
from shared.app import Service, create_app
from shared.auth import Principal, Role, mint_token, require_roles
from shared.db import NAMING_CONVENTION, Database, SessionDep
from shared.errors import InvalidParam, NotFound, ProblemError, Unprocessable
from shared.events.consumer import FeedConsumer
from shared.events.contract import Catalogue, Envelope, EventPayload
from shared.events.log import NewEvent
from shared.http import check_if_match
from shared.idempotency import IdempotencyDep
from shared.settings import ServiceSettings
from shared.types import utcnow

BACKEND = os.environ.get("FRONTDOOR_TEST_DB", "sqlite")


def postgres_only(reason: str) -> pytest.MarkDecorator:
    """Marks a PostgreSQL-only test; on SQLite it is skipped with the reason it does not apply."""
    return pytest.mark.skipif(BACKEND != "postgres", reason=f"PostgreSQL only: {reason}")


async def until_a_backend_waits_for_a_lock(engine: AsyncEngine, who: str) -> None:
    """PostgreSQL: until a backend of `engine`'s database is blocked on a lock (`who`, queued behind
    a transaction the test holds open); fails the test if none is within about ten seconds."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(500):
        async with engine.connect() as conn:
            if (await conn.execute(query)).scalar_one():
                return
        await asyncio.sleep(0.02)
    pytest.fail(f"{who} never waited for the lock")


PRODUCER = "testprod"
SECRET_MARKER = "Zebedee-Quixote-7731"  # stands in for personal data: must never reach a body or log


# -- the producer's catalogue ---------------------------------------------------------------------
class ThingCreated(EventPayload):
    event_type: ClassVar[str] = "test.thing_created"
    label: str
    size: int


class ThingRenamed(EventPayload):
    event_type: ClassVar[str] = "test.thing_renamed"
    label: str


class ThingArchived(EventPayload):
    """A type the test projection does not know: readers must skip it and keep going."""

    event_type: ClassVar[str] = "test.thing_archived"
    reason_code: str


catalogue = Catalogue(PRODUCER)
for _model in (ThingCreated, ThingRenamed, ThingArchived):
    catalogue.register(_model)


# -- test tables ----------------------------------------------------------------------------------
producer_metadata = MetaData(naming_convention=NAMING_CONVENTION)
things = Table(
    "test_things",
    producer_metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner", String(120), nullable=False),
    Column("label", String(80), nullable=False),
    Column("version", Integer, nullable=False),
)
# A deferred foreign key: violating it fails at COMMIT (the way to make a commit fail on both backends).
orphans = Table(
    "test_orphans",
    producer_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "thing_id",
        Uuid,
        ForeignKey("test_things.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
)


def thing_row(label: str = "a", thing_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The values of one row of `things`, for an insert."""
    return {"id": thing_id or uuid.uuid4(), "owner": "o", "label": label, "version": 1}


async def thing_labels(db: Database) -> list[str]:
    """The labels of every committed row of `things`, sorted."""
    async with db.read_session() as session:
        return sorted((await session.execute(select(things.c.label))).scalars())


consumer_metadata = MetaData(naming_convention=NAMING_CONVENTION)
thing_view = Table(
    "test_thing_view",
    consumer_metadata,
    Column("journey_id", Uuid, primary_key=True),
    Column("label", String(80), nullable=False),
    Column("applied", Integer, nullable=False),
    Column("last_position", BigInteger, nullable=False),
)


async def create_tables(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


async def empty_tables(url: str, metadata: MetaData) -> None:
    await delete_all(url, [t.name for t in reversed(metadata.sorted_tables)])


# -- the producer's routes ------------------------------------------------------------------------
@dataclass
class Hooks:
    """Test controls of the producer's write routes."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None  # when set: writes wait here (after the idempotency check)
    barrier: asyncio.Barrier | None = None  # renames meet here before writing
    fail_after_write: bool = False  # raise after everything is written (and remembered)


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=40)
    size: int = Field(ge=0, le=100)


class RenameIn(BaseModel):
    label: str = Field(min_length=1, max_length=40)


class BlindRenameIn(BaseModel):
    label: str = Field(min_length=1, max_length=40)
    expected_version: int = Field(ge=1)


class EventIn(BaseModel):
    type: str
    schema_version: int = 1
    payload: dict[str, Any]
    expected_version: int = Field(ge=0)


Writer = Annotated[Principal, Depends(require_roles(Role.practitioner, Role.manager))]
Reader = Annotated[Principal, Depends(require_roles(Role.practitioner, Role.manager, Role.admin))]


def etag_for(version: int) -> str:
    return f'"{version}"'


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _hooks(request: Request) -> Hooks:
    hooks: Hooks = request.app.state.hooks
    return hooks


def things_router() -> APIRouter:
    router = APIRouter()

    @router.post("", status_code=201)
    async def create_thing(
        request: Request, body: ThingIn, session: SessionDep, idem: IdempotencyDep, who: Writer
    ) -> JSONResponse:
        replayed = await idem.replay(session, who)
        if replayed is not None:
            return replayed
        hooks = _hooks(request)
        hooks.entered.set()
        if hooks.hold is not None:
            await hooks.hold.wait()
        svc = _service(request)
        assert svc.event_log is not None
        thing_id = uuid.uuid4()
        await session.execute(
            insert(things).values(id=thing_id, owner=who.subject, label=body.label, version=1)
        )
        await svc.auditor.record(session, who, "create", "thing", resource_id=thing_id)
        await svc.event_log.append(
            session,
            thing_id,
            [NewEvent(ThingCreated(label=body.label, size=body.size), utcnow())],
            expected_version=0,
            actor=who.subject,
        )
        out = {"id": str(thing_id), "label": body.label, "version": 1}
        response = JSONResponse(
            out, status_code=201, headers={"ETag": etag_for(1), "Location": f"/things/{thing_id}"}
        )
        await idem.remember(session, 201, out, response)
        if hooks.fail_after_write:
            raise RuntimeError("failed after writing")
        return response

    @router.get("/{thing_id}")
    async def read_thing(thing_id: uuid.UUID, session: SessionDep, who: Reader) -> JSONResponse:
        row = (await session.execute(select(things).where(things.c.id == thing_id))).first()
        if row is None:
            raise NotFound(f"There is no thing {thing_id}.")
        return JSONResponse(
            {"id": str(row.id), "label": row.label, "version": row.version},
            headers={"ETag": etag_for(row.version)},
        )

    @router.patch("/{thing_id}")
    async def rename_thing(
        request: Request, thing_id: uuid.UUID, body: RenameIn, session: SessionDep, who: Writer
    ) -> JSONResponse:
        row = (await session.execute(select(things).where(things.c.id == thing_id))).first()
        if row is None:
            raise NotFound(f"There is no thing {thing_id}.")
        check_if_match(request, etag_for(row.version), required=True)
        return await _rename(request, session, who, thing_id, body.label, row.version)

    @router.post("/{thing_id}/renames")
    async def rename_blind(
        request: Request, thing_id: uuid.UUID, body: BlindRenameIn, session: SessionDep, who: Writer
    ) -> JSONResponse:
        """A rename at the client's expected version: the event log is the only arbiter of a race."""
        hooks = _hooks(request)
        if hooks.barrier is not None:
            await hooks.barrier.wait()
        return await _rename(request, session, who, thing_id, body.label, body.expected_version)

    async def _rename(
        request: Request,
        session: AsyncSession,
        who: Principal,
        thing_id: uuid.UUID,
        label: str,
        expected: int,
    ) -> JSONResponse:
        svc = _service(request)
        assert svc.event_log is not None
        # State and audit first, the event last (as the event log asks): a lost race must undo both.
        await session.execute(
            update(things).where(things.c.id == thing_id).values(label=label, version=expected + 1)
        )
        await svc.auditor.record(session, who, "rename", "thing", resource_id=thing_id)
        await svc.event_log.append(
            session,
            thing_id,
            [NewEvent(ThingRenamed(label=label), utcnow())],
            expected_version=expected,
            actor=who.subject,
        )
        return JSONResponse(
            {"id": str(thing_id), "label": label, "version": expected + 1},
            headers={"ETag": etag_for(expected + 1)},
        )

    @router.post("/{thing_id}/events", status_code=201)
    async def append_event(
        request: Request, thing_id: uuid.UUID, body: EventIn, session: SessionDep, who: Writer
    ) -> dict[str, Any]:
        svc = _service(request)
        assert svc.event_log is not None
        model = svc.event_log.catalogue.model_for(body.type, body.schema_version)
        if model is None:
            raise Unprocessable(f"Unknown event type {body.type}.", field="type")
        try:
            payload = model.model_validate(body.payload)
        except ValidationError as exc:
            params = [
                InvalidParam(
                    name=".".join(["payload", *(str(p) for p in err["loc"])]),
                    location="body",
                    reason=err["msg"],
                )
                for err in exc.errors()
            ]
            raise ProblemError(
                "The payload does not match the event type.",
                status=422,
                code="invalid_payload",
                invalid_params=params,
            ) from None
        envelopes = await svc.event_log.append(
            session,
            thing_id,
            [NewEvent(payload, utcnow())],
            expected_version=body.expected_version,
            actor=who.subject,
        )
        return {"position": envelopes[0].position, "stream_version": envelopes[0].stream_version}

    # Failure drills ------------------------------------------------------------------------------
    @router.post("/drills/raise-problem")
    async def write_then_refuse(session: SessionDep, who: Writer) -> None:
        await session.execute(insert(things).values(id=uuid.uuid4(), owner=who.subject, label="x", version=1))
        raise ProblemError("refused after writing", status=409, code="drill")

    @router.post("/drills/raise-bug")
    async def write_then_crash(session: SessionDep, who: Writer) -> None:
        await session.execute(insert(things).values(id=uuid.uuid4(), owner=who.subject, label="x", version=1))
        raise RuntimeError(f"SELECT * FROM children WHERE name = '{SECRET_MARKER}'")

    @router.post("/drills/bad-sql")
    async def bad_sql(session: SessionDep, who: Writer) -> None:
        await session.execute(
            text("SELECT * FROM no_such_table_for_drill WHERE label = :v"), {"v": SECRET_MARKER}
        )

    @router.post("/drills/commit-fails", status_code=201)
    async def commit_fails(session: SessionDep, who: Writer) -> dict[str, str]:
        thing_id = uuid.uuid4()
        await session.execute(insert(things).values(id=thing_id, owner=who.subject, label="x", version=1))
        # Points at no thing: the deferred foreign key fails only when the transaction commits.
        await session.execute(insert(orphans).values(thing_id=uuid.uuid4()))
        return {"id": str(thing_id)}

    return router


def product_router() -> APIRouter:
    """The things routes nested the way domain routers are: included under a prefix."""
    outer = APIRouter()
    outer.include_router(things_router(), prefix="/things")
    return outer


def build_producer(settings: ServiceSettings, *, extra_routers: tuple[APIRouter, ...] = ()) -> FastAPI:
    service = Service(name="referrals", settings=settings, tables=referrals_tables, catalogue=catalogue)
    app = create_app(
        service,
        title="test producer",
        description="A test-only service on the referrals database.",
        routers=[product_router(), *extra_routers],
        run_consumers=False,
    )
    app.state.hooks = Hooks()
    return app


def client_for(app: FastAPI, base_url: str = "http://producer.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=60)


def bearer(
    settings: ServiceSettings, *roles: str, sub: str = "staff-1", team: str | None = None
) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(settings, roles=list(roles), subject=sub, team=team)}


# -- the consumer's projection --------------------------------------------------------------------
class ThingView:
    """Latest label per thing; `applied` counts events applied (a double application shows)."""

    known = frozenset({ThingCreated.event_type, ThingRenamed.event_type})

    async def apply(self, session: AsyncSession, event: Envelope) -> bool:
        if event.type not in self.known:
            return False
        label = event.payload["label"]
        if event.type == ThingCreated.event_type:
            await session.execute(
                insert(thing_view).values(
                    journey_id=event.journey_id, label=label, applied=1, last_position=event.position
                )
            )
        else:
            await session.execute(
                update(thing_view)
                .where(thing_view.c.journey_id == event.journey_id)
                .values(label=label, applied=thing_view.c.applied + 1, last_position=event.position)
            )
        return True

    tables = (thing_view.name,)

    async def reset(self, session: AsyncSession) -> None:
        await session.execute(delete(thing_view))


async def view_snapshot(db: Database) -> list[tuple[Any, ...]]:
    async with db.read_session() as session:
        rows = await session.execute(select(thing_view).order_by(thing_view.c.journey_id))
        return [tuple(r) for r in rows]


def build_consumer_service(settings: ServiceSettings) -> Service:
    return Service(name="reporting", settings=settings, tables=reporting_tables)


def make_consumer(
    service: Service,
    transport: httpx.AsyncBaseTransport,
    *,
    projection: ThingView | None = None,
    **options: Any,
) -> FeedConsumer:
    assert service.tables.positions is not None
    settings = service.settings
    token = mint_token(settings, roles=[Role.service.value], subject="svc-reporting")
    kwargs: dict[str, Any] = {
        "batch_size": 50,
        "long_poll_seconds": 0.2,
        "min_backoff": 0.01,
        "max_backoff": 0.05,
    }
    kwargs.update(options)
    return FeedConsumer(
        feed=PRODUCER,
        base_url="http://producer.test",
        db=service.db,
        positions=service.tables.positions,
        projection=projection or ThingView(),
        token=lambda: token,
        metrics=service.metrics,
        transport=transport,
        **kwargs,
    )


class SwitchableTransport(httpx.AsyncBaseTransport):
    """The producer behind a switch: "up", "down" (connection refused) or "503"; records requests."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.mode = "up"
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.mode == "503":
            return httpx.Response(503, json={"status": 503}, request=request)
        return await self.inner.handle_async_request(request)


class TamperingTransport(httpx.AsyncBaseTransport):
    """The producer's real pages, one field of each page (or of its first event) changed by `tamper`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.tamper: Any = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.tamper is None or request.url.path != "/events":
            return response
        page = json.loads(await response.aread())
        self.tamper(page)
        return httpx.Response(200, json=page, request=request)


async def eventually(check: Callable[[], Any], *, within: float = 20.0, interval: float = 0.02) -> Any:
    """Wait until `check()` (sync or async) is truthy; fail the test after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s: {check}")
        await asyncio.sleep(interval)


# -- fixtures (imported by tests/platform/conftest.py and tests/backbone/conftest.py) -----------
@dataclass
class Producer:
    app: FastAPI
    client: httpx.AsyncClient
    settings: ServiceSettings

    @property
    def service(self) -> Service:
        service: Service = self.app.state.service
        return service

    @property
    def hooks(self) -> Hooks:
        hooks: Hooks = self.app.state.hooks
        return hooks

    def auth(self, *roles: str, sub: str = "staff-1", team: str | None = None) -> dict[str, str]:
        return bearer(self.settings, *roles, sub=sub, team=team)


@pytest.fixture(scope="session")
def kit_tables(db_urls: dict[str, str]) -> dict[str, str]:
    """The test tables, created once per run: producer tables on referrals, the view on reporting."""

    async def create() -> None:
        await create_tables(db_urls["referrals"], producer_metadata)
        await create_tables(db_urls["reporting"], consumer_metadata)

    asyncio.run(create())
    return db_urls


@pytest.fixture
async def producer(
    settings_for: Callable[..., ServiceSettings], clean_db: None, kit_tables: dict[str, str]
) -> AsyncIterator[Callable[..., Awaitable[Producer]]]:
    """producer(**settings) -> a test producer app (and client) on this run's referrals database."""
    made: list[Producer] = []

    async def make(*, extra_routers: tuple[APIRouter, ...] = (), **overrides: Any) -> Producer:
        settings = settings_for("referrals", **overrides)
        app = build_producer(settings, extra_routers=extra_routers)
        made.append(Producer(app=app, client=client_for(app), settings=settings))
        return made[-1]

    await empty_tables(kit_tables["referrals"], producer_metadata)
    try:
        yield make
    finally:
        for p in made:
            await p.client.aclose()
            for consumer in p.service.consumers:
                await consumer.close()
            await p.service.db.dispose()


@pytest.fixture
async def consumer_tables(kit_tables: dict[str, str], clean_db: None) -> None:
    """The consumer's view table exists and is empty."""
    await empty_tables(kit_tables["reporting"], consumer_metadata)


@pytest.fixture
async def consumer_side(
    settings_for: Callable[..., ServiceSettings], consumer_tables: None
) -> AsyncIterator[Callable[..., Service]]:
    """consumer_side(**settings) -> a Service on this run's reporting database (positions + the view)."""
    made: list[Service] = []

    def make(**overrides: Any) -> Service:
        made.append(build_consumer_service(settings_for("reporting", **overrides)))
        return made[-1]

    try:
        yield make
    finally:
        for service in made:
            for consumer in service.consumers:
                await consumer.close()
            await service.db.dispose()
