"""A reusable feed consumer: pulls a producer's feed and applies each batch in one local transaction
together with its stored position, so every event takes effect exactly once and a crash mid-batch
leaves nothing half-applied."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import random
import re
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, cast

import httpx
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import BigInteger, Column, MetaData, String, Table, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.db import Database, on_postgresql
from shared.events.contract import MAX_POSITION, Envelope, EventHash
from shared.observability import Metrics, outgoing_headers, request_id_var
from shared.policy import PolicyStatus, describe_differences, policy_differences
from shared.types import UTCDateTime, utcnow

log = logging.getLogger("frontdoor.consumer")
# The skipped-events counter is labelled with the types skipped, as the upstream names them: at most this
# many per feed, each shaped as a type name; any other is counted as "other" (its type only logged, cut
# short), so a broken producer sending ever new types cannot make the metrics grow without bound.
MAX_SKIPPED_TYPE_LABELS = 64
OTHER_TYPE_LABEL = "other"
_TYPE_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
# How often a running consumer reads its producer's policy again (a producer's settings change only
# when it restarts), and how soon after the policy could not be read.
POLICY_CHECK_SECONDS = 300.0
POLICY_RETRY_SECONDS = 30.0


def consumer_positions_table(metadata: MetaData) -> Table:
    return Table(
        "consumer_positions",
        metadata,
        Column("feed", String(80), primary_key=True),
        Column("position", BigInteger, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        # The hash of the event at `position` (the last applied): each page names the hash of the event
        # at its `after`, and another value means the producer's log was replaced since. Null at 0, and
        # for a position stored before this column (then taken from the next batch applied).
        Column("last_hash", String(64), nullable=True),
    )


class Projection(Protocol):
    async def apply(self, session: AsyncSession, event: Envelope) -> bool:
        """Apply one event; return False for a type this reader does not know (it is skipped)."""

    async def reset(self, session: AsyncSession) -> None:
        """Delete everything this projection derived from the feed (for a rebuild)."""

    @property
    def tables(self) -> Sequence[str]:
        """The tables the projection writes, tidied (vacuumed) after a rebuild has refilled them."""


class BatchProjection(Projection, Protocol):
    """Optional: a projection that applies a whole batch at once (the consumer prefers it)."""

    async def apply_batch(self, session: AsyncSession, events: list[Envelope]) -> list[bool]:
        """Apply events in order; one result per event, as `apply` would return it."""


class PipelinedProjection(Projection, Protocol):
    """Optional: a projection that can work a batch out before writing it, so that a rebuild works
    out one batch while the one before it is written (`FeedConsumer.rebuild`)."""

    async def prepare_batch(self, session: AsyncSession, events: list[Envelope], previous: Any) -> Any:
        """Work the batch out, writing nothing. `session` sees every batch before `previous` (the
        batch before this one, still being written, or None) committed, and not `previous` itself:
        its rows must be taken from `previous`."""

    async def write_batch(self, session: AsyncSession, prepared: Any) -> list[bool]:
        """Write a prepared batch in the caller's transaction; one result per event, as `apply`."""


class _PositionMoved(Exception):
    """A pipelined rebuild found its feed's position moved by someone else: what it prepared from
    its own idea of the position is dropped."""


class _Page(BaseModel):
    """The part of a feed page the consumer reads (other fields are ignored)."""

    events: list[Envelope]
    head: int = Field(ge=0, le=MAX_POSITION)
    after_hash: EventHash | None = None  # absent from a producer that does not publish it: nothing to check


class ConsumerStatus(BaseModel):
    feed: str = Field(description="The producer whose feed this reader follows.")
    position: int = Field(0, description="The last feed position applied.")
    head: int | None = Field(
        None, description="The feed's highest position when last polled; null before the first poll."
    )
    lag_events: int | None = Field(
        None,
        description="Events published and not applied yet (head - position); null before the first poll.",
    )
    lag_seconds: float = Field(0.0, description="How long the reader has been behind; 0 when caught up.")
    upstream_ok: bool = Field(False, description="True when the last poll of the producer succeeded.")
    active: bool = Field(
        False, description="True when this replica is the one applying the feed (the others wait)."
    )
    last_error: str | None = Field(
        None, description="Why the last poll or batch failed, when it did (no personal data)."
    )
    policy: PolicyStatus | None = Field(
        None,
        description="How the producer's published policy (its `GET /policy`) compares with the one "
        "this service applies to the feed; null when there is none to compare.",
    )


