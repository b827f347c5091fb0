"""Alembic per service: each service's schema has its own script directory and version table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(service: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_ROOT / service))
    cfg.set_main_option("path_separator", "os")
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def head_revision(service: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(service)).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade(service: str, engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade to `revision`."""
    await _migrate(service, engine, command.upgrade, revision)


async def downgrade(service: str, engine: AsyncEngine, revision: str) -> None:
    """Downgrade to `revision` (the migration tests check that each downgrade keeps its rows)."""
    await _migrate(service, engine, command.downgrade, revision)


async def _migrate(
    service: str, engine: AsyncEngine, step: Callable[[Config, str], None], revision: str
) -> None:
    """Run an alembic command on a connection we hand to env.py, so it works inside a running
    event loop."""
    cfg = alembic_config(service, engine.url.render_as_string(hide_password=False))

    def _run(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        step(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist (SQLite creates its file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return
    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = (
                await conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
                )
            ).scalar()
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        await admin.dispose()


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's env.py."""
    cfg = context.config
    opts: dict[str, Any] = {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": True,  # SQLite needs table rebuilds for most ALTERs
    }
    conn: Connection | None = cfg.attributes.get("connection")
    if context.is_offline_mode():
        context.configure(url=cfg.get_main_option("sqlalchemy.url"), literal_binds=True, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    if conn is not None:
        _run_on(conn, opts)
        return

    async def _online() -> None:
        engine = create_async_engine(str(cfg.get_main_option("sqlalchemy.url")))
        async with engine.begin() as c:
            await c.run_sync(_run_on, opts)
        await engine.dispose()

    asyncio.run(_online())


def _run_on(conn: Connection, opts: dict[str, Any]) -> None:
    context.configure(connection=conn, **opts)
    with context.begin_transaction():
        context.run_migrations()
