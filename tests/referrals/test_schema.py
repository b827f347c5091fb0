"""The referrals models and the migration chain describe the same schema, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from services.referrals.db import metadata
from shared.migrations import alembic_config


async def test_models_match_migrations(db_urls):
    engine = create_async_engine(db_urls["referrals"])
    try:
        async with engine.connect() as conn:

            def diff(sync_conn):
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(ctx, metadata)

            changes = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert changes == []


def test_one_linear_migration_chain():
    script = ScriptDirectory.from_config(alembic_config("referrals"))
    assert len(script.get_heads()) == 1