class UpstreamError(Exception):
    pass


class ConsumerStopped(Exception):
    """Raised inside `run` when stop was requested while waiting on the upstream."""


class FeedConsumer:
    def __init__(
        self,
        *,
        feed: str,
        base_url: str,
        db: Database,
        positions: Table,
        projection: Projection,
        token: Callable[[], str],
        metrics: Metrics,
        batch_size: int = 500,
        catch_up_batch_size: int | None = None,
        rebuild_batch_size: int | None = None,
        long_poll_seconds: float = 5.0,
        min_backoff: float = 0.2,
        max_backoff: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        before_commit: Callable[[list[Envelope]], Awaitable[None]] | None = None,
        policy: BaseModel | None = None,
    ) -> None:
        self.feed = feed
        self.base_url = base_url.rstrip("/")
        self.db = db
        self.positions = positions
        self.projection = projection
        self.token = token
        self.metrics = metrics
        self.batch_size = batch_size
        self.catch_up_batch_size: int = catch_up_batch_size or batch_size
        # Events applied per transaction while rebuilding, read as several pages when it is more than
        # a page: a batch that holds a contact's later events too counts its changes once, not once
        # per batch it was changed in (bench/NOTES.md). Not while serving: there the batches of two
        # consumers in one worker showed no gain and held more memory.
        self.rebuild_batch_size: int = rebuild_batch_size or self.catch_up_batch_size
        self._rebuilding = False
        self.long_poll_seconds = long_poll_seconds
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.transport = transport
        self.before_commit = before_commit  # a test hook: a crash here must leave nothing applied
        # The producer's policy as this service applies it (shared/policy.py): compared with the one
        # the producer serves, so that settings set differently on the two sides show.
        self.policy = policy
        self.status = ConsumerStatus(feed=feed, policy=PolicyStatus() if policy is not None else None)
        self._fresh_as_of: datetime = utcnow()
        self._client: httpx.AsyncClient | None = None
        self._stop: asyncio.Event | None = None
        self._lock_conn: AsyncConnection | None = None
        # The next page, fetched while the current one is applied: ((its `after`, the hash expected
        # there), the fetch).
        self._prefetch: tuple[tuple[int, str], asyncio.Task[tuple[list[Envelope], int]]] | None = None
        self._skipped_labels: set[str] = set()  # the types the skipped counter is labelled with
        self._skipped_other = 0  # events counted as OTHER_TYPE_LABEL, for logging them sparingly

    # -- upstream ---------------------------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url, transport=self.transport, timeout=self.long_poll_seconds + 10
            )
        return self._client

    def page_size(self, lag: int | None = None) -> int:
        """Bigger pages while well behind the head (`lag` events; by default as the last poll left us):
        fewer, larger batches catch up faster; near the head, small pages keep each batch's transaction
        short. While rebuilding, no page is larger than a rebuild's batch."""
        if lag is None:
            lag = self.status.lag_events or 0
        size = max(self.batch_size, self.catch_up_batch_size) if lag > self.batch_size else self.batch_size
        return min(size, self.rebuild_batch_size) if self._rebuilding else size

    async def fetch(
        self, after: int, wait: float, limit: int | None = None, expect: str | None = None
    ) -> tuple[list[Envelope], int]:
        """A page after `after`. `expect` is the hash of the event applied at `after` (None: unknown, or
        nothing applied): the page must name that same event there, else the log is another one."""
        headers = {"Authorization": f"Bearer {self.token()}", **outgoing_headers()}
        try:
            request = self._http().get(
                "/events",
                params={"after": after, "limit": limit or self.page_size(), "wait": wait},
                headers=headers,
            )
            response = await self._unless_stopped(request)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{type(exc).__name__} reaching {self.feed}") from exc
        if response.status_code != 200:
            raise UpstreamError(f"{self.feed} answered {response.status_code}")
        # One validation of the raw body (JSON parsed and checked in pydantic-core), not json.loads
        # then a Python-level validation per envelope: this was a large share of a rebuild's time.
        try:
            with collector_paused():
                page = _Page.model_validate_json(response.content)
        except ValidationError as exc:
            # A proxy's error page or a broken producer: an outage to report and retry, not a batch
            # failure (which would leave the status saying the upstream is fine).
            raise UpstreamError(f"{self.feed} answered a malformed page ({_first_error(exc)})") from exc
        if page.events and page.events[0].position <= after:
            # A page holds only events after `after` (say, a cache that ignores the query string
            # served another): taken as repeats, nothing would be applied and the lag never fall.
            raise UpstreamError(
                f"{self.feed} answered a malformed page (events.0.position: not after {after}, the "
                "position asked after)"
            )
        if (disorder := _first_out_of_order(page.events)) is not None:
            # The feed lists events in increasing positions; applied as they come, each one not after
            # the one before would be skipped, and never fetched again (the position moved past it).
            raise UpstreamError(
                f"{self.feed} answered a malformed page (events.{disorder}.position: not after the "
                "position before it)"
            )
        if page.head < after:
            # Its log was reset or restored behind what was applied here: its next events would take
            # positions already seen, and be skipped. An outage until someone rebuilds.
            raise UpstreamError(
                f"{self.feed}'s head {page.head} is behind the position {after} applied here; "
                "was its log reset or restored? rebuild this service's projections"
            )
        if expect is not None and "after_hash" in page.model_fields_set and page.after_hash != expect:
            # Its log was replaced (recreated, or restored from another backup) and refilled past what
            # was applied here: going on would skip its first events and mix two histories. The same
            # outage until someone rebuilds.
            raise UpstreamError(
                f"{self.feed}'s event at position {after} is not the one applied here; was its log "
                "replaced or restored from another backup? rebuild this service's projections"
            )
        return page.events, page.head

    async def _unless_stopped(self, request: Awaitable[httpx.Response]) -> httpx.Response:
        """Await an upstream call, abandoning it when the consumer is told to stop.

        Only waiting is abandoned: nothing has been applied yet, so shutdown need not sit out a long poll.
        """
        if self._stop is None:
            return await request
        call = asyncio.ensure_future(request)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({call, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not call.done():
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await call
            raise ConsumerStopped
        return call.result()

    async def check_policy(self) -> PolicyStatus | None:
        """Read the producer's policy, compare it with this service's, and record the result in the
        status and the mismatches gauge (NaN while unknown). Never raises for the producer's sake: a
        policy that cannot be read is `unknown`, not a failure. Logged only when the result changes,
        so that a disagreement is warned of once, not at every check."""
        if self.policy is None:
            return None
        previous = self.status.policy or PolicyStatus()
        error: str | None = None
        try:
            response = await self._http().get(
                "/policy", headers={"Authorization": f"Bearer {self.token()}", **outgoing_headers()}
            )
            if response.status_code != 200:
                error = f"{self.feed} answered {response.status_code} to GET /policy"
            else:
                theirs = type(self.policy).model_validate_json(response.content)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__} reaching {self.feed} (GET /policy)"
        except ValidationError as exc:
            error = f"{self.feed} answered a malformed policy ({_first_error(exc)})"
        gauge = self.metrics.policy_mismatches.labels(self.feed)
        if error is not None:
            # What the last comparison found stays beside the error: a disagreement must not read as
            # gone while the producer cannot be asked.
            current = PolicyStatus(
                status="unknown",
                differences=previous.differences,
                checked_at=previous.checked_at,
                last_error=error,
            )
            gauge.set(float("nan"))
            if error != previous.last_error:
                log.warning("policy unknown: %s", error, extra={"consumer": self.feed})
        else:
            differences = policy_differences(theirs, self.policy)
            current = PolicyStatus(
                status="disagrees" if differences else "agrees", differences=differences, checked_at=utcnow()
            )
            gauge.set(len(differences))
            if differences and differences != previous.differences:
                # Setting names and values only: nothing about any child.
                log.warning(
                    "the %s feed's policy disagrees with this service's settings: %s",
                    self.feed,
                    describe_differences(differences, "there", "here"),
                    extra={"consumer": self.feed},
                )
            elif not differences and previous.status != "agrees":
                log.info("the %s feed's policy agrees with this service's settings", self.feed)
        self.status.policy = current
        return current

    async def _watch_policy(self, stop: asyncio.Event) -> None:
        """Check the producer's policy now, then every few minutes until told to stop."""
        while not stop.is_set():
            try:
                checked = await self.check_policy()
            except Exception:  # a fault of ours (the token, say): the feed goes on regardless
                log.exception("policy check failed", extra={"consumer": self.feed})
                checked = None
            unknown = checked is None or checked.status == "unknown"
            await _sleep_or_stop(stop, POLICY_RETRY_SECONDS if unknown else POLICY_CHECK_SECONDS)

    # -- local state ------------------------------------------------------------------------------
    async def _locked_position(self, session: AsyncSession) -> int:
        """The stored position, row-locked on PostgreSQL until this batch commits."""
        p = self.positions
        postgres = on_postgresql(session)
        query = select(p.c.position).where(p.c.feed == self.feed)
        if postgres:
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        if row is None:
            # First batch ever: two consumers may both get here, so insert-if-absent and read again
            # (a plain INSERT would fail one of them with a duplicate key).
            insert_ = pg_insert(p) if postgres else sqlite_insert(p)
            await session.execute(
                insert_.values(feed=self.feed, position=0, updated_at=utcnow()).on_conflict_do_nothing(
                    index_elements=[p.c.feed]
                )
            )
            row = (await session.execute(query)).first()
        assert row is not None
        return int(row[0])

    async def position(self) -> int:
        return (await self._stored())[0]

    async def _stored(self) -> tuple[int, str | None]:
        """The stored position and the hash of the event applied there (None when unknown)."""
        p = self.positions
        async with self.db.read_session() as session:
            row = (
                await session.execute(select(p.c.position, p.c.last_hash).where(p.c.feed == self.feed))
            ).first()
            if row is None or not row[0]:
                return 0, None
            return int(row[0]), row[1]

    async def apply_batch(self, events: list[Envelope], after: int | None = None) -> int:
        """Apply events after the stored position, then store the new position, in one transaction.

        `after` is the position the page was read after: if the stored position has since gone back
        below it (a rebuild reset it), the page does not follow it and nothing is applied."""
        with collector_paused():
            applied, position = await self._apply_batch(events, after)
        self.status.position = position
        self.metrics.consumer_applied.labels(self.feed).inc(applied)
        return applied

    async def _apply_batch(self, events: list[Envelope], after: int | None) -> tuple[int, int]:
        async with self.db.unit_of_work() as session:
            stored = await self._locked_position(session)
            if after is not None and stored < after:
                # Applied from here, the page would skip the events between the two for good.
                return 0, stored
            fresh = self._fresh(events, stored)
            batch = getattr(self.projection, "apply_batch", None)
            if batch is not None and fresh:
                # A projection that can apply many events at once (fewer round trips) does so.
                results: list[bool] = await batch(session, fresh)
            else:
                results = [await self.projection.apply(session, event) for event in fresh]
            applied = await self._finish_batch(session, events, fresh, results, stored)
        return applied, fresh[-1].position if fresh else stored

    @staticmethod
    def _fresh(events: list[Envelope], position: int) -> list[Envelope]:
        """The events after `position`, each once: a repeat delivery was already applied (a no-op)."""
        seen: set[uuid.UUID] = set()
        fresh: list[Envelope] = []
        for event in events:
            if event.position <= position or event.event_id in seen:
                continue
            seen.add(event.event_id)
            fresh.append(event)
            position = event.position
        return fresh

    async def _finish_batch(
        self,
        session: AsyncSession,
        events: list[Envelope],
        fresh: list[Envelope],
        results: list[bool],
        stored: int,
    ) -> int:
        """Count the batch's results, store its new position (in its transaction), run the test hook;
        return how many events were applied."""
        applied = 0
        for event, ok in zip(fresh, results, strict=True):
            if ok:
                applied += 1
            else:
                self.metrics.consumer_skipped.labels(self.feed, self._skipped_label(event)).inc()
        if fresh and fresh[-1].position != stored:
            await session.execute(
                update(self.positions)
                .where(self.positions.c.feed == self.feed)
                .values(position=fresh[-1].position, last_hash=fresh[-1].hash, updated_at=utcnow())
            )
        if self.before_commit is not None:
            await self.before_commit(events)
        return applied

    def _skipped_label(self, event: Envelope) -> str:
        """The `type` label to count a skipped event under: its type while the feed has used fewer
        than MAX_SKIPPED_TYPE_LABELS (and it is shaped as a type name), else OTHER_TYPE_LABEL."""
        label = event.type
        if label in self._skipped_labels:
            return label
        if _TYPE_LABEL.fullmatch(label) and len(self._skipped_labels) < MAX_SKIPPED_TYPE_LABELS - 1:
            self._skipped_labels.add(label)
            return label
        self._skipped_other += 1
        n = self._skipped_other
        if n & (n - 1) == 0:  # the 1st, 2nd, 4th, 8th...: a producer gone wrong cannot flood the log
            log.warning(
                "skipped an event of type %r, counted as %s (%d so far)",
                label[:64],
                OTHER_TYPE_LABEL,
                n,
                extra={"consumer": self.feed, "position": event.position},
            )
        return OTHER_TYPE_LABEL

    def _record_lag(self, head: int) -> None:
        now = utcnow()
        self.status.head = head
        self.status.lag_events = max(0, head - self.status.position)
        if self.status.lag_events == 0:
            self._fresh_as_of = now
        self.status.lag_seconds = (
            0.0 if self.status.lag_events == 0 else (now - self._fresh_as_of).total_seconds()
        )
        self.metrics.consumer_lag_events.labels(self.feed).set(self.status.lag_events)
        self.metrics.consumer_lag_seconds.labels(self.feed).set(self.status.lag_seconds)

    def _record_outage(self, error: str) -> None:
        self.status.upstream_ok = False
        self.status.last_error = error
        self.status.lag_seconds = (utcnow() - self._fresh_as_of).total_seconds()
        self.metrics.consumer_lag_seconds.labels(self.feed).set(self.status.lag_seconds)
        self.metrics.consumer_errors.labels(self.feed).inc()

    async def poll_once(self, wait: float = 0.0) -> int:
        """Fetch one page after the stored position and apply it. Raises UpstreamError when down.

        Each poll has a request id (the caller's, or a fresh one) that goes upstream as X-Request-ID and
        into this consumer's log lines, so a batch can be followed from producer to projection.
        """
        rid = request_id_var.get() or f"{self.feed}-{uuid.uuid4().hex[:16]}"
        token = request_id_var.set(rid)
        try:
            return await self._poll(wait)
        finally:
            request_id_var.reset(token)

    async def _poll(self, wait: float) -> int:
        after, expect = await self._stored()
        self.status.position = after
        events, head = await self._read_page(after, wait, expect)
        try:
            applied = await self.apply_batch(events, after) if events else 0
        except BaseException:
            await self._drop_prefetch()
            raise
        self._record_lag(head)
        return applied

    async def _read_page(self, after: int, wait: float, expect: str | None) -> tuple[list[Envelope], int]:
        """The next page after `after` (where the event of hash `expect` was applied), the upstream's
        state recorded either way, and the page after it fetched ahead when more is waiting."""
        try:
            events, head = await self._next_page(after, wait, expect)
        except UpstreamError as exc:
            self._record_outage(str(exc))
            raise
        self.status.upstream_ok = True
        self.status.last_error = None
        first = events[0].recorded_at if events else None
        if first is not None and first.tzinfo is not None and first < self._fresh_as_of:
            # Behind since at least when the first event not yet applied was recorded: after downtime,
            # longer than this process has been running.
            self._fresh_as_of = first
        if events and head > events[-1].position:
            # More is waiting: fetch the next page while this one is applied (the producer builds it,
            # and it travels, meanwhile). It is only used if this batch does end at that position.
            self._start_prefetch(events[-1].position, head - events[-1].position, events[-1].hash)
        return events, head

    async def _next_page(self, after: int, wait: float, expect: str | None) -> tuple[list[Envelope], int]:
        """The prefetched page if it was fetched after `after` (the stored position, and the event
        stored there), else a fresh fetch. Every page starts at the stored position, so a prefetch can
        neither skip nor repeat events."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            fetched_after, task = prefetch
            if fetched_after == (after, expect):
                return await task
            await _cancel(task)
        return await self._fetch_batch(after, wait, expect=expect)

    async def _fetch_batch(
        self, after: int, wait: float, limit: int | None = None, *, expect: str | None
    ) -> tuple[list[Envelope], int]:
        """The events of one batch after `after`: one page, or while rebuilding, pages until the
        batch holds `rebuild_batch_size` events or reaches the head."""
        events, head = await self.fetch(after, wait, limit, expect)
        if not self._rebuilding:
            return events, head
        while events and len(events) < self.rebuild_batch_size and head > events[-1].position:
            lag = head - events[-1].position
            more, head = await self.fetch(
                events[-1].position,
                0.0,
                min(self.page_size(lag), self.rebuild_batch_size - len(events)),
                events[-1].hash,
            )
            if not more:
                break
            events.extend(more)
        return events, head

    def _start_prefetch(self, after: int, lag: int, expect: str) -> None:
        # Its own request id, as a poll of its own would have (see `poll_once`); its page size for the
        # lag this batch will leave (`status` still holds the last one's).
        context = contextvars.copy_context()
        context.run(request_id_var.set, f"{self.feed}-{uuid.uuid4().hex[:16]}")
        task = asyncio.create_task(
            self._fetch_batch(after, 0.0, self.page_size(lag), expect=expect), context=context
        )
        self._prefetch = ((after, expect), task)

    async def _drop_prefetch(self) -> None:
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            await _cancel(prefetch[1])

    async def catch_up(self) -> int:
        """Apply until the stored position reaches the head seen at the last poll."""
        total = 0
        while True:
            total += await self.poll_once()
            if self.status.lag_events == 0:
                return total

    def _pipelined(self) -> PipelinedProjection | None:
        """The projection, if a rebuild can work out one batch while writing the one before. Only on
        PostgreSQL: there the writing is another process's work, done on the other CPU meanwhile."""
        if self.db.is_sqlite or not hasattr(self.projection, "prepare_batch"):
            return None
        return cast(PipelinedProjection, self.projection)

    async def _catch_up_pipelined(self, projection: PipelinedProjection) -> int:
        """Catch up as `catch_up` does, but work out each batch while the one before is written.

        A rebuild spent about as long in the projection's Python as waiting for PostgreSQL to write,
        one after the other (bench/NOTES.md). Here batch N+1 is worked out (`prepare_batch`, reading
        through a connection of its own) while batch N's transaction runs: the rows batch N touched
        are taken from batch N, every batch before it has committed. Batches are still written in
        order, each in one transaction with its position, so a crash leaves a prefix applied, as
        `catch_up` does. If the stored position is not where this left it (another consumer applied
        the feed meanwhile), the batch prepared from it is dropped and `catch_up` takes over.
        """
        position, expect = await self._stored()
        previous: Any = None
        writing: asyncio.Task[int] | None = None
        applied = 0
        try:
            while True:
                events, head = await self._read_page(position, 0.0, expect)
                self.status.head = head  # the lag is recorded as each batch commits
                fresh = self._fresh(events, position)
                prepared = None
                if fresh:
                    with collector_paused():
                        async with self.db.read_session() as session:
                            prepared = await projection.prepare_batch(session, fresh, previous)
                if writing is not None:
                    applied += await writing
                    writing = None
                if prepared is not None:
                    writing = asyncio.create_task(
                        self._write_prepared(projection, prepared, events, fresh, position)
                    )
                    position, expect = fresh[-1].position, fresh[-1].hash
                previous = prepared
                if not fresh or head <= position:
                    break
            if writing is not None:
                applied += await writing
                writing = None
        except _PositionMoved:
            log.warning("feed position moved during a rebuild; going on one batch at a time")
        finally:
            if writing is not None:
                # Something failed while a batch was being written: let that write end either way (a
                # batch committed whole is as good as one not written), rather than cancel it mid-way.
                with contextlib.suppress(BaseException):
                    await writing
        return applied

    async def _write_prepared(
        self,
        projection: PipelinedProjection,
        prepared: Any,
        events: list[Envelope],
        fresh: list[Envelope],
        expected: int,
    ) -> int:
        with collector_paused():
            async with self.db.unit_of_work() as session:
                # A batch lost to a crash of PostgreSQL is lost with its position (one transaction),
                # so the feed replays it: no need to wait for the commit to reach the disk.
                await session.execute(text("SET LOCAL synchronous_commit = off"))
                stored = await self._locked_position(session)
                if stored != expected:
                    raise _PositionMoved(f"{self.feed}: stored {stored}, expected {expected}")
                results = await projection.write_batch(session, prepared)
                applied = await self._finish_batch(session, events, fresh, results, stored)
        self.status.position = fresh[-1].position
        self.metrics.consumer_applied.labels(self.feed).inc(applied)
        self._record_lag(max(self.status.head or 0, self.status.position))
        return applied

    async def probe(self) -> int:
        """The upstream's head position; raises UpstreamError when the feed cannot be read."""
        _, head = await self.fetch(0, 0, 1)  # only the head is wanted: a page of one event
        return head

    async def rebuild(self) -> int:
        """Forget the projection and its position in one transaction, then replay the feed from 0.

        The upstream is probed first: wiping a projection that cannot then be refilled would leave
        reports empty until the upstream returns.
        """
        head = await self.probe()
        async with self.db.unit_of_work() as session:
            await self._locked_position(session)
            await self.projection.reset(session)
            await session.execute(
                update(self.positions)
                .where(self.positions.c.feed == self.feed)
                .values(position=0, last_hash=None, updated_at=utcnow())
            )
        self.status.position = 0
        # The whole feed is behind: from the first page on, pages of the catch-up size.
        self._record_lag(head)
        self._rebuilding = True
        try:
            applied = 0
            if (pipelined := self._pipelined()) is not None:
                applied = await self._catch_up_pipelined(pipelined)
            applied += await self.catch_up()
        finally:
            self._rebuilding = False
            await self._drop_prefetch()  # a batch fetched ahead as a rebuild's: not one page
        # Every row is new: index-only scans (the reports' covering indexes) read the table too until
        # VACUUM has marked its pages all-visible, and autovacuum gets there only minutes later.
        await self.db.vacuum_analyze(self.projection.tables)
        return applied

    # -- running ----------------------------------------------------------------------------------
    def _lock_key(self) -> int:
        return zlib.crc32(f"consumer:{self.feed}".encode())

    async def _acquire_leadership(self) -> bool:
        """One active consumer per feed per database: a session advisory lock on PostgreSQL."""
        if self.db.is_sqlite:
            return True  # SQLite is single-process here; its writer lock serialises batches anyway
        if self._lock_conn is None:
            self._lock_conn = await self.db.engine.connect()
        got = (
            await self._lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._lock_key()})
        ).scalar()
        await self._lock_conn.commit()
        return bool(got)

    async def _check_leadership(self) -> None:
        """Raises if the connection holding the leadership lock is gone (and with it the lock)."""
        if self._lock_conn is not None:
            await self._lock_conn.execute(text("SELECT 1"))
            await self._lock_conn.commit()

    async def _release_leadership(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is None:
            return
        # Closing a pooled connection does not end its PostgreSQL session, so a session-level advisory
        # lock would outlive us inside the pool: unlock explicitly, and if that fails, discard the
        # connection so the server ends the session (and its locks).
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._lock_key()})
            await conn.commit()
            await conn.close()
        except Exception:
            with contextlib.suppress(Exception):
                await conn.invalidate()
                await conn.close()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = self.min_backoff
        self._stop = stop
        watcher = asyncio.create_task(self._watch_policy(stop)) if self.policy is not None else None
        try:
            while not stop.is_set():
                try:
                    if not self.status.active:
                        self.status.active = await self._acquire_leadership()
                        if not self.status.active:
                            await _sleep_or_stop(stop, 1.0)
                            continue
                    else:
                        await self._check_leadership()
                    applied = await self.poll_once(wait=self.long_poll_seconds)
                    backoff = self.min_backoff
                    if applied == 0 and self.status.lag_events == 0:
                        await _sleep_or_stop(stop, 0.01)
                except ConsumerStopped:
                    break
                except UpstreamError as exc:
                    # The reason as readiness shows it (`last_error`): it names the upstream and the
                    # fault, never anything an upstream's page held.
                    log.warning(
                        "upstream unavailable: %s",
                        exc,
                        extra={"consumer": self.feed, "lag": self.status.lag_seconds},
                    )
                    del exc
                    await _sleep_or_stop(stop, backoff * (0.5 + random.random()))
                    backoff = min(self.max_backoff, backoff * 2)
                except Exception as exc:  # the database or a projection failed: retry, never die
                    self.status.last_error = type(exc).__name__
                    self.metrics.consumer_errors.labels(self.feed).inc()
                    log.exception("consumer batch failed", extra={"consumer": self.feed})
                    await self._release_leadership()
                    self.status.active = False
                    await _sleep_or_stop(stop, backoff)
                    backoff = min(self.max_backoff, backoff * 2)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher
            self._stop = None
            await self.close()

    async def close(self) -> None:
        await self._drop_prefetch()
        await self._release_leadership()
        self.status.active = False
        if self._client is not None:
            await self._client.aclose()
            self._client = None


