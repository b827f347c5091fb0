"""Test fixtures: each run gets its own databases (SQLite files or PostgreSQL databases), migrated once.

Choose the backend with FRONTDOOR_TEST_DB=sqlite (default) or postgres. Under CI=true an unreachable
PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from dbutil import delete_all
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from frontdoor.registry import SERVICES
from shared.auth import mint_token
from shared.db import Database
from shared.migrations import upgrade
from shared.settings import ServiceSettings

BACKEND = os.environ.get("FRONTDOOR_TEST_DB", "sqlite")
PG_SERVER = os.environ.get("FRONTDOOR_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
RUN_ID = uuid.uuid4().hex[:8]


def pytest_report_header() -> str:
    return f"frontdoor test backend: {BACKEND} (run {RUN_ID})"


async def _pg_admin(sql: str) -> None:
    engine = create_async_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _pg_reachable() -> str | None:
    try:
        asyncio.run(asyncio.wait_for(_pg_admin("SELECT 1"), 10))
        return None
    except Exception as exc:  # any failure means unreachable for our purposes
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def db_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per service for this whole run."""
    urls: dict[str, str] = {}
    if BACKEND == "postgres":
        problem = _pg_reachable()
        if problem:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"PostgreSQL is unreachable under CI=true: {problem}", pytrace=False)
            pytest.skip(f"PostgreSQL unreachable: {problem}")
        for name in SERVICES:
            db_name = f"fd_test_{RUN_ID}_{name}"
            asyncio.run(_pg_admin(f'CREATE DATABASE "{db_name}"'))
            urls[name] = f"{PG_SERVER}/{db_name}"
    else:
        base = tmp_path_factory.mktemp("db")
        urls = {name: f"sqlite+aiosqlite:///{base / name}.db" for name in SERVICES}

    async def migrate() -> None:
        for name, url in urls.items():
            db = Database(url)
            await upgrade(name, db.engine)
            await db.dispose()

    asyncio.run(migrate())
    yield urls
    if BACKEND == "postgres":

        async def drop() -> None:
            await asyncio.gather(
                *(
                    _pg_admin(f'DROP DATABASE IF EXISTS "fd_test_{RUN_ID}_{name}" WITH (FORCE)')
                    for name in SERVICES
                )
            )

        asyncio.run(drop())


def service_metadata(name: str) -> MetaData:
    metadata: MetaData = importlib.import_module(f"services.{name}.db").metadata
    return metadata


async def wipe(name: str, url: str) -> None:
    """Empty every table of a service (fast per-test isolation for tests that commit)."""
    await delete_all(url, [t.name for t in reversed(service_metadata(name).sorted_tables)])


async def wipe_all(db_urls: dict[str, str]) -> None:
    await asyncio.gather(*(wipe(name, url) for name, url in db_urls.items()))


@pytest.fixture
def settings_for(db_urls: dict[str, str]) -> Callable[..., ServiceSettings]:
    """settings_for("referrals", rate_limit_per_minute=0, ...) -> that service's Settings for this run."""

    def make(name: str, **overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "database_url": db_urls[name],
            "rate_limit_per_minute": 0,
            "environment": "test",
        }
        values.update(overrides)
        return SERVICES[name].settings(**values)

    return make


@pytest.fixture
async def clean_db(db_urls: dict[str, str]) -> AsyncIterator[None]:
    """Every service's tables are empty when the test starts and after it ends."""
    await wipe_all(db_urls)
    yield
    await wipe_all(db_urls)


def _run_in_thread(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, whether or not an event loop is running here."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def fresh_database(
    db_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., str]]:
    """fresh_database("label", create=True) -> URL of an empty database on this run's backend (no schema).

    Labels must be unique in the run. PostgreSQL databases are dropped when the run ends (dropping is
    slow, so tests should share them where they can); `create=False` only names one, for code that
    creates it itself.
    """
    created: list[str] = []
    base = tmp_path_factory.mktemp("fresh")

    def make(label: str, *, create: bool = True) -> str:
        if BACKEND == "postgres":
            name = f"fd_test_{RUN_ID}_{label}"
            created.append(name)
            if create:
                _run_in_thread(_pg_admin(f'CREATE DATABASE "{name}"'))
            return f"{PG_SERVER}/{name}"
        path = base / f"{label}.db"
        if create:
            path.touch()  # an empty file is an empty SQLite database
        return f"sqlite+aiosqlite:///{path}"

    yield make

    async def drop() -> None:
        await asyncio.gather(*(_pg_admin(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)') for n in created))

    if created:
        asyncio.run(drop())


AppClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def app_client(
    settings_for: Callable[..., ServiceSettings], clean_db: None
) -> AsyncIterator[AppClient]:
    """app_client("referrals", **settings) -> an httpx client talking to that service in-process.

    Consumers are not started: tests drive them (`app.state.service.consumers`) explicitly.
    """
    clients: list[httpx.AsyncClient] = []
    apps: list[Any] = []

    async def make(name: str, **overrides: Any) -> httpx.AsyncClient:
        app = SERVICES[name].main().create(settings_for(name, **overrides), run_consumers=False)
        apps.append(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}.test", timeout=30
        )
        client.app = app  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
    for app in apps:
        service = app.state.service
        for consumer in service.consumers:
            await consumer.close()
        await service.db.dispose()


@pytest.fixture
def token(settings_for: Callable[..., ServiceSettings]) -> Callable[..., dict[str, str]]:
    """token("manager", sub="m1", team="t1") -> Authorization headers for a development token."""
    settings = settings_for("referrals")

    def make(*roles: str, sub: str = "staff-1", team: str | None = None, **kw: Any) -> dict[str, str]:
        return {
            "Authorization": "Bearer " + mint_token(settings, roles=list(roles), subject=sub, team=team, **kw)
        }

    return make
