"""The two projections reporting keeps: one per upstream feed, each resettable on its own.

Order between the feeds does not matter: every row is keyed by the id it describes and every
derived figure is recomputed from the stored facts, so a supervision that arrives before its
journey's first contact is simply joined when the contact arrives (or at query time).

A batch of events is applied in memory: the rows it touches are loaded with one key look-up per
table, the events are applied in order to those plain rows, each touched contact and journey is
recomputed once at the end, and everything is written back in bulk (new rows by `insert_many`,
changed ones by one executemany UPDATE per table). One event is just a batch of one, so there is a
single code path. A batch is worked out (`prepare_batch`) apart from being written (`write_batch`),
so that a rebuild on PostgreSQL works out the next batch while this one is written
(`FeedConsumer.rebuild`); applying a batch otherwise does both on one session.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, Table, any_, bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from services.reporting.projections import readers as r
from services.reporting.projections.bulk import Statistics, insert_many
from services.reporting.projections.contact_days import (
    ContactDayChanges,
    Increments,
    mark_re_referrals,
    unchanged,
    write_increments,
)
from services.reporting.projections.day_index import index_journey, index_supervision
from services.reporting.projections.journey_months import (
    JourneyMonthChanges,
    hundredths_of_day,
    is_standard_transfer,
)
from services.reporting.projections.models import (
    JOURNEY_DAY_TABLES,
    JOURNEY_MONTH_TABLES,
    JOURNEY_WEEK_TABLES,
    AllocationFact,
    ContactDay,
    ContactDurationBand,
    ContactDurationDay,
    ContactDurationDayBand,
    ContactDurationKeyBand,
    ContactDurationKeyDay,
    ContactDurationKeyDayBand,
    ContactDurationKeyMonth,
    ContactDurationMonth,
    ContactDurationWeek,
    ContactDurationWeekBand,
    ContactDurationWeekdayBand,
    ContactDurationWeekdayMonth,
    ContactFact,
    ContactMonth,
    DecisionFact,
    FeedState,
    JourneyFact,
    NewlyQualifiedFact,
    SupervisionDay,
    SupervisionFact,
    SupervisionOverdueSpell,
    TimelineEntry,
)
from services.reporting.projections.supervision_days import (
    JOURNEY_INPUTS,
    SUPERVISION_INPUTS,
    SupervisionDayChanges,
    contribution,
    lock,
)
from services.reporting.settings import Settings
from shared.db import on_postgresql
from shared.events.contract import Envelope
from shared.types import utcnow

REFERRALS_FEED = "referrals"
SUPERVISION_FEED = "supervision"

Item = tuple[Envelope, r.Reader]
# Loops over a batch hand the event loop back this often: in a rebuild, a batch is worked out while
# the previous one is written in the same thread, and that write should not wait a whole batch to
# send its next statement to PostgreSQL.
YIELD_EVERY = 200
_TIMELINE: Table = TimelineEntry.__table__  # type: ignore[attr-defined]  # Core: no ORM bulk bookkeeping
_TIMELINE_COLUMNS = (
    "event_id", "feed", "position", "journey_id", "child_id", "type", "occurred_at", "recorded_at", "codes"
)  # fmt: skip


@dataclass
class Prepared:
    """A batch worked out by `prepare_batch`, not yet written: each event's result, the feed's state
    row, the readable events, and what the projection worked out from them."""

    results: list[bool]
    states: _Store
    items: list[Item]
    work: Any


class _Projection:
    feed: str
    readers: dict[str, type[r.Reader]]
    facts: tuple[type[SQLModel], ...]  # the tables only this projection fills: emptied on reset
    # Tables this projection changes but does not empty (the other one does), vacuumed after a rebuild.
    derived: tuple[type[SQLModel], ...] = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        calendar = settings.calendar()
        self.statutory = calendar.statutory()
        self.local = calendar.local()
        self.statistics = Statistics()
        # The holiday package imports every country's rules on first use (about a second): pay that
        # when the service starts, not inside the first batch it applies.
        self.statutory.is_working_day(utcnow().date())

    async def apply(self, session: AsyncSession, event: Envelope) -> bool:
        return (await self.apply_batch(session, [event]))[0]

    async def apply_batch(self, session: AsyncSession, events: list[Envelope]) -> list[bool]:
        """Apply events in order; one result per event, False for one skipped (unknown or unreadable)."""
        return await self.write_batch(session, await self.prepare_batch(session, events))

    async def prepare_batch(
        self, session: AsyncSession, events: list[Envelope], previous: Prepared | None = None
    ) -> Prepared:
        """Work a batch out in memory from the rows it touches, writing nothing (`write_batch`
        writes it). With `previous`, the batch before this one, whose write may still be in
        flight: the rows it touched are taken as it left them, not as the database has them yet
        (see `FeedConsumer.rebuild`); `session` then only needs to see every batch before that."""
        # A plain row like the facts' (not an ORM instance: its get and flush cost more than the rest
        # of a batch's bookkeeping), and its figures kept in locals while the events are read.
        states = _Store(FeedState, previous.states if previous is not None else None)
        loaded = await states.load(session, feed={self.feed})
        state = loaded[0] if loaded else states.create(feed=self.feed)
        results: list[bool] = []
        items: list[Item] = []
        occurred, recorded = state.latest_occurred_at, state.latest_recorded_at
        for i, event in enumerate(events):
            if not i % YIELD_EVERY:
                await asyncio.sleep(0)
            if event.occurred_at.tzinfo is None or event.recorded_at.tzinfo is None:
                # As UTCDateTime refuses them on write (a bulk COPY would not): the batch fails.
                raise ValueError("naive datetime refused: store timezone-aware times")
            if occurred is None or event.occurred_at > occurred:
                occurred = event.occurred_at
            if recorded is None or event.recorded_at > recorded:
                recorded = event.recorded_at
            payload = self._read(event)
            results.append(payload is not None)
            if payload is not None:
                items.append((event, payload))
        state.latest_occurred_at, state.latest_recorded_at = occurred, recorded
        state.applied += len(items)
        state.skipped += len(events) - len(items)
        work = None
        if items:
            work = await self.prepare_items(session, items, previous.work if previous is not None else None)
        states.drop_carried()
        return Prepared(results, states, items, work)

    async def write_batch(self, session: AsyncSession, prepared: Prepared) -> list[bool]:
        """Write what `prepare_batch` worked out, in the caller's transaction."""
        await prepared.states.write(session, None)
        if prepared.items:
            timeline = await self.write_items(session, prepared.items, prepared.work)
            # Timeline rows are only ever inserted, never read back here.
            await insert_many(session, _TIMELINE, _TIMELINE_COLUMNS, timeline, None)
        return prepared.results

    async def prepare_items(self, session: AsyncSession, items: list[Item], previous: Any) -> Any:
        """What a batch's readable events change, worked out without writing (None: nothing ahead of
        `write_items`). `previous` is the previous batch's, as `prepare_batch` says."""
        return None

    async def write_items(self, session: AsyncSession, items: list[Item], work: Any) -> list[tuple[Any, ...]]:
        """Write a batch's readable events (`work` as `prepare_items` left it); return their
        timeline rows."""
        raise NotImplementedError

    def _read(self, event: Envelope) -> r.Reader | None:
        reader = self.readers.get(event.type)
        if reader is None:
            return None
        try:
            return reader.model_validate(event.payload)
        except ValidationError:
            # A payload this reader cannot understand is skipped and counted, never retried
            # forever: a poison event must not stop the front-door measures.
            return None

    def _timeline(self, event: Envelope, payload: r.Reader, child_id: uuid.UUID | None) -> tuple[Any, ...]:
        """A timeline row, as values of `_TIMELINE_COLUMNS`."""
        return (
            event.event_id,
            self.feed,
            event.position,
            event.journey_id,
            child_id,
            event.type,
            event.occurred_at,
            event.recorded_at,
            payload.model_dump_json(exclude_none=True),  # JSON text, as `insert_many` takes it
        )

    async def reset(self, session: AsyncSession) -> None:
        for table in self.facts:
            await session.execute(delete(table))
        # Tables both projections fill: only this feed's rows.
        await session.execute(delete(TimelineEntry).where(col(TimelineEntry.feed) == self.feed))
        await session.execute(delete(FeedState).where(col(FeedState.feed) == self.feed))

    @property
    def tables(self) -> list[str]:
        shared: tuple[type[SQLModel], ...] = (TimelineEntry, FeedState)
        return [str(t.__tablename__) for t in (*self.facts, *self.derived, *shared)]