_collector_pauses = 0


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off while a page is validated or a batch applied.

    A batch holds tens of thousands of new objects (envelopes, payloads, rows) until it commits, and
    the collector's passes set off by their allocation walked them again and again (a rebuild's
    client CPU fell by ~15% with this pause; bench/NOTES.md). What the batch leaves is freed by
    reference counting as usual; any cycles wait for the first pass after the batch, so memory stays
    bounded by one batch. Counted, because both consumers (and the page fetched ahead) run in one
    process: the last to finish turns it back on, and a collector someone else turned off stays off.
    """
    global _collector_pauses
    if _collector_pauses == 0 and not gc.isenabled():
        yield
        return
    _collector_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _collector_pauses -= 1
        if _collector_pauses == 0:
            gc.enable()


def _first_out_of_order(events: list[Envelope]) -> int | None:
    """The index of the first event whose position is not after the one before it (None: none)."""
    for i in range(1, len(events)):
        if events[i].position <= events[i - 1].position:
            return i
    return None


def _first_error(exc: ValidationError) -> str:
    """Where a page is malformed and how (`events.3.hash: string_pattern_mismatch`), never the value
    found there: a reason for readiness and the log that carries nothing from the page."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if not errors:
        return "unreadable"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
    return f"{where}: {first['type']}{more}"


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _cancel(task: asyncio.Task[tuple[list[Envelope], int]]) -> None:
    """Cancel a fetch nobody will use, and absorb its outcome (an error it met is no one's concern:
    the page will be fetched again)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
