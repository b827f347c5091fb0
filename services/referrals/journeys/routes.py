"""HTTP: journeys, their allocation history, transfers and closure."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field as PField
from sqlalchemy import select
from sqlmodel import col

from services.referrals.common import (
    TEAM_ID_PATTERN,
    JourneyId,
    Manager,
    Staff,
    append_events,
    read_one,
    settings_of,
)
from services.referrals.contacts.models import Contact, ContactOut
from services.referrals.decisions.models import Decision, DecisionOut
from services.referrals.journeys import service
from services.referrals.journeys.models import (
    AllocationIn,
    AllocationOut,
    ClosureIn,
    Journey,
    JourneyStatus,
    JourneySummary,
    TransferIn,
)
from shared.audit import auditor_of
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.http import Page, PageParams, check_if_match, make_etag, page_params, set_etag, sets_headers
from shared.idempotency import IdempotencyDep

router = APIRouter(tags=["journeys"], responses=problem_responses(401, 403, 429))


class JourneyDetail(JourneySummary):
    # Equal times are ordered by id: deterministic, if not the order recorded (no sequence is kept).
    contacts: list[ContactOut] = PField(
        description="The journey's contacts, in the order received (then recorded, then by id)."
    )
    decisions: list[DecisionOut] = PField(
        description="Every decision on the journey, superseded ones included, in the order recorded "
        "(then by id)."
    )
    allocations: list[AllocationOut] = PField(
        description="The allocation history, oldest first (by start, then recorded, then id)."
    )


def journey_etag(journey: Journey) -> str:
    return make_etag("journey", journey.id, journey.stream_version)


@router.get(
    "/journeys",
    response_model=Page[JourneySummary],
    summary="Journeys, e.g. a team's open journeys or those still unallocated (oldest first)",
    responses=problem_responses(422),
)
async def list_journeys(
    request: Request,
    principal: Staff,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    team_id: Annotated[
        str | None, Query(pattern=TEAM_ID_PATTERN, description="Held by this team now.")
    ] = None,
    status: Annotated[JourneyStatus | None, Query(description="open or closed.")] = None,
    unallocated: Annotated[bool | None, Query(description="true: never allocated; false: allocated.")] = None,
    child_id: Annotated[uuid.UUID | None, Query(description="One child's journeys.")] = None,
) -> Page[JourneySummary]:
    rows, total = await service.list_journeys(
        session, page, team_id=team_id, status=status, unallocated=unallocated, child_id=child_id
    )
    auditor = auditor_of(request)
    for j in rows:
        await auditor.record(session, principal, "list", "journey", resource_id=j.id, child_id=j.child_id)
    return Page[JourneySummary](
        items=[JourneySummary.of(j) for j in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/journeys/{journey_id}",
    response_model=JourneyDetail,
    summary="A journey with its contacts, decisions and allocation history (with ETag)",
    responses=problem_responses(404, 422) | sets_headers(200, "ETag"),
)
async def get_journey(
    request: Request, response: Response, journey_id: JourneyId, principal: Staff, session: SessionDep
) -> JourneyDetail:
    journey = await read_one(
        request,
        response,
        session,
        principal,
        Journey,
        journey_id,
        resource="journey",
        child_id=lambda j: j.child_id,
        etag=journey_etag,
    )
    contacts = (
        await session.execute(
            select(Contact)
            .where(col(Contact.journey_id) == journey.id)
            .order_by(col(Contact.received_at), col(Contact.recorded_at), col(Contact.id))
        )
    ).scalars()
    decisions = (
        await session.execute(
            select(Decision)
            .where(col(Decision.journey_id) == journey.id)
            .order_by(col(Decision.recorded_at), col(Decision.id))
        )
    ).scalars()
    allocations = await service.allocations_of(session, journey.id)
    return JourneyDetail(
        **JourneySummary.of(journey).model_dump(),
        contacts=[ContactOut.of(c) for c in contacts],
        decisions=[DecisionOut.of(d) for d in decisions],
        allocations=[AllocationOut.of(a) for a in allocations],
    )


@router.post(
    "/journeys/{journey_id}/allocation",
    status_code=201,
    response_model=AllocationOut,
    summary="Allocate the journey for the first time (to a team, and optionally a worker)",
    description=(
        "Managers. A journey no team holds yet is the front door's: any manager may allocate it. One a"
        " team holds is already allocated: its team's managers get 409 (record a transfer), other"
        " managers 403 (`not_your_team`, or `no_team` for a token naming no team; the problem's"
        " `team_id` names the holding team). Admins are bound to no team. Answers in the order 404, 412,"
        " 403, 409."
    ),
    responses=problem_responses(404, 409, 412, 422),
)
async def allocate(
    request: Request,
    journey_id: JourneyId,
    data: AllocationIn,
    principal: Manager,
    session: SessionDep,
    idem: IdempotencyDep,
) -> object:
    if (replay := await idem.replay(session, principal)) is not None:
        return replay
    journey = await service.lock_journey(session, journey_id)  # see transfer
    check_if_match(request, journey_etag(journey))
    service.refuse_unless_holder(journey, principal, "allocate")  # see transfer
    allocation, pending = await service.allocate(session, journey, data, principal, settings_of(request))
    await auditor_of(request).record(
        session, principal, "allocate", "journey", resource_id=journey_id, child_id=allocation.child_id
    )
    body = AllocationOut.of(allocation)
    await idem.remember(session, 201, body)
    await append_events(request, session, principal, [pending])
    return body


@router.post(
    "/journeys/{journey_id}/transfers",
    status_code=201,
    response_model=AllocationOut,
    summary="Transfer the journey to another team and/or worker (a handover, with its reason)",
    description=(
        "Managers of the team holding the journey: the team handing over records the handover, and"
        " after it only the receiving team's managers may transfer it on. Another team's manager is 403"
        " `not_your_team`, a manager whose token names no team 403 `no_team` (the problem's `team_id`"
        " names the holding team); admins are bound to no team. Answers in the order 404, 412, 403,"
        " 409."
    ),
    responses=problem_responses(404, 409, 412, 422),
)
async def transfer(
    request: Request,
    journey_id: JourneyId,
    data: TransferIn,
    principal: Manager,
    session: SessionDep,
    idem: IdempotencyDep,
) -> object:
    if (replay := await idem.replay(session, principal)) is not None:
        return replay
    # Locked before the ETag check: a concurrent writer holding the same ETag waits, then gets 412.
    journey = await service.lock_journey(session, journey_id)
    check_if_match(request, journey_etag(journey))
    # Whose journey it is, after the ETag: of two managers holding one ETag, the second gets 412 (re-read)
    # even when the first moved the journey to another team. Staff may read the journey, so a 412 tells
    # a manager of another team nothing they could not see.
    service.refuse_unless_holder(journey, principal, "transfer")
    allocation, pending = await service.transfer(session, journey, data, principal, settings_of(request))
    await auditor_of(request).record(
        session,
        principal,
        "transfer",
        "journey",
        resource_id=journey_id,
        child_id=allocation.child_id,
        reason=data.reason.value,
    )
    body = AllocationOut.of(allocation)
    await idem.remember(session, 201, body)
    await append_events(request, session, principal, [pending])
    return body


@router.post(
    "/journeys/{journey_id}/closure",
    response_model=JourneySummary,
    summary="Close the journey (RC1-RC9, or a front-door closure after NFA, advice or early help)",
    description=(
        "Managers of the team holding the journey; one never allocated is the front door's, and any"
        " manager may close it. Another team's manager is 403 `not_your_team`, a manager whose token"
        " names no team 403 `no_team` (the problem's `team_id` names the holding team); admins are"
        " bound to no team. Answers in the order 404, 412, 403, 409."
    ),
    responses=problem_responses(404, 409, 412, 422) | sets_headers(200, "ETag"),
)
async def close(
    request: Request,
    response: Response,
    journey_id: JourneyId,
    data: ClosureIn,
    principal: Manager,
    session: SessionDep,
) -> JourneySummary:
    journey = await service.lock_journey(session, journey_id)  # see transfer
    check_if_match(request, journey_etag(journey))
    service.refuse_unless_holder(journey, principal, "close")  # see transfer
    pending = await service.close(session, journey, data, principal, settings_of(request))
    await auditor_of(request).record(
        session,
        principal,
        "close",
        "journey",
        resource_id=journey_id,
        child_id=journey.child_id,
        reason=data.reason.value,
    )
    await append_events(request, session, principal, [pending])
    set_etag(response, journey_etag(journey))
    return JourneySummary.of(journey)
