"""HTTP: threshold decisions, their authorisation by another manager, and supersession."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.referrals.common import (
    ContactId,
    DecisionId,
    Manager,
    Staff,
    append_events,
    read_one,
    settings_of,
)
from services.referrals.contacts.service import get_contact
from services.referrals.decisions import service
from services.referrals.decisions.models import Decision, DecisionIn, DecisionOut, SupersedeIn
from shared.audit import Audited, auditor_of
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.http import check_if_match, make_etag, set_etag, sets_headers
from shared.idempotency import IdempotencyDep

router = APIRouter(tags=["threshold decisions"], responses=problem_responses(401, 403, 429))


def decision_etag(decision: Decision) -> str:
    return make_etag("decision", decision.id, decision.version)


@router.post(
    "/contacts/{contact_id}/decisions",
    status_code=201,
    response_model=DecisionOut,
    summary="Record the threshold decision on a contact (a referral outcome then awaits authorisation)",
    responses=problem_responses(404, 409, 422) | sets_headers(201, "ETag"),
)
async def record_decision(
    request: Request,
    response: Response,
    contact_id: ContactId,
    data: DecisionIn,
    principal: Staff,
    session: SessionDep,
    idem: IdempotencyDep,
) -> object:
    if (replay := await idem.replay(session, principal)) is not None:
        return replay
    contact = await get_contact(session, contact_id)
    decision, pending = await service.record_decision(session, contact, data, principal, settings_of(request))
    await auditor_of(request).record(
        session, principal, "create", "decision", resource_id=decision.id, child_id=decision.child_id
    )
    body = DecisionOut.of(decision)
    set_etag(response, decision_etag(decision))
    await idem.remember(session, 201, body, response)
    await append_events(request, session, principal, [pending])
    return body


@router.get(
    "/contacts/{contact_id}/decisions",
    response_model=list[DecisionOut],
    summary="Every decision on a contact, superseded ones included (oldest first)",
    description="In the order recorded; decisions recorded at one time, by id.",
    responses=problem_responses(404, 422),
)
async def list_contact_decisions(
    request: Request, contact_id: ContactId, principal: Staff, session: SessionDep
) -> list[DecisionOut]:
    contact = await get_contact(session, contact_id)
    rows = await service.decisions_of_contact(session, contact.id)
    await auditor_of(request).record(
        session, principal, "read", "decisions", resource_id=contact.id, child_id=contact.child_id
    )
    return [DecisionOut.of(d) for d in rows]


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionOut,
    summary="A threshold decision (with ETag); superseded decisions stay readable",
    responses=problem_responses(404, 422) | sets_headers(200, "ETag"),
)
async def get_decision(
    request: Request, response: Response, decision_id: DecisionId, principal: Staff, session: SessionDep
) -> DecisionOut:
    decision = await read_one(
        request,
        response,
        session,
        principal,
        Decision,
        decision_id,
        resource="decision",
        child_id=lambda d: d.child_id,
        etag=decision_etag,
    )
    return DecisionOut.of(decision)


@router.post(
    "/decisions/{decision_id}/authorise",
    response_model=DecisionOut,
    summary="Authorise a decision that opens a referral (a manager other than the decision-maker)",
    responses=problem_responses(404, 409, 412, 422) | sets_headers(200, "ETag"),
)
async def authorise_decision(
    request: Request, response: Response, decision_id: DecisionId, principal: Manager, session: SessionDep
) -> DecisionOut:
    # Locked before the ETag check: a concurrent writer holding the same ETag waits, then gets 412.
    decision, journey = await service.lock_decision(session, decision_id)
    check_if_match(request, decision_etag(decision))
    pending = await service.authorise(session, decision, journey, principal)
    await auditor_of(request).record(
        session, principal, "authorise", "decision", resource_id=decision.id, child_id=decision.child_id
    )
    await append_events(request, session, principal, [pending])
    set_etag(response, decision_etag(decision))
    return DecisionOut.of(decision)


@router.post(
    "/decisions/{decision_id}/supersede",
    status_code=201,
    response_model=DecisionOut,
    summary="Replace a decision with a new one (coded reason and note); the old one stays readable",
    responses=problem_responses(404, 409, 412, 422) | sets_headers(201, "ETag"),
)
async def supersede_decision(
    request: Request,
    response: Response,
    decision_id: DecisionId,
    data: SupersedeIn,
    principal: Staff,
    session: SessionDep,
    idem: IdempotencyDep,
) -> object:
    if (replay := await idem.replay(session, principal)) is not None:
        return replay
    old, journey = await service.lock_decision(session, decision_id)  # see authorise_decision
    check_if_match(request, decision_etag(old))
    new, pending = await service.supersede(session, old, journey, data, principal, settings_of(request))
    # The new decision is a record written too, and the one a replay hands out again.
    await auditor_of(request).record_all(
        session,
        principal,
        [
            Audited("supersede", "decision", old.id, old.child_id, f"{data.reason.value}: {data.note}"[:500]),
            Audited("create", "decision", new.id, new.child_id),
        ],
    )
    body = DecisionOut.of(new)
    set_etag(response, decision_etag(new))
    await idem.remember(session, 201, body, response)
    await append_events(request, session, principal, [pending])
    return body
