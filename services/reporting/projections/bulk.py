"""Bulk inserts of a batch's new rows, shared by the projections and their kept counts."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, bindparam, insert, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


@functools.cache
def driver_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, list[Any]]:
    """The dialect's INSERT of `columns` as driver SQL (positional placeholders, in column order),
    and per column the bind processor to apply (None: the value goes as it is)."""
    compiled = insert(table).values({c: bindparam(c) for c in columns}).compile(dialect=dialect)
    if list(compiled.positiontup or ()) != list(columns):
        raise RuntimeError(f"{table.name}: {dialect.name} placeholders are not the columns in order")
    processors = [
        None
        if isinstance(table.c[c].type, JSON)
        else table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
        for c in columns
    ]
    return str(compiled), processors


class Statistics:
    """Keeps PostgreSQL's planner statistics in step with the tables this projection fills.

    A rebuild fills the tables from empty far faster than autovacuum re-analyses them, and with
    the stale figures (a near-empty table) the planner answers each batch's look-ups with a scan of
    the whole table: time quadratic in the feed's length. So each table is analysed once this
    process has inserted 1,000 rows into it, and again each time that count doubles: a handful of
    ANALYZEs (each reads a bounded sample) over a whole rebuild, ever rarer as a process runs on.
    """

    FIRST = 1000

    def __init__(self) -> None:
        self.inserted: dict[str, int] = {}
        self.next_at: dict[str, int] = {}

    async def grew(self, connection: AsyncConnection, table: Table, rows: int) -> None:
        total = self.inserted[table.name] = self.inserted.get(table.name, 0) + rows
        if total >= self.next_at.get(table.name, self.FIRST):
            self.next_at[table.name] = 2 * total
            # Inside the batch's transaction: ANALYZE samples its own uncommitted rows too.
            await connection.execute(text(f'ANALYZE "{table.name}"'))


async def insert_many(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    records: list[tuple[Any, ...]],
    statistics: Statistics | None,
) -> None:
    """Insert rows (tuples of `columns`' values) in bulk: values as the ORM holds them, except that
    JSON columns hold JSON text (pydantic's `model_dump_json` makes it in one step).

    SQLAlchemy's per-row parameter handling of an executemany INSERT was the largest part of
    writing a batch, so it is bypassed. On PostgreSQL: a binary COPY on the session's own
    connection (inside the batch's transaction); values go to asyncpg as they are (aware datetimes,
    UUIDs, JSON text). Elsewhere: one executemany of the driver's own INSERT, each value put through
    its column type's bind processor, the very conversion SQLAlchemy would apply (JSON text is
    already what the JSON type would store).
    """
    if not records:
        return
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        sql, processors = driver_insert(table, tuple(columns), connection.dialect)
        rows = [tuple(v if f is None else f(v) for f, v in zip(processors, r, strict=True)) for r in records]
        await connection.exec_driver_sql(sql, rows)
        return
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(table.name, columns=list(columns), records=records)
    if statistics is not None:  # a table the projection reads back, by the look-ups of `_Store.load`
        await statistics.grew(connection, table, len(records))
