"""HTTP routes for supervision records, their actions, what is due, and a child's history."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder

from services.supervision.policy import Policy
from services.supervision.settings import Settings
from services.supervision.supervisions import service
from services.supervision.supervisions.models import (
    CancelIn,
    CompleteIn,
    DueItem,
    SupervisionIn,
    SupervisionOut,
)
from services.supervision.types import ID_PATTERN, ActionId, ChildId, SupervisionId
from shared.app import Service
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.http import Page, PageParams, check_if_match, make_etag, set_etag, sets_headers
from shared.idempotency import IdempotencyDep

router = APIRouter(tags=["supervision"])

Manager = Annotated[Principal, Depends(require_roles(Role.manager))]
Reader = Annotated[Principal, Depends(require_roles(Role.manager, Role.practitioner))]


def bounded_page(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")] = 0,
) -> PageParams:
    """shared.http.page_params with an upper bound on offset: an offset past 2**63 reaches the
    database and fails there (500) rather than being refused (422)."""
    return PageParams(limit=limit, offset=offset)


def _service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def _policy(request: Request) -> Policy:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return Policy.from_settings(settings)


def _ctx(request: Request, principal: Principal) -> service.Context:
    svc = _service(request)
    assert svc.event_log is not None
    return service.Context(
        principal=principal, policy=_policy(request), event_log=svc.event_log, auditor=svc.auditor
    )


@router.post(
    "/supervisions",
    status_code=201,
    response_model=SupervisionOut,
    summary="Record supervision of a child's journey, with its actions",
    description=(
        "Managers only, on journeys whose current team is theirs (403 otherwise). An unknown journey is"
        " 422 naming `journey_id`; a closed journey is 409. `held_at` may not be in the future or before"
        " the journey started; actions may not be due before the day it was held (422). Safe to retry"
        " with `Idempotency-Key`; a retry by a manager who may no longer read the journey (their team"
        " or its team changed since) is 403 (code idempotency_replay_not_readable). The journey is locked"
        " while recording, so a closure or transfer applied at the same time either waits for this write"
        " or is seen by it."
    ),
    responses=problem_responses(400, 401, 403, 409, 422, 429) | sets_headers(201, "ETag", "Location"),
)
async def record_supervision(
    request: Request,
    response: Response,
    body: SupervisionIn,
    principal: Manager,
    session: SessionDep,
    idem: IdempotencyDep,
) -> SupervisionOut | Response:
    async def still_readable(first: dict[str, Any]) -> bool:
        # The manager or the journey may have changed team since the first answer.
        return await service.may_read_journey(session, principal, uuid.UUID(first["journey_id"]))

    if (replay := await idem.replay(session, principal, still_readable)) is not None:
        return replay

    async def answer(out: SupervisionOut) -> None:
        # Before the events are appended: the append holds the log's lock to commit, so nothing is
        # sent after it (the idempotency record was, one more round trip under that lock).
        set_etag(response, make_etag(out.id, out.version))
        response.headers["Location"] = f"/supervisions/{out.id}"
        await idem.remember(session, 201, jsonable_encoder(out), response)

    return await service.record_supervision(session, _ctx(request, principal), body, before_append=answer)


@router.get(
    "/supervisions/due",
    response_model=Page[DueItem],
    summary="When supervision is next due on each open journey (and which are overdue)",
    description=(
        "Managers: their own team (`team` defaults to it; another team is 403). Practitioners: journeys"
        " allocated to them. Due date: the last supervision's `next_due_on`, else the policy interval in"
        " working days after the journey started. Soonest first."
    ),
    responses=problem_responses(401, 403, 422, 429),
)
async def due(
    request: Request,
    principal: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(bounded_page)],
    team: Annotated[
        str | None, Query(max_length=80, pattern=ID_PATTERN, description="Team id; managers: their own.")
    ] = None,
    worker: Annotated[
        str | None, Query(max_length=120, pattern=ID_PATTERN, description="Only this worker's journeys.")
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="true: only overdue; false: only not yet overdue; unset: all.")
    ] = None,
) -> Page[DueItem]:
    return await service.due_list(
        session,
        principal,
        _service(request).auditor,
        _policy(request),
        team=team,
        worker=worker,
        overdue=overdue,
        page=page,
    )


@router.get(
    "/supervisions/{supervision_id}",
    response_model=SupervisionOut,
    summary="One supervision record with its actions (ETag)",
    description="404 when it does not exist or the caller may not see it (existence is not disclosed).",
    responses=problem_responses(401, 403, 404, 422, 429) | sets_headers(200, "ETag"),
)
async def get_supervision(
    request: Request,
    response: Response,
    supervision_id: SupervisionId,
    principal: Reader,
    session: SessionDep,
) -> SupervisionOut:
    out, etag = await service.read_supervision(session, principal, _service(request).auditor, supervision_id)
    set_etag(response, etag)
    return out


async def _change(
    request: Request,
    response: Response,
    principal: Principal,
    session: SessionDep,
    supervision_id: uuid.UUID,
    action_id: uuid.UUID,
    change: CompleteIn | CancelIn,
) -> SupervisionOut:
    out, etag = await service.change_action(
        session,
        _ctx(request, principal),
        supervision_id,
        action_id,
        change,
        lambda current: check_if_match(request, current),
    )
    set_etag(response, etag)
    return out


_CHANGE_DOC = (
    " By the action's owner or a manager of the journey's current team. Only an open action changes:"
    " otherwise 409. `If-Match` with the supervision's ETag is checked when sent (412 on mismatch)."
    " Returns the supervision with its new ETag; to an owner who may not read it (see GET), only their"
    " own actions, with discussion and decisions null."
)


@router.post(
    "/supervisions/{supervision_id}/actions/{action_id}/complete",
    response_model=SupervisionOut,
    summary="Complete an action",
    description="Marks an open action done." + _CHANGE_DOC,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422, 429) | sets_headers(200, "ETag"),
)
async def complete_action(
    request: Request,
    response: Response,
    supervision_id: SupervisionId,
    action_id: ActionId,
    principal: Reader,
    session: SessionDep,
    body: CompleteIn | None = None,
) -> SupervisionOut:
    return await _change(
        request, response, principal, session, supervision_id, action_id, body or CompleteIn()
    )


@router.post(
    "/supervisions/{supervision_id}/actions/{action_id}/cancel",
    response_model=SupervisionOut,
    summary="Cancel an action, with a reason",
    description="Cancels an open action; nothing is deleted." + _CHANGE_DOC,
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422, 429) | sets_headers(200, "ETag"),
)
async def cancel_action(
    request: Request,
    response: Response,
    supervision_id: SupervisionId,
    action_id: ActionId,
    body: CancelIn,
    principal: Reader,
    session: SessionDep,
) -> SupervisionOut:
    return await _change(request, response, principal, session, supervision_id, action_id, body)


@router.get(
    "/children/{child_id}/supervisions",
    response_model=Page[SupervisionOut],
    summary="A child's supervision history, newest first",
    description=(
        "Across the child's journeys the caller may see: managers, journeys now in their team;"
        " practitioners, journeys allocated to them. Others' journeys are left out."
    ),
    responses=problem_responses(401, 403, 422, 429),
)
async def child_supervisions(
    request: Request,
    child_id: ChildId,
    principal: Reader,
    session: SessionDep,
    page: Annotated[PageParams, Depends(bounded_page)],
) -> Page[SupervisionOut]:
    return await service.child_history(session, principal, _service(request).auditor, child_id, page)