class _Fact:
    """A fact row held in memory for one batch: plain attributes, because an ORM instance costs more
    per attribute set than the round trips batching saves."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class _Store:
    """One table's rows for one batch: loaded by key look-ups, then one bulk insert of the new rows
    (`insert_many`) and one executemany UPDATE of the loaded rows that changed.

    Given the previous batch's store (`previous`), a row that batch touched is loaded as that batch
    left it, whatever the database holds, and a row it created is found by the look-ups too: its
    write may not have committed yet (a rebuild writes one batch while working out the next)."""

    def __init__(self, model: Any, previous: _Store | None = None) -> None:
        self.table: Table = model.__table__
        self.key: str = next(iter(self.table.primary_key.columns)).name
        self.columns = [c.name for c in self.table.columns]
        self.defaults = _defaults(model)
        self.loaded: dict[Any, tuple[Any, dict[str, Any]]] = {}
        self.new: list[Any] = []
        # The previous batch's rows by key, and those it created (absent from the database until its
        # write commits). Its own objects, never changed here: its write may be reading them.
        self.carried: dict[Any, Any] = {}
        self.carried_new: list[Any] = []
        if previous is not None:
            self.carried = {key: row for key, (row, _) in previous.loaded.items()}
            self.carried_new = previous.new
            self.carried.update((row.__dict__[self.key], row) for row in previous.new)

    async def load(self, session: AsyncSession, **where: set[Any]) -> list[Any]:
        """The rows whose column `name` is one of `ids`, for any `name=ids` given (one query per
        chunk of ids; each row once per batch, however often asked)."""
        rows: list[Any] = []
        found: set[Any] = set()
        for query in _look_ups(session, self.table, select(self.table), where):
            for mapping in (await session.execute(query)).mappings():
                key = mapping[self.key]
                found.add(key)
                rows.append(self._loaded(key, mapping))
        # The look-up columns (ids) never change, so a created row matches as it will once stored.
        for row in self.carried_new:
            values = row.__dict__
            key = values[self.key]
            if key not in found and any(values[name] in ids for name, ids in where.items()):
                found.add(key)
                rows.append(self._loaded(key, values))
        return rows

    def drop_carried(self) -> None:
        """Let go of the previous batch's rows once this batch is worked out, so that no more than
        two batches' rows are held at once."""
        self.carried, self.carried_new = {}, []

    def _loaded(self, key: Any, stored: Mapping[str, Any]) -> Any:
        """The batch's row of `key`, made on first sight from the previous batch's or else the
        stored values."""
        if key not in self.loaded:
            carried = self.carried.get(key)
            # Of a carried row, a copy of its columns: the previous batch's object stays as it is.
            values = dict(stored) if carried is None else {c: carried.__dict__[c] for c in self.columns}
            self.loaded[key] = (_Fact(values), dict(values))
        return self.loaded[key][0]

    def create(self, **values: Any) -> Any:
        row = _Fact({**self.defaults, **values})
        self.new.append(row)
        return row

    async def write(self, session: AsyncSession, statistics: Statistics | None) -> None:
        values = operator.itemgetter(*self.columns)
        new = [values(r.__dict__) for r in self.new]
        await insert_many(session, self.table, self.columns, new, statistics)
        changed = []
        for row, before in self.loaded.values():
            after = {c: getattr(row, c) for c in self.columns}
            if after != before:
                changed.append({f"v_{c}": v for c, v in after.items()})
        if changed:
            await session.execute(_update_by_key(self.table), changed)


