"""An append-only journey log per producing service, with per-journey versions and a hash chain.

Gap safety (a reader that has seen position P never later finds a new event at or below P):

- PostgreSQL: every append takes one transaction-scoped advisory lock (APPEND_LOCK_KEY) *before* it
  draws positions from the sequence, and holds it to commit or rollback. The lock is taken inside the
  INSERT itself (a MATERIALIZED CTE every inserted row is joined to, so no row, and so no position
  default, is computed before the lock is granted): one round trip less while the lock is held. At
  commit PostgreSQL makes the transaction visible (ProcArrayEndTransaction) before it releases its
  locks, so the next appender, which can only draw positions once it holds the lock, draws higher
  positions than every event already visible and becomes visible after them. Positions therefore
  become visible in increasing order; an aborted append leaves a gap that no later commit fills. The
  lock serialises all appending transactions of a database from the append to their end: append as
  the last step before commit, and never insert into the table other than through `append`.
- SQLite: writers are serialised by BEGIN IMMEDIATE and the position (the rowid) is chosen under that
  lock, so the same holds; readers use `Database.read_session` (a WAL snapshot, no lock). Positions
  are max(rowid) + 1, so deleting the newest event (which nothing should do) would let it be reused.

Tests: tests/backbone/test_backbone_ordering.py.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    bindparam,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.db import (
    Deferred,
    driver_rows,
    forget_at_transaction_end,
    insert_into,
    on_postgresql,
    take_deferred,
)
from shared.errors import Conflict, Unprocessable
from shared.events.contract import Catalogue, Envelope, EventPayload
from shared.observability import Metrics, is_request_id
from shared.types import UTCDateTime, as_utc, utcnow

APPEND_LOCK_KEY = 7_204_113_901  # one advisory-lock key per database; each service has its own database
STREAM_VERSION_CONSTRAINT = "uq_journey_events_journey_id_stream_version"
_LOCKED_INSERTS_KEPT = 256  # append statements kept built, one per shape (see EventLog._locked_insert)


def journey_events_table(metadata: MetaData) -> Table:
    return Table(
        "journey_events",
        metadata,
        Column(
            "position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("type", String(80), nullable=False),
        Column("schema_version", Integer, nullable=False),
        Column("journey_id", Uuid, nullable=False),
        Column("stream_version", Integer, nullable=False),
        Column("occurred_at", UTCDateTime, nullable=False),
        Column("recorded_at", UTCDateTime, nullable=False),
        Column("producer", String(40), nullable=False),
        Column("actor", String(120), nullable=False),
        Column("correlation_id", String(128), nullable=True),
        Column("payload", JSON, nullable=False),
        Column("prev_hash", String(64), nullable=True),
        Column("hash", String(64), nullable=False),
        UniqueConstraint("journey_id", "stream_version", name=STREAM_VERSION_CONSTRAINT),
        Index(None, "type"),
    )


def _is_stream_version_clash(error: IntegrityError) -> bool:
    """Whether the append failed on (journey_id, stream_version): another writer got there first."""
    driver_error = getattr(error.orig, "__cause__", None)  # asyncpg's, under SQLAlchemy's adaptation
    constraint = getattr(driver_error, "constraint_name", None)
    # SQLite names no constraint, and there the append's statement inserts only events (`append` sends
    # the deferred inserts before it).
    return constraint is None or constraint == STREAM_VERSION_CONSTRAINT


def envelope_hash(fields: dict[str, Any], prev_hash: str | None) -> str:
    """SHA-256 over a canonical JSON of the envelope (without position, which the database assigns)."""
    doc = {
        "event_id": str(fields["event_id"]),
        "type": fields["type"],
        "schema_version": fields["schema_version"],
        "journey_id": str(fields["journey_id"]),
        "stream_version": fields["stream_version"],
        "occurred_at": _iso(fields["occurred_at"]),
        "recorded_at": _iso(fields["recorded_at"]),
        "producer": fields["producer"],
        "actor": fields["actor"],
        "correlation_id": fields["correlation_id"],
        "payload": fields["payload"],
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class NewEvent:
    payload: EventPayload
    occurred_at: datetime


_PENDING_COUNTS = "frontdoor.events_pending"


def _count_on_commit(session: AsyncSession, metrics: Metrics, types: list[str]) -> None:
    """Count appended events in `journey_events_appended_total` once their transaction commits.

    Kept in the session's info for the listener below, registered once for every session (listening
    on each session cost about 1% of the intake's CPU); dropped with a rolled-back transaction."""
    pending: tuple[Metrics, Counter[str]] | None = session.sync_session.info.get(_PENDING_COUNTS)
    if pending is None:
        pending = session.sync_session.info[_PENDING_COUNTS] = (metrics, Counter())
    pending[1].update(types)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING_COUNTS, None)
    if pending is not None:
        metrics, counts = pending
        for event_type, n in counts.items():
            metrics.events_appended.labels(event_type).inc(n)


