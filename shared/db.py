"""Async engine and sessions per service, and the one-transaction-per-request rule."""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from pydantic_core import PydanticUndefined
from sqlalchemy import Insert, MetaData, Table, event, exc, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, configure_mappers, registry
from sqlalchemy.orm.base import manager_of_class
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import await_
from sqlmodel import SQLModel

# Named constraints make migrations deterministic and errors traceable to a rule.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def on_postgresql(session: AsyncSession) -> bool:
    """Whether this session talks to PostgreSQL (else SQLite): for the few statements that differ."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def advisory_key(text: str) -> int:
    """A second key for PostgreSQL's two-key advisory locks from any text: its crc32, which is unsigned,
    as the signed 32-bit integer those functions take (two texts sharing a key only wait for each other)."""
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value >= (1 << 31) else value


def make_base(name: str) -> type[SQLModel]:
    """A declarative base with its own metadata, so each service's schema is managed separately."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    return type(name, (SQLModel,), {"__module__": __name__}, registry=registry(metadata=metadata))


M = TypeVar("M", bound=SQLModel)
_IMMUTABLE = (type(None), bool, int, float, str, bytes, Enum, date, uuid.UUID, Decimal)


@functools.cache
def _construction(model: type[SQLModel]) -> tuple[Any, list[tuple[str, Any, bool]], frozenset[str]]:
    """What `new_record` needs of a table model, worked out once: its SQLAlchemy class manager, each
    field's default (value, or factory) and the field names."""
    if (
        getattr(model, "__table__", None) is None
        or model.__pydantic_post_init__
        or model.__sqlmodel_relationships__
    ):
        raise TypeError(f"new_record takes a table model without post-init or relationships: {model}")
    defaults: list[tuple[str, Any, bool]] = []
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            if field.default_factory_takes_validated_data:
                raise TypeError(f"{model.__name__}.{name}: a default factory taking data")
            defaults.append((name, field.default_factory, True))
        elif field.default is not PydanticUndefined:
            if not isinstance(field.default, _IMMUTABLE):  # shared by every record: must not change
                raise TypeError(f"{model.__name__}.{name}: a mutable default")
            defaults.append((name, field.default, False))
    configure_mappers()  # as the first `model(...)` would: until then its attributes cannot be read
    return manager_of_class(model), defaults, frozenset(model.model_fields)


def new_record(model: type[M], **values: Any) -> M:
    """`model(**values)` for a table model, as SQLModel builds it (no validation; defaults filled in),
    at a tenth of the cost: the values go straight into the instance's dict instead of through
    SQLModel's, pydantic's and SQLAlchemy's attribute setters one by one (about 60 µs a record, three
    records on the intake's path). Unknown names are refused, where SQLModel drops them silently."""
    manager, defaults, names = _construction(model)
    if not values.keys() <= names:
        raise TypeError(f"{model.__name__} has no field {sorted(values.keys() - names)}")
    record: M = manager.new_instance()
    fields = record.__dict__
    for name, default, is_factory in defaults:
        if name not in values:
            fields[name] = default() if is_factory else default
    fields.update(values)
    object.__setattr__(record, "__pydantic_fields_set__", set(values))
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@functools.cache
def insert_into(table: Table) -> Insert:
    """The table's INSERT, built once: building a statement (and its cache key) costs about as much
    CPU as executing it. Execute it with the rows as parameters."""
    return insert(table)


# --- Inserts sent with the transaction's next statement ---------------------------------------------
# A write's rows that nothing reads back in its transaction (its audit rows, its idempotency record, a
# new child and its contact) each cost a round trip of their own: five of a contact's eleven. Deferred,
# they wait for the statement that takes them (the journey-event append: on PostgreSQL one statement
# with them as data-modifying CTEs); any other statement the session executes or flushes, and the
# commit, first sends what is waiting, so the transaction reads and writes exactly as if each had been
# sent at once.
_DEFERRED = "frontdoor.deferred_inserts"
Deferred = list[tuple[Table, list[dict[str, Any]]]]