@functools.cache
def _defaults(model: Any) -> dict[str, Any]:
    """A model's column defaults, shared by every batch (the fact models' defaults are immutable)."""
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
        if not field.is_required()
    }


@functools.cache
def _update_by_key(table: Table) -> Any:
    """UPDATE every column of one row by its key, from parameters named `v_<column>`."""
    key = next(iter(table.primary_key.columns)).name
    return (
        update(table)
        .where(table.c[key] == bindparam(f"v_{key}"))
        .values({c.name: bindparam(f"v_{c.name}") for c in table.columns if c.name != key})
    )


class _Rows:
    """The referrals facts one batch touches, keyed as the recomputations read them.

    `decisions_by_contact` is complete for every contact an event of the batch names,
    `contacts_by_journey` / `allocations_by_journey` for every journey an event belongs to, and
    `contacts_by_child` for the child of every such contact: those are exactly the keys the
    recomputations look up.
    """

    def __init__(self, previous: _Rows | None = None) -> None:
        """With `previous`, the previous batch's rows: see `_Store`."""
        last = (None,) * 4 if previous is None else previous.stores
        self.contact_store = _Store(ContactFact, last[0])
        self.decision_store = _Store(DecisionFact, last[1])
        self.journey_store = _Store(JourneyFact, last[2])
        self.allocation_store = _Store(AllocationFact, last[3])
        self.contacts: dict[uuid.UUID, Any] = {}
        self.decisions: dict[uuid.UUID, Any] = {}
        self.journeys: dict[uuid.UUID, Any] = {}
        self.decisions_by_contact: dict[uuid.UUID, list[Any]] = defaultdict(list)
        self.contacts_by_journey: dict[uuid.UUID, list[Any]] = defaultdict(list)
        self.contacts_by_child: dict[uuid.UUID, list[Any]] = defaultdict(list)
        self.allocations_by_journey: dict[uuid.UUID, list[Any]] = defaultdict(list)

    def add_contact(self, contact: Any) -> None:
        if contact.contact_id not in self.contacts:
            self.contacts[contact.contact_id] = contact
            self.contacts_by_journey[contact.journey_id].append(contact)
            self.contacts_by_child[contact.child_id].append(contact)

    def add_decision(self, decision: Any) -> None:
        if decision.decision_id not in self.decisions:
            self.decisions[decision.decision_id] = decision
            self.decisions_by_contact[decision.contact_id].append(decision)

    @property
    def stores(self) -> tuple[_Store, _Store, _Store, _Store]:
        return self.contact_store, self.decision_store, self.journey_store, self.allocation_store

    async def write(self, session: AsyncSession, statistics: Statistics) -> None:
        for store in self.stores:
            await store.write(session, statistics)


def _chunked(where: dict[str, set[Any]], size: int = 1000) -> list[dict[str, list[Any]]]:
    """Split each id set into lists of at most `size`, one query's worth per element (SQLite and
    asyncpg cap the parameters of one statement); no element for nothing to look up."""
    ordered = {column: list(ids) for column, ids in where.items() if ids}
    longest = max((len(ids) for ids in ordered.values()), default=0)
    return [
        {column: ids[i : i + size] for column, ids in ordered.items() if ids[i : i + size]}
        for i in range(0, longest, size)
    ]


