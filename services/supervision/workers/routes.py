"""The newly-qualified register: managers say who is newly qualified and until when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.supervision.types import ID_PATTERN
from services.supervision.workers.models import Worker, WorkerIn, WorkerOut
from services.supervision.workers.service import publish_entry
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep, on_postgresql
from shared.errors import NotFound, problem_responses
from shared.events.log import EventLog
from shared.http import check_if_match, make_etag, set_etag, sets_headers
from shared.types import utcnow

router = APIRouter(tags=["workers"])

WorkerId = Annotated[
    str, Path(min_length=1, max_length=120, pattern=ID_PATTERN, description="Pseudonymous staff id.")
]


_WORKERS = Worker.__table__  # type: ignore[attr-defined]


def _insert_if_absent(insert: Any) -> Any:
    return (
        insert(_WORKERS)
        .on_conflict_do_nothing(index_elements=[_WORKERS.c.worker_id])
        .returning(_WORKERS.c.worker_id)
    )


# Built once per dialect (PostgreSQL, SQLite): building the statement costs about as much as running it.
_INSERT_IF_ABSENT = {True: _insert_if_absent(pg_insert), False: _insert_if_absent(sqlite_insert)}


async def _locked(session: AsyncSession, worker_id: str) -> Worker | None:
    """The register entry, row-locked until commit on PostgreSQL (read afresh, not from the session)."""
    return await session.get(Worker, worker_id, with_for_update=True, populate_existing=True)


def _event_log(request: Request) -> EventLog:
    log: EventLog | None = request.app.state.service.event_log
    assert log is not None  # the supervision service produces events
    return log


def _out(worker: Worker) -> WorkerOut:
    return WorkerOut.model_validate(worker.model_dump())


def _etag(worker: Worker) -> str:
    return make_etag(worker.worker_id, worker.version)


@router.get(
    "/workers/{worker_id}",
    response_model=WorkerOut,
    summary="A worker's entry on the newly-qualified register (ETag)",
    responses=problem_responses(401, 403, 404, 422, 429) | sets_headers(200, "ETag"),
)
async def get_worker(
    response: Response,
    worker_id: WorkerId,
    _: Annotated[Principal, Depends(require_roles(Role.manager))],
    session: SessionDep,
) -> WorkerOut:
    worker = await session.get(Worker, worker_id)
    if worker is None:
        raise NotFound("This worker is not on the register.")
    set_etag(response, _etag(worker))
    return _out(worker)


@router.put(
    "/workers/{worker_id}",
    response_model=WorkerOut,
    summary="Set until when a worker is newly qualified (supervised more often)",
    description=(
        "Managers. 201 when it puts the worker on the register, 200 when it replaces their entry (RFC"
        " 9110 9.3.4; a repeated PUT is a replacement). `If-Match` with the entry's ETag is checked when"
        " sent (412 on mismatch); `*` matches an entry on the register only. Every change publishes"
        " `NewlyQualifiedRegisterSet` on the feed (the worker's register stream), in the same transaction;"
        " a PUT of what the entry already holds changes nothing (same version and ETag, no event)."
    ),
    responses=problem_responses(400, 401, 403, 412, 422, 429)
    | {
        200: {"description": "Replaced: the worker's entry as it now is.", **sets_headers(200, "ETag")[200]},
        201: {
            "model": WorkerOut,
            "description": "Created: the worker was not on the register.",
            **sets_headers(201, "ETag")[201],
        },
    },
)
async def put_worker(
    request: Request,
    response: Response,
    worker_id: WorkerId,
    body: WorkerIn,
    principal: Annotated[Principal, Depends(require_roles(Role.manager))],
    session: SessionDep,
) -> WorkerOut:
    worker = await _locked(session, worker_id)
    if worker is None:
        check_if_match(request, make_etag(worker_id, 0), exists=False)
        # Not on the register yet: FOR UPDATE locked nothing, so a concurrent PUT may be creating it
        # too. Insert if absent; on PostgreSQL the loser's insert waits for the winner's commit and
        # then inserts nothing (no unique violation, nothing aborted), and it updates the winner's row
        # as any later PUT would (If-Match still checked against it), all in this one transaction.
        new = Worker(
            worker_id=worker_id,
            newly_qualified_until=body.newly_qualified_until,
            version=1,
            updated_at=utcnow(),
            updated_by=principal.subject,
        )
        inserted = await session.execute(_INSERT_IF_ABSENT[on_postgresql(session)], new.model_dump())
        if inserted.first() is not None:  # the row is `new`: nothing to read back
            await publish_entry(session, _event_log(request), new, principal.subject)
            response.status_code = 201  # created (RFC 9110 9.3.4); a replacement below is 200
            set_etag(response, _etag(new))
            return _out(new)
        worker = await _locked(session, worker_id)
        assert worker is not None  # the concurrent PUT committed it (entries are never deleted)
    check_if_match(request, _etag(worker))
    if worker.newly_qualified_until == body.newly_qualified_until:
        # Nothing changes (a retry, or a client re-sending what it holds): no new version and no
        # event, so reporting and the ETag see one entry, not one per retry.
        set_etag(response, _etag(worker))
        return _out(worker)
    worker.newly_qualified_until = body.newly_qualified_until
    worker.version += 1
    worker.updated_at = utcnow()
    worker.updated_by = principal.subject
    session.add(worker)
    await session.flush()
    await publish_entry(session, _event_log(request), worker, principal.subject)
    set_etag(response, _etag(worker))
    return _out(worker)
