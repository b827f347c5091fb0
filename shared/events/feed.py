"""The feed endpoints a producing service publishes: events by position, the catalogue, verification,
and the policy its readers must apply alike."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from shared.auth import Principal, Role, require_roles
from shared.db import Database
from shared.errors import NotFound, problem_responses
from shared.events.contract import MAX_POSITION, Envelope, EventHash, EventTypeInfo
from shared.events.log import EventLog
from shared.events.verify import StreamHeads, VerifyReport, journey_not_held, verify_log

MAX_WAIT_SECONDS = 30.0
POLL_INTERVAL = 0.05


class FeedPage(BaseModel):
    events: list[Envelope] = Field(description="Events after `after`, in position order.")
    next_after: int = Field(description="Pass as `after` to read on; equals `after` when nothing new.")
    head: int = Field(description="The highest position committed when this page was read.")
    after_hash: EventHash | None = Field(
        description="The hash of the event at position `after` (null when `after` is 0 or no event is"
        " there). A reader keeps the hash of the last event it applied and compares: another value"
        " means the log was replaced (recreated, or restored from a backup, and refilled) since."
    )


class Catalog(BaseModel):
    producer: str = Field(description="The service whose feed this is.")
    event_types: list[EventTypeInfo] = Field(description="Every event type the feed may carry.")


def feed_router(db: Database, log: EventLog, stream_heads: StreamHeads | None = None) -> APIRouter:
    router = APIRouter(tags=["journey events"], responses=problem_responses(401, 403, 422, 429, 503))

    @router.get(
        "/events",
        response_model=FeedPage,
        summary="Read journey events after a position (gap-safe; optional long-poll)",
    )
    async def read_feed(
        request: Request,
        _: Annotated[Principal, Depends(require_roles(Role.service, Role.admin))],
        after: Annotated[
            int, Query(ge=0, le=MAX_POSITION, description="Last position already seen; 0 to start.")
        ] = 0,
        limit: Annotated[int, Query(ge=1, le=5000, description="Most events in the page.")] = 500,
        wait: Annotated[
            float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for new events when none.")
        ] = 0,
    ) -> FeedPage | Response:
        deadline = time.monotonic() + wait
        postgres = not db.is_sqlite
        while True:
            # A short read-only transaction per poll: nothing is held open while we wait, and on SQLite
            # it takes no write lock, so polling readers never queue behind (or hold up) writers.
            async with db.read_session() as session:
                if postgres:
                    # The page's JSON is built by PostgreSQL (see `EventLog.read_page_json`).
                    body, last, head, after_hash = await log.read_page_json(session, after=after, limit=limit)
                    found = last > after
                else:
                    events = await log.read(session, after=after, limit=limit)
                    head = await log.head(session)
                    after_hash = await log.hash_at(session, after) if after else None
                    found = bool(events)
            if found or time.monotonic() >= deadline:
                break
            if await request.is_disconnected():
                # The client has gone (given up, or timed out): no one will read the page, so stop
                # polling the database for it now rather than at the deadline.
                break
            await asyncio.sleep(POLL_INTERVAL)
        # The head as read, even below `after`: a reader past it must see that the log is behind it
        # (reset, or restored from a backup), not its own cursor echoed back as the head.
        if postgres:
            # As FeedPage would serialise it; returned as it is (the response model only documents it).
            head = max(head, last) if found else head
            return Response(
                content=f'{{"events":[{body}],"next_after":{last},"head":{head},'
                f'"after_hash":{json.dumps(after_hash)}}}',
                media_type="application/json",
            )
        if not events:
            return FeedPage(events=events, next_after=after, head=head, after_hash=after_hash)
        return FeedPage(
            events=events,
            next_after=events[-1].position,
            head=max(head, events[-1].position),
            after_hash=after_hash,
        )

    @router.get("/events/schema", response_model=Catalog, summary="The catalogue of event types and payloads")
    async def event_catalogue(
        _: Annotated[Principal, Depends(require_roles(*Role))],
    ) -> Catalog:
        return Catalog(producer=log.catalogue.producer, event_types=log.catalogue.describe())

    @router.get(
        "/admin/verify",
        response_model=VerifyReport,
        summary="Check the hash chain of one journey or of the whole log",
        description="Recomputes each journey's hash chain, then checks that no journey's log ends"
        " before the version this service's own records give it (its last events deleted). With"
        " `journey_id`, 404 when neither the log nor those records hold that journey (the id"
        " mistyped): nothing checked is not a journey verified.",
        tags=["admin"],
        responses=problem_responses(404),
    )
    async def verify(
        _: Annotated[Principal, Depends(require_roles(Role.admin))],
        journey_id: Annotated[
            uuid.UUID | None, Query(description="Check only this journey's events; else the whole log.")
        ] = None,
    ) -> VerifyReport:
        async with db.read_session() as session:
            report = await verify_log(session, log.table, journey_id, heads=stream_heads)
        if journey_id is not None and (why := journey_not_held(journey_id, {log.catalogue.producer: report})):
            raise NotFound(why)
        return report

    return router


# Who may read a producer's policy: its feed's readers (`service`), and staff and analysts checking
# what the work list and the reports apply. Not partners: an external system has no use for it.
POLICY_READERS = (Role.service, Role.admin, Role.analyst, Role.manager, Role.practitioner)


def policy_router(policy: BaseModel) -> APIRouter:
    """`GET /policy`: the settings this producer applies that its readers must apply alike
    (shared/policy.py), so that a reader can say when its own differ."""
    router = APIRouter(tags=["journey events"])

    @router.get(
        "/policy",
        response_model=type(policy),
        summary="The timescale settings this service applies, for its feed's readers to compare",
        description="The reporting service reads this to check that it counts timescales as this "
        "service does; a difference shows in its `/health/ready`.",
        responses=problem_responses(401, 403, 429, 503),
    )
    async def read_policy(
        _: Annotated[Principal, Depends(require_roles(*POLICY_READERS))],
    ) -> BaseModel:
        return policy

    return router