def _look_ups(
    session: AsyncSession, table: Table, query: Select[Any], where: dict[str, set[Any]]
) -> list[Select[Any]]:
    """`query` restricted to the rows of `table` whose column `name` is one of `ids`, for any
    `name=ids` given: one query per chunk of ids."""
    postgres = on_postgresql(session)
    queries: list[Select[Any]] = []
    for chunks in _chunked(where):
        conditions = []
        for column, chunk in chunks.items():
            target = table.c[column]
            if postgres:
                # `= ANY(array)`: one statement text whatever the number of ids, so PostgreSQL
                # prepares it once, where each length of an IN (...) list is a new statement.
                conditions.append(target == any_(bindparam(column, chunk, type_=ARRAY(target.type))))
            else:
                conditions.append(target.in_(chunk))
        queries.append(query.where(or_(*conditions)))
    return queries


async def _inputs(
    session: AsyncSession, model: Any, names: Sequence[str], **where: set[Any]
) -> list[dict[str, Any]]:
    """Only the columns `names` of the rows `_Store.load` would give, read-only: what a kept count
    needs of facts this batch does not change costs a fraction of reading (and copying) whole rows."""
    table: Table = model.__table__
    query = select(*(table.c[name] for name in names))
    return [
        dict(m)
        for q in _look_ups(session, table, query, where)
        for m in (await session.execute(q)).mappings()
    ]


async def _register(session: AsyncSession, workers: set[str | None] | None) -> dict[str, date | None]:
    """The newly-qualified register entries of these workers (None: all), as committed (read under
    the lock both feeds take)."""
    if workers is None:
        query = select(col(NewlyQualifiedFact.worker_id), col(NewlyQualifiedFact.newly_qualified_until))
        return {worker: until for worker, until in await session.execute(query)}
    ids = {w for w in workers if w is not None}
    names = ("worker_id", "newly_qualified_until")
    rows = await _inputs(session, NewlyQualifiedFact, names, worker_id=ids)
    return {row["worker_id"]: row["newly_qualified_until"] for row in rows}


@dataclass
class _ReferralsWork:
    rows: _Rows
    increments: list[Increments]  # of the kept counts
    timeline: list[tuple[Any, ...]]