forget_at_transaction_end(_PENDING_COUNTS)  # a rolled-back transaction's counts go with it


class EventLog:
    """Appends to and reads from one service's journey log."""

    def __init__(self, table: Table, catalogue: Catalogue, metrics: Metrics | None = None) -> None:
        self.table = table
        self.catalogue = catalogue
        self.metrics = metrics
        self._locked_inserts: dict[tuple[Any, ...], Any] = {}
        self._page_sql: Any = None

    async def current_version(self, session: AsyncSession, journey_id: uuid.UUID) -> int:
        t = self.table
        result = await session.execute(
            select(func.max(t.c.stream_version)).where(t.c.journey_id == journey_id)
        )
        return int(result.scalar() or 0)

    async def append(
        self,
        session: AsyncSession,
        journey_id: uuid.UUID,
        events: Sequence[NewEvent],
        *,
        expected_version: int,
        actor: str,
        correlation_id: str | None = None,
    ) -> list[Envelope]:
        """Append in the caller's transaction; a stale `expected_version` raises 409 Conflict."""
        if not events:
            return []
        payloads = self.checked_payloads(events)
        t = self.table
        # Read before the append lock (the event at `expected_version` never changes once committed): the
        # lock is then held for the insert and the commit only.
        prev_hash: str | None = None
        if expected_version > 0:
            row = (
                await session.execute(
                    select(t.c.hash).where(
                        t.c.journey_id == journey_id, t.c.stream_version == expected_version
                    )
                )
            ).first()
            if row is None:
                raise Conflict(
                    f"journey {journey_id} is not at version {expected_version}", code="stale_journey_version"
                )
            prev_hash = row[0]
        rows = self.envelope_rows(
            journey_id,
            events,
            payloads,
            expected_version=expected_version,
            prev_hash=prev_hash,
            actor=actor,
            correlation_id=correlation_id,
        )
        postgres = on_postgresql(session)
        if not postgres:
            # SQLite: the waiting inserts go first, on their own, outside the clash check below (they
            # would otherwise go out with the events' INSERT, as its session's next statement, and
            # SQLite names no constraint: their own failure would read as a stale version).
            for table, deferred_rows in take_deferred(session):
                await session.execute(insert_into(table), deferred_rows)
        try:
            # No savepoint: a lost race ends the caller's whole transaction (Conflict -> rollback), and a
            # savepoint would add two round trips while the ordering lock is held.
            if postgres:
                # The transaction's deferred inserts go in this same statement (one round trip for all).
                deferred = take_deferred(session)
                params = {f"{name}_{i}": value for i, r in enumerate(rows) for name, value in r.items()}
                for j, (_, deferred_rows) in enumerate(deferred):
                    for k, values in enumerate(deferred_rows):
                        params.update({f"d{j}_{k}_{name}": value for name, value in values.items()})
                result = await driver_rows(session, self._locked_insert(len(rows), deferred), params)
                by_id = {event_id: position for event_id, position in result}
                positions = [by_id[r["event_id"]] for r in rows]
                if positions != sorted(positions):  # the ORDER BY above should make this impossible
                    raise RuntimeError(f"journey {journey_id}: positions {positions} out of stream order")
            else:
                statement = insert(t).returning(t.c.position, sort_by_parameter_order=True)
                result = await session.execute(statement, rows)
                positions = [r[0] for r in result]
        except IntegrityError as error:
            if not _is_stream_version_clash(error):
                raise  # a deferred insert's own failure, sent in the same statement
            raise Conflict(
                f"journey {journey_id} was changed by someone else (expected version {expected_version})",
                code="stale_journey_version",
            ) from None
        if self.metrics is not None:
            _count_on_commit(session, self.metrics, [r["type"] for r in rows])
        return [Envelope(position=p, **r) for p, r in zip(positions, rows, strict=True)]

    def checked_payloads(self, events: Sequence[NewEvent]) -> list[dict[str, Any]]:
        """The events' payloads as stored (JSON values), each checked against the catalogue."""
        payloads: list[dict[str, Any]] = []
        for ev in events:
            model = self.catalogue.model_for(ev.payload.event_type, ev.payload.schema_version)
            if model is None or ev.payload.__class__ is not model:
                raise Unprocessable(f"event type {ev.payload.event_type} is not in the catalogue")
            if ev.occurred_at.tzinfo is None:
                raise Unprocessable("occurred_at must be timezone-aware")
            try:
                as_utc(ev.occurred_at)  # stored, and hashed, in UTC (`envelope_rows`)
            except ValueError:
                raise Unprocessable("occurred_at is out of range") from None
            # What is stored must parse back, as JSON, into the published model (as a reader parses it):
            # catches payloads built with `model_construct`, which skips validation.
            payload = ev.payload.model_dump(mode="json")
            model.model_validate_json(json.dumps(payload))
            payloads.append(payload)
        return payloads

    def envelope_rows(
        self,
        journey_id: uuid.UUID,
        events: Sequence[NewEvent],
        payloads: Sequence[dict[str, Any]],
        *,
        expected_version: int,
        prev_hash: str | None,
        actor: str,
        correlation_id: str | None,
    ) -> list[dict[str, Any]]:
        """The events' rows (without positions), numbered after `expected_version` and hash-chained
        from `prev_hash`, the hash of the event at that version."""
        recorded_at = utcnow()
        # A second guard behind the request middleware's: the envelope goes to reporting, so a
        # correlation id that is not an id-shaped token (free text from a caller) is not kept.
        if not is_request_id(correlation_id):
            correlation_id = None
        rows: list[dict[str, Any]] = []
        for offset, (ev, payload) in enumerate(zip(events, payloads, strict=True), start=1):
            fields: dict[str, Any] = {
                "event_id": uuid.uuid4(),
                "type": ev.payload.event_type,
                "schema_version": ev.payload.schema_version,
                "journey_id": journey_id,
                "stream_version": expected_version + offset,
                # In UTC, as the log stores it and `verify` hashes it again: hashed with the caller's
                # offset, an untouched event would read back as altered.
                "occurred_at": ev.occurred_at.astimezone(UTC),
                "recorded_at": recorded_at,
                "producer": self.catalogue.producer,
                "actor": actor,
                "correlation_id": correlation_id,
                "payload": payload,
            }
            fields["prev_hash"] = prev_hash
            fields["hash"] = prev_hash = envelope_hash(fields, prev_hash)
            rows.append(fields)
        return rows

    def _locked_insert(self, count: int, deferred: Deferred) -> Any:
        """PostgreSQL: INSERT ... SELECT of `count` rows of bound parameters (`<column>_<i>`), each row
        selected from a MATERIALIZED CTE that takes the append lock. A row (and its position default,
        nextval) is only produced once the CTE has returned, that is once the lock is granted.

        The deferred inserts ride along as data-modifying CTEs (`d<j>_<k>_<column>`: insert j, row k).
        PostgreSQL runs them to completion in the same statement, and checks foreign keys at its end,
        so a new child, its journey and its contact can go in together in any order. Unread, they run
        after the events' INSERT, so under the append lock: tens of microseconds of the server's time,
        against the commit's WAL flush that the lock is held for anyway. Built once per shape (row count,
        and each deferred insert's table, columns and row count): the statement holds no values, so
        SQLAlchemy's compiled cache serves it."""
        shape = (count, tuple((table, tuple(rows[0]), len(rows)) for table, rows in deferred))
        statement = self._locked_inserts.get(shape)
        if statement is None:
            t = self.table
            columns = [c for c in t.columns if c.name != "position"]
            lock = (
                select(func.pg_advisory_xact_lock(APPEND_LOCK_KEY).label("locked"))
                .cte("append_lock")
                .prefix_with("MATERIALIZED")
            )

            def values(i: int) -> list[Any]:
                return [bindparam(f"{c.name}_{i}", type_=c.type).label(c.name) for c in columns]

            source: Any
            if count == 1:
                source = select(*values(0)).select_from(lock)
            else:
                # Positions (nextval) are drawn as rows leave the sort, so ORDER BY numbers the events
                # in the order given, not in whatever order the UNION ALL happens to yield them.
                numbered = [
                    select(*values(i), literal_column(str(i), Integer).label("ordinal")).select_from(lock)
                    for i in range(count)
                ]
                rows = union_all(*numbered).subquery("new_events")
                source = select(*[rows.c[c.name] for c in columns]).order_by(rows.c.ordinal)
            statement = (
                insert(t).from_select([c.name for c in columns], source).returning(t.c.event_id, t.c.position)
            )
            # One single-row INSERT per row: SQLAlchemy does not cache a multi-row VALUES statement
            # (it would be compiled again on every append).
            ctes = [
                insert(table)
                .values({name: bindparam(f"d{j}_{k}_{name}", type_=table.c[name].type) for name in rows[0]})
                .cte(f"deferred_{j}_{k}")
                for j, (table, rows) in enumerate(deferred)
                for k in range(len(rows))
            ]
            if ctes:
                statement = statement.add_cte(*ctes)
            if len(self._locked_inserts) >= _LOCKED_INSERTS_KEPT:
                # Shapes come from requests (a contact names up to 40 children): keep the memory bounded.
                del self._locked_inserts[next(iter(self._locked_inserts))]
            self._locked_inserts[shape] = statement
        return statement

    async def read(self, session: AsyncSession, *, after: int, limit: int) -> list[Envelope]:
        t = self.table
        result = await session.execute(
            select(t).where(t.c.position > after).order_by(t.c.position).limit(limit)
        )
        return [Envelope.model_validate(dict(r._mapping)) for r in result]

    async def read_page_json(
        self, session: AsyncSession, *, after: int, limit: int
    ) -> tuple[str, int, int, str | None]:
        """PostgreSQL only: the envelopes after `after` as the feed publishes them, built by the database.

        Returns the JSON texts of the envelopes joined by commas (a JSON array's inside), the position
        of the last one (`after` when none), the head and the hash of the event at `after` (None when
        there is none; see `hash_at`), all from one statement (one snapshot). What
        `read` plus pydantic would serialise, as JSON values (not whitespace): a page of ORM rows, json
        payloads decoded and envelopes validated only to be encoded again cost the producer more than
        the consumer spends applying the page.
        """
        if self._page_sql is None:
            self._page_sql = text(_page_sql(self.table))
        row = (await session.execute(self._page_sql, {"after": after, "limit": limit})).one()
        return row[0], int(row[1] if row[1] is not None else after), int(row[2] or 0), row[3]

    async def hash_at(self, session: AsyncSession, position: int) -> str | None:
        """The hash of the event at `position` (None when there is none there).

        A reader that has applied up to `position` holds that event's hash: if the log's event there
        is another (or none), the log was replaced (a database recreated, or restored from a backup,
        and refilled) and what the reader applied is not this log's history."""
        result = await session.execute(select(self.table.c.hash).where(self.table.c.position == position))
        return result.scalar()

    async def read_stream(self, session: AsyncSession, journey_id: uuid.UUID) -> list[Envelope]:
        t = self.table
        result = await session.execute(
            select(t).where(t.c.journey_id == journey_id).order_by(t.c.stream_version)
        )
        return [Envelope.model_validate(dict(r._mapping)) for r in result]

    async def head(self, session: AsyncSession) -> int:
        result = await session.execute(select(func.max(self.table.c.position)))
        return int(result.scalar() or 0)


def _page_sql(table: Table) -> str:
    """The statement behind `EventLog.read_page_json`: one json_build_object per envelope, its fields
    those of `Envelope` in its order, times in pydantic's form (UTC, `Z`, microseconds only when not
    zero), the payload the stored json text as it is."""
    fields: list[str] = []
    for name in Envelope.model_fields:
        column = table.c[name]
        if isinstance(column.type, UTCDateTime):
            utc = f"({name} AT TIME ZONE 'UTC')"
            value = (
                f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                f" || CASE WHEN date_trunc('second', {name}) = {name} THEN '' ELSE to_char({utc}, '.US') END"
                " || 'Z'"
            )
        else:
            value = name
        fields.append(f"'{name}', {value}")
    return (
        f"WITH page AS (SELECT position, json_build_object({', '.join(fields)}) AS doc FROM {table.name}"
        f" WHERE position > :after ORDER BY position LIMIT :limit)"
        f" SELECT coalesce(string_agg(doc::text, ',' ORDER BY position), ''), max(position),"
        f" (SELECT max(position) FROM {table.name}),"
        f" (SELECT hash FROM {table.name} WHERE position = :after) FROM page"
    )