def defer_insert(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table` in this transaction, with its next
    statement: at the latest before commit; a rollback drops them with everything else."""
    if session.in_nested_transaction():  # a savepoint's rollback would not take them back
        raise RuntimeError("defer_insert inside a savepoint")
    if rows:
        session.sync_session.info.setdefault(_DEFERRED, []).append((table, rows))


def take_deferred(session: AsyncSession) -> Deferred:
    """The inserts waiting, now the caller's to send in its own statement (in this order)."""
    taken: Deferred = session.sync_session.info.pop(_DEFERRED, [])
    return taken


def _send_deferred(session: Session) -> None:
    # Runs inside the session's own (sync) execution, so it is sent on the session's connection and
    # transaction; popped first, so these inserts do not come back here.
    for table, rows in session.info.pop(_DEFERRED, ()):
        session.execute(insert_into(table), rows[0] if len(rows) == 1 else rows)


# Whatever waits, goes before any other statement, flush or commit.
event.listen(Session, "before_commit", _send_deferred)


@event.listens_for(Session, "do_orm_execute")
def _before_execute(state: ORMExecuteState) -> None:
    _send_deferred(state.session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    _send_deferred(session)


# Keys of `Session.info` that belong to one transaction: dropped when the outermost one ends, so
# nothing a rolled-back transaction left (a deferred insert, an uncounted event) reaches the next.
_TRANSACTION_INFO: set[str] = {_DEFERRED}


def forget_at_transaction_end(key: str) -> None:
    """Drop `Session.info[key]` whenever a session's outermost transaction ends (commit or rollback)."""
    _TRANSACTION_INFO.add(key)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        for key in _TRANSACTION_INFO:
            session.info.pop(key, None)


# Connections kept open: enough for the requests a worker has in flight under load. A connection
# beyond them (overflow) is closed as soon as it is returned, so a pool smaller than the usual
# concurrency reconnects all the time (at 32 concurrent contacts, 10 kept: 20 reconnections a
# second, each preparing its statements again; about 10% of the worker's CPU).
POOL_SIZE = 20
MAX_OVERFLOW = 10

# Execution option marking an engine whose transactions only read (see `Database.read_session`).
READ_ONLY_OPTION = "frontdoor_read_only"


def missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist, else None (there, in memory, or another
    backend). Connecting would create it (and `create_engine` its directories): right for the
    commands that make a database (migrate, up, serve, seed), wrong for those that only read or
    refill one, which should refuse a mistyped path rather than leave an empty database there."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def create_engine(url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            # Best effort: an unusable location must not stop the app from starting; it then reports
            # 503 (and not ready) instead of crashing at import time.
            with contextlib.suppress(OSError):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, record: Any) -> None:
            # aiosqlite's default deferred BEGIN lets two writers both read then deadlock on upgrade;
            # we take control of BEGIN so writes start with an IMMEDIATE lock (see `begin` below).
            dbapi_connection.isolation_level = None
            _sqlite_pragmas(dbapi_connection, record)

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Readers take no write lock: in WAL mode they read a committed snapshot while a writer works.
            read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    _ping_idle_connections(engine)
    return engine


# A connection back in the pool for less than this was answering moments ago: not checked again on
# checkout (the idea of HikariCP's aliveBypassWindowMs). If the server went away within the window, the
# request meets a dead connection and gets a 503 (SQLAlchemy then discards every pooled connection).
PING_IDLE_AFTER_SECONDS = 0.5
_CHECKED_IN_AT = "frontdoor.checked_in_at"


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Check a pooled PostgreSQL connection on checkout when it has been idle, in one round trip.

    Instead of `pool_pre_ping`, which on asyncpg costs three round trips (BEGIN, an empty query,
    ROLLBACK) on every checkout: under load that was three of a contact's fourteen round trips.
    """
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None:  # None once invalidated: its next checkout connects anew
            record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)  # absent on a connection just made
        driver = proxy.driver_connection
        if (
            checked_in_at is None
            or driver is None
            or time.monotonic() - checked_in_at < PING_IDLE_AFTER_SECONDS
        ):
            return
        try:
            # An empty query outside a transaction: asyncpg sends it by the simple protocol, one round trip.
            await_(driver.execute(";"))
        except Exception as error:
            # As a failed pre-ping: discard every connection made before now, then the pool reconnects.
            raise exc.InvalidatePoolError() from error


class Database:
    """One per service: its engine and session factory."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)
        # Same pool; on SQLite its transactions BEGIN DEFERRED, so readers never queue behind writers.
        self.read_engine = self.engine.execution_options(**{READ_ONLY_OPTION: True})
        self.read_sessionmaker = async_sessionmaker(
            self.read_engine, expire_on_commit=False, class_=AsyncSession
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits once on success, rolls back on any error. Domain code never commits."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only (feeds, verification, health). On SQLite it must not write:
        a deferred transaction that tries to write can fail with "database is locked"."""
        async with self.read_sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def vacuum_analyze(self, tables: Iterable[str]) -> None:
        """VACUUM (ANALYZE) each table on PostgreSQL, outside any transaction as VACUUM must run.

        For tables just written in bulk: until VACUUM marks their pages all-visible, an index-only
        scan still visits the table for every row, and autovacuum may take minutes to get there.
        INDEX_CLEANUP ON: by default a VACUUM that finds dead rows on under 2% of a table's pages
        leaves them (and so those pages not all-visible) for a later one, to skip the index pass.
        Nothing on SQLite, which keeps no visibility map."""
        if self.is_sqlite:
            return
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            quote = autocommit.dialect.identifier_preparer.quote
            for name in tables:
                await autocommit.execute(text(f"VACUUM (ANALYZE, INDEX_CLEANUP ON) {quote(name)}"))
                # A VACUUM begun within moments of the rebuild's last commit can find that commit's
                # rows not yet visible to every transaction and leave their pages unmarked (seen on
                # the first table of a batch); one more pass visits only the pages it left.
                left = await autocommit.execute(
                    text("SELECT relallvisible < relpages FROM pg_class WHERE oid = to_regclass(:name)"),
                    {"name": quote(name)},
                )
                if left.scalar():
                    await autocommit.execute(text(f"VACUUM (INDEX_CLEANUP ON) {quote(name)}"))


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.unit_of_work() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is never a 2xx.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


# --- Statements sent by the driver itself ----------------------------------------------------------
# On PostgreSQL a Core statement through the session costs about three times the driver's own work in
# SQLAlchemy's ORM and async layers (a greenlet per call, ORM execution state, compiled-cache look-up,
# result wrapping): callgrind counted 7.80 M instructions per contact in the referrals worker, 6.47 M
# with the intake's four statements (try-lock, idempotency look-up, team area, event append) sent
# straight through asyncpg. Only for prebuilt statements on hot paths.
_DRIVER_CONNECTION = "frontdoor.driver_connection"
_TRANSACTION_INFO.add(_DRIVER_CONNECTION)
_COMPILED_KEPT = 512
# (SQL, [(parameter, bind processor, value given by the statement)], the parameters' names)
_DriverSQL = tuple[str, list[tuple[str, Any, Any]], frozenset[str]]
# id(statement) -> (statement, its SQL): the statement is kept so that its id cannot be reused by
# another while the entry lives.
_DRIVER_SQL: dict[int, tuple[Any, _DriverSQL]] = {}


def _driver_sql(statement: Any, dialect: Any) -> _DriverSQL:
    kept = _DRIVER_SQL.get(id(statement))
    if kept is not None and kept[0] is statement:
        return kept[1]
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None or any(b.expanding for b in compiled.binds.values()):
        raise ValueError("driver_rows takes statements with plain positional parameters only")
    processors = compiled._bind_processors
    order = [(name, processors.get(name), compiled.binds[name].value) for name in compiled.positiontup]
    if len(_DRIVER_SQL) >= _COMPILED_KEPT:
        _DRIVER_SQL.clear()
    sql = compiled.string, order, frozenset(compiled.positiontup)
    _DRIVER_SQL[id(statement)] = (statement, sql)
    return sql


async def driver_rows(session: AsyncSession, statement: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of a prebuilt Core statement in the session's transaction, as tuples.

    On PostgreSQL the statement goes straight to asyncpg on the session's connection: values are
    bound through their column types, results come as the driver gives them (no result processing:
    read plain values only). Whatever the session has waiting (deferred inserts, pending ORM
    changes) is sent first, as `session.execute` would; errors are SQLAlchemy's. On SQLite it is
    `session.execute`."""
    if not on_postgresql(session):
        result = await session.execute(statement, params)
        try:
            return [tuple(row) for row in result]
        except exc.ResourceClosedError:  # a statement that returns no rows, as the driver's []
            return []
    sync = session.sync_session
    if not sync._is_clean():
        await session.flush()  # autoflush, as session.execute; sends deferred inserts first
    if sync.info.get(_DEFERRED):
        await session.run_sync(_send_deferred)
    # The connection and SQLAlchemy's asyncpg adapter on it (private API: pinned by uv.lock,
    # covered by tests/platform/test_platform_driver_rows.py).
    kept = sync.info.get(_DRIVER_CONNECTION)
    if kept is None:
        opened = await session.connection()
        raw = await opened.get_raw_connection()
        kept = sync.info[_DRIVER_CONNECTION] = (opened, raw.dbapi_connection)
    opened, adapted = cast(tuple[AsyncConnection, Any], kept)
    connection = opened.sync_connection
    assert connection is not None  # kept only while its transaction lasts
    sql, order, names = _driver_sql(statement, connection.dialect)
    if not names.issuperset(params):
        # Compiled without knowing the call's keys, an `insert(t)` would drop the values not in it.
        raise ValueError(f"parameters the statement does not take: {sorted(set(params) - names)}")
    args = []
    for name, process, given in order:
        value = params.get(name, given)
        args.append(process(value) if process is not None and value is not None else value)
    if connection.dispatch.before_cursor_execute:  # statement counters (tests, benchmarks) see it too
        connection.dispatch.before_cursor_execute(connection, None, sql, args, None, False)
    try:
        async with adapted._execute_mutex:
            try:
                if adapted._transaction is None:  # SQLAlchemy's adapter begins on its first statement
                    await adapted._start_transaction()
                return [tuple(row) for row in await adapted._connection.fetch(sql, *args)]
            except exc.DBAPIError:
                raise
            except Exception as error:
                try:
                    adapted._handle_exception(error)  # raises the adapted DB-API error
                except adapted.dbapi.Error as translated:
                    lost = connection.dialect.is_disconnect(translated, adapted, None)
                    raise exc.DBAPIError.instance(
                        sql, args, translated, adapted.dbapi.Error, connection_invalidated=lost
                    ) from translated
                raise
    except exc.DBAPIError as failure:
        if failure.connection_invalidated and not connection.invalidated:
            # As SQLAlchemy does on a disconnect: the pool must not hand this connection out again,
            # and the error says so (a 503, not a 500). Outside the mutex: closing takes it.
            await opened.invalidate(failure.orig)
        raise