class ReferralsProjection(_Projection):
    feed = REFERRALS_FEED
    readers = r.REFERRALS
    facts = (
        ContactFact,
        DecisionFact,
        JourneyFact,
        AllocationFact,
        ContactDay,
        ContactMonth,
        ContactDurationMonth,
        ContactDurationBand,
        ContactDurationDay,
        ContactDurationDayBand,
        ContactDurationWeek,
        ContactDurationWeekBand,
        ContactDurationWeekdayMonth,
        ContactDurationWeekdayBand,
        ContactDurationKeyMonth,
        ContactDurationKeyBand,
        ContactDurationKeyDay,
        ContactDurationKeyDayBand,
        *JOURNEY_MONTH_TABLES,
        *JOURNEY_DAY_TABLES,
        *JOURNEY_WEEK_TABLES,
        # Kept from journeys and supervisions: a journey's contribution needs the journey, so none
        # is left when the journeys are emptied (SupervisionProjection.reset takes off its part).
        SupervisionDay,
        SupervisionOverdueSpell,
    )

    async def reset(self, session: AsyncSession) -> None:
        # Under the supervision counts' lock: a supervision batch committing its changes meanwhile
        # would leave rows this DELETE's snapshot did not see, for journeys no longer there.
        await lock(session)
        await super().reset(session)

    async def _load(self, session: AsyncSession, items: list[Item], previous: _Rows | None) -> _Rows:
        contact_ids: set[uuid.UUID] = set()
        decision_ids: set[uuid.UUID] = set()
        journey_ids: set[uuid.UUID] = set()
        child_ids: set[uuid.UUID] = set()
        for event, p in items:
            journey_ids.add(event.journey_id)
            fields = p.__dict__  # a reader's fields; a plain look-up, not pydantic's __getattr__
            if (value := fields.get("contact_id")) is not None:
                contact_ids.add(value)
                if isinstance(p, r.ContactReceived):
                    child_ids.add(p.child_id)
            for name in ("decision_id", "supersedes_decision_id"):
                if (value := fields.get(name)) is not None:
                    decision_ids.add(value)
        rows = _Rows(previous)
        # One query per table: a round trip costs more than the few rows an OR brings in twice.
        for journey in await rows.journey_store.load(session, journey_id=journey_ids):
            rows.journeys[journey.journey_id] = journey
        for allocation in await rows.allocation_store.load(session, journey_id=journey_ids):
            rows.allocations_by_journey[allocation.journey_id].append(allocation)
        for contact in await rows.contact_store.load(
            session, journey_id=journey_ids, contact_id=contact_ids, child_id=child_ids
        ):
            rows.add_contact(contact)
        # Re-referrals look at all of a child's contacts, in any journey.
        other_children = {c.child_id for c in rows.contacts.values()} - child_ids
        for contact in await rows.contact_store.load(session, child_id=other_children):
            rows.add_contact(contact)
        for decision in await rows.decision_store.load(
            session, contact_id=contact_ids, decision_id=decision_ids
        ):
            rows.add_decision(decision)
        return rows

    async def prepare_items(self, session: AsyncSession, items: list[Item], previous: Any) -> _ReferralsWork:
        rows = await self._load(session, items, previous.rows if previous is not None else None)
        timeline: list[tuple[Any, ...]] = []
        touched_contacts: dict[uuid.UUID, None] = {}
        touched_journeys: dict[uuid.UUID, None] = {}
        for i, (event, payload) in enumerate(items):
            if not i % YIELD_EVERY:
                await asyncio.sleep(0)
            child_id: uuid.UUID | None = payload.__dict__.get("child_id")
            contact_id: uuid.UUID | None = payload.__dict__.get("contact_id")
            match payload:
                case r.ContactReceived():
                    self._contact(rows, event, payload)
                case r.ThresholdDecisionRecorded():
                    self._decision(rows, payload)
                case r.ThresholdDecisionAuthorised():
                    decision = rows.decisions.get(payload.decision_id)
                    if decision is not None:
                        decision.authorised_at = payload.authorised_at
                case r.ThresholdDecisionSuperseded():
                    decision = rows.decisions.get(payload.decision_id)
                    if decision is not None:
                        decision.superseded_by_decision_id = payload.superseded_by_decision_id
                case r.JourneyAllocated() | r.JourneyTransferred():
                    self._allocation(rows, event, payload)
                case r.JourneyClosed():
                    journey = self._journey(rows, event.journey_id)
                    journey.closed_at = payload.closed_at
                    journey.closure_reason = payload.closure_reason
                case _:
                    pass
            if contact_id is not None:
                touched_contacts[contact_id] = None
                contact = rows.contacts.get(contact_id)
                if child_id is None and contact is not None:
                    child_id = contact.child_id
            self._journey(rows, event.journey_id)
            touched_journeys[event.journey_id] = None
            timeline.append(self._timeline(event, payload, child_id))
        # Derived figures depend only on the stored facts, so recomputing each once, after the
        # whole batch, leaves what recomputing after every event would (contacts before journeys:
        # a journey reads its first contact's current outcome).
        children: dict[uuid.UUID, None] = {}
        for i, contact_id in enumerate(touched_contacts):
            if not i % YIELD_EVERY:
                await asyncio.sleep(0)
            if (contact := self.refresh_contact(rows, contact_id)) is not None:
                children[contact.child_id] = None
        for child_id in children:
            mark_re_referrals(rows.contacts_by_child[child_id])
        for i, journey_id in enumerate(touched_journeys):
            if not i % YIELD_EVERY:
                await asyncio.sleep(0)
            self.refresh_journey(rows, journey_id)
        days = ContactDayChanges()
        changed: list[tuple[dict[str, Any] | None, dict[str, Any]]] = [
            (before, contact.__dict__) for contact, before in rows.contact_store.loaded.values()
        ]
        changed += [(None, contact.__dict__) for contact in rows.contact_store.new]
        for i, (before, after) in enumerate(changed):
            if not i % YIELD_EVERY:
                await asyncio.sleep(0)
            days.change(before, after)
        journey_months = JourneyMonthChanges()
        journey_months.batch(
            rows.journey_store.loaded.values(),
            rows.journey_store.new,
            (before for _, before in rows.allocation_store.loaded.values()),
            rows.allocations_by_journey,
        )
        for store in rows.stores:
            store.drop_carried()
        # Worked out here, not while writing: in a rebuild this runs while the previous batch is
        # written, and time spent in Python while writing leaves PostgreSQL waiting.
        return _ReferralsWork(rows, [*days.increments(), *journey_months.increments()], timeline)

    async def write_items(
        self, session: AsyncSession, items: list[Item], work: _ReferralsWork
    ) -> list[tuple[Any, ...]]:
        await work.rows.write(session, self.statistics)
        await write_increments(session, work.increments)
        # Read and written here, under the lock the supervision feed also takes: its facts are
        # that feed's, which may be applying meanwhile.
        await self._supervision_days(session, work.rows)
        return work.timeline

    async def _supervision_days(self, session: AsyncSession, rows: _Rows) -> None:
        """Take the changed journeys' old supervision contributions off and add their new ones, with
        their supervisions as committed (read under the lock the supervision feed also takes)."""
        changed: dict[uuid.UUID, tuple[dict[str, Any] | None, dict[str, Any]]] = {}
        for journey, before in rows.journey_store.loaded.values():
            if not unchanged(before, journey.__dict__, JOURNEY_INPUTS):
                changed[journey.journey_id] = (before, journey.__dict__)
        for journey in rows.journey_store.new:
            changed[journey.journey_id] = (None, journey.__dict__)
        if not changed:
            return
        await lock(session)
        supervisions: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for supervision in await _Store(SupervisionFact).load(session, journey_id=set(changed)):
            supervisions[supervision.journey_id].append(supervision.__dict__)
        workers = {j["current_worker_id"] for pair in changed.values() for j in pair if j is not None}
        register = await _register(session, workers)
        kept = SupervisionDayChanges()
        for journey_id, (was, now) in changed.items():
            held = supervisions.get(journey_id, [])
            kept.change(
                journey_id,
                contribution(self.local, self.settings, was, held, register),
                contribution(self.local, self.settings, now, held, register),
            )
        await kept.write(session)

    def _contact(self, rows: _Rows, event: Envelope, p: r.ContactReceived) -> None:
        contact = rows.contacts.get(p.contact_id)
        if contact is None:
            contact = rows.contact_store.create(
                contact_id=p.contact_id,
                journey_id=event.journey_id,
                child_id=p.child_id,
                received_at=p.received_at,
                recorded_at=event.recorded_at,
                decision_due_at=p.received_at,
            )
            rows.add_contact(contact)
        lag = event.recorded_at - p.received_at
        contact.backdated = lag > timedelta(hours=self.settings.backdate_threshold_hours)
        contact.source = p.source
        contact.channel = p.channel
        contact.urgency = p.urgency
        contact.team_id = p.team_id
        contact.area = p.area
        contact.opens_journey = p.opens_journey
        contact.repeat_contact = p.repeat_contact
        contact.decision_due_at = self.statutory.deadline(
            p.received_at, self.settings.decision_within_working_days
        )

    def _decision(self, rows: _Rows, p: r.ThresholdDecisionRecorded) -> None:
        decision = rows.decisions.get(p.decision_id)
        if decision is None:
            decision = rows.decision_store.create(
                decision_id=p.decision_id, contact_id=p.contact_id, outcome=p.outcome, decided_at=p.decided_at
            )
            rows.add_decision(decision)
        decision.outcome = p.outcome
        decision.decided_at = p.decided_at
        decision.requires_authorisation = p.requires_authorisation
        decision.supersedes_decision_id = p.supersedes_decision_id
        decision.team_id = p.decided_by_team
        decision.area = p.decided_by_area
        if p.supersedes_decision_id is not None:
            previous = rows.decisions.get(p.supersedes_decision_id)
            if previous is not None:
                previous.superseded_by_decision_id = p.decision_id

    def _allocation(self, rows: _Rows, event: Envelope, p: r.JourneyAllocated | r.JourneyTransferred) -> None:
        if isinstance(p, r.JourneyAllocated):
            row = rows.allocation_store.create(
                event_id=event.event_id,
                journey_id=event.journey_id,
                position=event.position,
                kind="allocated",
                effective_at=p.effective_at,
                team_id=p.team_id,
                area=p.area,
                service_type=p.service_type,
                worker_id=p.worker_id,
            )
        else:
            row = rows.allocation_store.create(
                event_id=event.event_id,
                journey_id=event.journey_id,
                position=event.position,
                kind="transferred",
                effective_at=p.effective_at,
                team_id=p.to_team_id,
                area=p.to_area,
                service_type=p.to_service_type,
                worker_id=p.to_worker_id,
                team_changed=p.team_changed,
                worker_changed=p.worker_changed,
                reason=p.reason,
            )
        rows.allocations_by_journey[row.journey_id].append(row)

    def _journey(self, rows: _Rows, journey_id: uuid.UUID) -> Any:
        journey = rows.journeys.get(journey_id)
        if journey is None:
            journey = rows.journey_store.create(journey_id=journey_id)
            rows.journeys[journey_id] = journey
        return journey

    def refresh_contact(self, rows: _Rows, contact_id: uuid.UUID) -> Any:
        """Recompute a contact's decision summary and durations from its stored decisions.

        Timeliness is measured to the FIRST decision (a later correction does not restart the
        clock); the outcome and the authorisation are those of the CURRENT (non-superseded) one.
        """
        contact = rows.contacts.get(contact_id)
        if contact is None:
            return None  # its decisions wait in rpt_decisions until the contact arrives
        decisions = sorted(
            rows.decisions_by_contact.get(contact_id, ()), key=lambda d: (d.decided_at, d.decision_id)
        )
        contact.decisions = len(decisions)
        if not decisions:
            return contact
        superseded = {d.supersedes_decision_id for d in decisions if d.supersedes_decision_id} | {
            d.decision_id for d in decisions if d.superseded_by_decision_id
        }
        current = [d for d in decisions if d.decision_id not in superseded][-1:] or decisions[-1:]
        now = current[0]
        first_at = decisions[0].decided_at
        received = contact.received_at
        cal = self.statutory
        contact.first_decided_at = first_at
        contact.current_decision_id = now.decision_id
        contact.current_outcome = now.outcome
        contact.current_decided_at = now.decided_at
        contact.requires_authorisation = now.requires_authorisation
        contact.authorised_at = now.authorised_at
        contact.working_hours_to_decision = cal.working_hours_between(received, first_at)
        contact.working_days_to_decision = cal.working_days_between(cal.clock_start(received), first_at)
        contact.calendar_hours_to_decision = cal.calendar_hours_between(received, first_at)
        contact.decided_within_timescale = cal.within_working_days(
            received, first_at, self.settings.decision_within_working_days
        )
        if now.authorised_at is not None:
            auth = now.authorised_at
            contact.working_hours_to_authorisation = cal.working_hours_between(received, auth)
            contact.working_days_to_authorisation = cal.working_days_between(cal.clock_start(received), auth)
            contact.calendar_hours_to_authorisation = cal.calendar_hours_between(received, auth)
        else:
            contact.working_hours_to_authorisation = None
            contact.working_days_to_authorisation = None
            contact.calendar_hours_to_authorisation = None
        return contact

    def refresh_journey(self, rows: _Rows, journey_id: uuid.UUID) -> Any:
        """Recompute a journey's first contact, handovers and unallocated spells from its facts.

        A journey is *allocated* while a named worker holds it; it is unallocated from its first
        contact until then, and again whenever a handover leaves it without a worker.
        """
        journey = self._journey(rows, journey_id)
        contacts = sorted(
            rows.contacts_by_journey.get(journey_id, ()), key=lambda c: (c.received_at, c.contact_id)
        )
        allocations = sorted(
            rows.allocations_by_journey.get(journey_id, ()), key=lambda a: (a.effective_at, a.position)
        )
        if contacts:
            first = contacts[0]
            journey.child_id = first.child_id
            journey.opened_at = first.received_at
            journey.first_contact_id = first.contact_id
            journey.source = first.source
            journey.team_id = first.team_id
            journey.area = first.area
            journey.outcome = first.current_outcome
        handovers = [a for a in allocations if a.kind == "transferred"]
        journey.transfers = len(handovers)
        journey.team_transfers = sum(1 for a in handovers if a.team_changed)
        journey.worker_changes = sum(1 for a in handovers if a.worker_changed)
        if allocations:
            last = allocations[-1]
            journey.current_team_id = last.team_id
            journey.current_area = last.area
            journey.current_service_type = last.service_type
            # A handover names the worker after it (the same one when only the team changed).
            journey.current_worker_id = last.worker_id
        journey.first_allocated_at = next((a.effective_at for a in allocations if a.worker_id), None)
        self._standard_transfer(journey, handovers)
        self._unallocated(journey, allocations)
        index_journey(self.local, journey)
        return journey

    def _standard_transfer(self, journey: Any, handovers: list[Any]) -> None:
        """The journey's first standard transfer (handovers in effective order) and its lag from the
        first contact: working days on the local calendar (a local measure, as unallocated working
        days are, and counted as they are: London days after the first contact's, up to the
        transfer's), and calendar days in hundredths, as the report rounds them. A transfer dated
        before the first contact lags by nothing."""
        standard = next((a for a in handovers if is_standard_transfer(a)), None)
        journey.standard_transfer_at = None if standard is None else standard.effective_at
        journey.standard_transfer_working_days = journey.standard_transfer_hundredths = None
        if standard is not None and journey.opened_at is not None:
            end = max(standard.effective_at, journey.opened_at)
            start = journey.opened_at
            journey.standard_transfer_working_days = self.local.working_days_between(start, end)
            journey.standard_transfer_hundredths = hundredths_of_day(
                self.statutory.calendar_hours_between(start, end)
            )

    def _unallocated(self, journey: Any, allocations: list[Any]) -> None:
        hours, days = 0.0, 0
        gap_start: datetime | None = journey.opened_at
        if gap_start is not None:
            for a in allocations:
                if a.worker_id is None and gap_start is None:
                    gap_start = a.effective_at
                elif a.worker_id is not None and gap_start is not None:
                    end = max(a.effective_at, gap_start)
                    hours += self.local.calendar_hours_between(gap_start, end)
                    days += self.local.working_days_between(gap_start, end)
                    gap_start = None
            if gap_start is not None and journey.closed_at is not None:
                end = max(journey.closed_at, gap_start)
                hours += self.local.calendar_hours_between(gap_start, end)
                days += self.local.working_days_between(gap_start, end)
                gap_start = None
        journey.unallocated_hours_closed = hours
        journey.unallocated_working_days_closed = days
        journey.unallocated_since = gap_start


