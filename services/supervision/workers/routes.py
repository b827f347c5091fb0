"""The newly-qualified register: managers say who is newly qualified and until when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from services.supervision.types import ID_PATTERN
from services.supervision.workers.models import Worker, WorkerIn, WorkerOut
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.errors import NotFound, problem_responses
from shared.http import check_if_match, make_etag, set_etag
from shared.types import utcnow

router = APIRouter(tags=["workers"])

WorkerId = Annotated[
    str, Path(min_length=1, max_length=120, pattern=ID_PATTERN, description="Pseudonymous staff id.")
]


def _out(worker: Worker) -> WorkerOut:
    return WorkerOut.model_validate(worker.model_dump())


def _etag(worker: Worker) -> str:
    return make_etag(worker.worker_id, worker.version)


@router.get(
    "/workers/{worker_id}",
    response_model=WorkerOut,
    summary="A worker's entry on the newly-qualified register (ETag)",
    responses=problem_responses(401, 403, 404, 422, 429),
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
    description="Managers. `If-Match` with the entry's ETag is checked when sent (412 on mismatch).",
    responses=problem_responses(400, 401, 403, 412, 422, 429),
)
async def put_worker(
    request: Request,
    response: Response,
    worker_id: WorkerId,
    body: WorkerIn,
    principal: Annotated[Principal, Depends(require_roles(Role.manager))],
    session: SessionDep,
) -> WorkerOut:
    worker = await session.get(Worker, worker_id, with_for_update=True)
    if worker is None:
        check_if_match(request, make_etag(worker_id, 0))
        worker = Worker(worker_id=worker_id, version=0, updated_at=utcnow(), updated_by=principal.subject)
    else:
        check_if_match(request, _etag(worker))
    worker.newly_qualified_until = body.newly_qualified_until
    worker.version += 1
    worker.updated_at = utcnow()
    worker.updated_by = principal.subject
    session.add(worker)
    await session.flush()
    set_etag(response, _etag(worker))
    return _out(worker)
