"""Database helpers shared by the test fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine

# Restarts every sequence (positions and ids start at 1 again, as after TRUNCATE ... RESTART IDENTITY).
_RESTART_SEQUENCES = """
DO $$
DECLARE s record;
BEGIN
  FOR s IN SELECT sequence_schema, sequence_name FROM information_schema.sequences LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I RESTART', s.sequence_schema, s.sequence_name);
  END LOOP;
END $$;
"""


async def delete_all(url: str, tables: list[str]) -> None:
    """DELETE FROM each table (in the order given), in one transaction.

    On PostgreSQL one round trip on a plain asyncpg connection, sequences restarted too: an order of
    magnitude faster than TRUNCATE on small tables, and than a SQLAlchemy engine's first connect.
    """
    statements = [f'DELETE FROM "{t}";' for t in tables]
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("BEGIN;" + "".join(statements) + _RESTART_SEQUENCES + "COMMIT;")
        finally:
            await conn.close()
        return
    # The services' own SQLite engine: its 30 s busy timeout and BEGIN IMMEDIATE, not the driver's
    # default 5 s with a deferred BEGIN, so a write still finishing elsewhere delays a wipe, not fails it.
    engine = create_engine(url)
    try:
        async with engine.begin() as sa_conn:
            for statement in statements:
                await sa_conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def statements_sent(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL the engine sends while inside (transaction control aside), each statement followed by
    its parameters."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's, sent through the engine
            sent.append(f"{statement} -- {parameters}")

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