class SupervisionProjection(_Projection):
    feed = SUPERVISION_FEED
    readers = r.SUPERVISION
    facts = (SupervisionFact, NewlyQualifiedFact)
    derived = (SupervisionDay, SupervisionOverdueSpell)

    async def reset(self, session: AsyncSession) -> None:
        """Take every journey's supervisions, and its worker's newly-qualified register entry, out of
        its kept supervision counts (a journey then counts as never supervised, at its service type's
        interval), a chunk of journeys at a time, then forget the supervisions and the register."""
        await lock(session)
        query = select(col(SupervisionFact.journey_id)).distinct()
        affected = set((await session.execute(query)).scalars())
        entries = await _register(session, None)
        registered = {w for w, until in entries.items() if until is not None}
        affected |= await _journeys_of(session, registered)
        ordered = sorted(affected)
        for i in range(0, len(ordered), 1000):
            chunk = set(ordered[i : i + 1000])
            store = _Store(SupervisionFact)
            await store.load(session, journey_id=chunk)
            await self._supervision_days(
                session, store, chunk, entries=(entries, {}), also=chunk, cleared=True
            )
        await super().reset(session)

    async def _supervision_days(
        self,
        session: AsyncSession,
        store: _Store,
        journey_ids: set[uuid.UUID],
        *,
        entries: tuple[Mapping[str, date | None], Mapping[str, date | None]] = ({}, {}),
        also: set[uuid.UUID] | None = None,
        cleared: bool = False,
    ) -> None:
        """Take the old supervision contributions of journeys whose supervisions changed (all of each
        is in `store`) or whose worker's register entry changed (`also`; `entries`: the entries the
        batch changed, before and after) off and add their new ones (no supervisions nor register
        left: `cleared`), with the journeys and the other entries as committed (read under the lock
        the referrals feed also takes)."""
        before: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        after: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for row, values in store.loaded.values():
            before[row.journey_id].append(values)
            after[row.journey_id].append(row.__dict__)
        for row in store.new:
            after[row.journey_id].append(row.__dict__)
        changed = {
            journey_id
            for journey_id in journey_ids
            if cleared
            or [[s[n] for n in SUPERVISION_INPUTS] for s in before[journey_id]]
            != [[s[n] for n in SUPERVISION_INPUTS] for s in after[journey_id]]
        } | (also or set())
        if not changed:
            return
        loaded = await _inputs(session, JourneyFact, ("journey_id", *JOURNEY_INPUTS), journey_id=changed)
        journeys = {j["journey_id"]: j for j in loaded}
        was, now = entries
        # The entries this batch did not change, as committed (the same before and after).
        unchanged_entries = {j["current_worker_id"] for j in loaded} - set(was) - set(now)
        if cleared:
            unchanged_entries = set()
        committed = await _register(session, unchanged_entries)
        register_before = {**committed, **was}
        register_after = {**committed, **now}
        kept = SupervisionDayChanges()
        for journey_id in sorted(changed):
            journey = journeys.get(journey_id)
            kept.change(
                journey_id,
                contribution(self.local, self.settings, journey, before[journey_id], register_before),
                contribution(
                    self.local, self.settings, journey, [] if cleared else after[journey_id], register_after
                ),
            )
        await kept.write(session)

    async def write_items(self, session: AsyncSession, items: list[Item], work: Any) -> list[tuple[Any, ...]]:
        # Before reading the journeys (in `_supervision_days`) and the journeys' kept contributions.
        await lock(session)
        # The register entries the batch sets, as they were, and the journeys of those workers.
        workers = {p.worker_id for _, p in items if isinstance(p, r.NewlyQualifiedRegisterSet)}
        register = _Store(NewlyQualifiedFact)
        entries = {row.worker_id: row for row in await register.load(session, worker_id=workers)}
        was = {worker: row.newly_qualified_until for worker, row in entries.items()}
        on_register = await _journeys_of(session, workers)
        ids = {sid for _, p in items if (sid := p.__dict__.get("supervision_id")) is not None}
        journey_ids = {event.journey_id for event, p in items if p.__dict__.get("supervision_id")}
        journey_ids |= on_register
        store = _Store(SupervisionFact)
        # Every supervision of each journey the batch may change, for its contribution before and after.
        loaded = await store.load(session, supervision_id=ids, journey_id=journey_ids)
        if others := {row.journey_id for row in loaded} - journey_ids:
            journey_ids |= others
            await store.load(session, journey_id=others)
        known: dict[uuid.UUID, Any] = {row.supervision_id: row for row, _ in store.loaded.values()}
        timeline: list[tuple[Any, ...]] = []
        for event, payload in items:
            child_id: uuid.UUID | None = None
            if isinstance(payload, r.NewlyQualifiedRegisterSet):
                entry = entries.get(payload.worker_id)
                if entry is None:
                    entry = entries[payload.worker_id] = register.create(worker_id=payload.worker_id)
                entry.newly_qualified_until = payload.newly_qualified_until
                continue  # no child's timeline: the event is the register's, not a journey's
            if isinstance(payload, r.SupervisionRecorded):
                row = known.get(payload.supervision_id)
                if row is None:
                    row = store.create(
                        supervision_id=payload.supervision_id,
                        journey_id=event.journey_id,
                        held_at=payload.held_at,
                    )
                    known[row.supervision_id] = row
                row.child_id = payload.child_id
                row.team_id = payload.team_id
                row.held_at = payload.held_at
                row.kind = payload.kind
                row.next_due_on = payload.next_due_on
                index_supervision(self.local, row)
                child_id = payload.child_id
            else:
                supervision_id: uuid.UUID | None = payload.__dict__.get("supervision_id")
                if supervision_id is not None:
                    parent = known.get(supervision_id)
                    child_id = parent.child_id if parent is not None else None
            timeline.append(self._timeline(event, payload, child_id))
        await store.write(session, self.statistics)
        await register.write(session, self.statistics)
        now = {worker: row.newly_qualified_until for worker, row in entries.items()}
        await self._supervision_days(session, store, journey_ids, entries=(was, now), also=on_register)
        return timeline


async def _journeys_of(session: AsyncSession, workers: set[str]) -> set[uuid.UUID]:
    """The journeys whose current worker is one of these (their first interval may be theirs)."""
    rows = await _inputs(session, JourneyFact, ("journey_id",), current_worker_id=workers)
    return {row["journey_id"] for row in rows}
