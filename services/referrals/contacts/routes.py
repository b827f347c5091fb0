"""HTTP: contacts (staff and partner systems), their status, and feedback to referrers."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from services.referrals.common import ContactWriter, Staff, append_events, settings_of
from services.referrals.contacts import service
from services.referrals.contacts.models import (
    ContactIn,
    ContactOut,
    ContactsCreated,
    ContactStatusOut,
    FeedbackIn,
    FeedbackOut,
)
from shared.auth import Role
from shared.db import SessionDep
from shared.errors import NotFound, problem_responses
from shared.http import make_etag, set_etag
from shared.idempotency import IdempotencyDep

router = APIRouter(tags=["contacts"], responses=problem_responses(401, 403, 429))


def contact_etag(contact_id: uuid.UUID, version: int) -> str:
    return make_etag("contact", contact_id, version)


@router.post(
    "/contacts",
    status_code=201,
    response_model=ContactsCreated,
    summary="Receive a contact about one or more children (one contact per child, opening or joining the "
    "child's journey)",
    responses=problem_responses(409, 422),
)
async def create_contacts(
    request: Request, data: ContactIn, principal: ContactWriter, session: SessionDep, idem: IdempotencyDep
) -> object:
    if (replay := await idem.replay(session, principal.subject)) is not None:
        return replay
    group_id, contacts, pending = await service.receive_contacts(
        session, data, principal, settings_of(request)
    )
    auditor = request.app.state.service.auditor
    for contact in contacts:
        await auditor.record(
            session,
            principal,
            "create",
            "contact",
            resource_id=contact.id,
            child_id=contact.child_id,
            reason=f"backdated: {contact.backdating_reason}"[:500] if contact.backdating_reason else None,
        )
    body = ContactsCreated(contact_group_id=group_id, contacts=[ContactOut.of(c) for c in contacts])
    await idem.remember(session, 201, body)
    await append_events(request, session, principal, pending)
    return body


@router.get(
    "/contacts/{contact_id}",
    response_model=ContactOut,
    summary="A contact in full (staff; with ETag)",
    responses=problem_responses(404, 422),
)
async def get_contact(
    request: Request, response: Response, contact_id: uuid.UUID, principal: Staff, session: SessionDep
) -> ContactOut:
    contact = await service.get_contact(session, contact_id)
    await request.app.state.service.auditor.record(
        session, principal, "read", "contact", resource_id=contact.id, child_id=contact.child_id
    )
    set_etag(response, contact_etag(contact.id, contact.version))
    return ContactOut.of(contact)


@router.get(
    "/contacts/{contact_id}/status",
    response_model=ContactStatusOut,
    summary="A contact's progress (a partner sees only the contacts it submitted)",
    responses=problem_responses(404, 422),
)
async def get_contact_status(
    request: Request, contact_id: uuid.UUID, principal: ContactWriter, session: SessionDep
) -> ContactStatusOut:
    contact = await service.get_contact(session, contact_id)
    staff = principal.has(Role.practitioner, Role.manager, Role.admin)
    if not staff and contact.recorded_by != principal.subject:
        # Object-level check: another partner's contact is indistinguishable from a missing one.
        raise NotFound("No contact with this id.")
    status, outcome = await service.contact_status(session, contact)
    await request.app.state.service.auditor.record(
        session, principal, "read", "contact_status", resource_id=contact.id, child_id=contact.child_id
    )
    return ContactStatusOut(
        id=contact.id,
        received_at=contact.received_at,
        status=status,
        outcome=outcome,
        acknowledged_at=contact.acknowledged_at,
        feedback_sent_at=contact.feedback_sent_at,
    )


@router.post(
    "/contacts/{contact_id}/referrer-feedback",
    status_code=201,
    response_model=FeedbackOut,
    summary="Record the acknowledgement (T1) or feedback on the decision (T2) sent to the referrer",
    responses=problem_responses(404, 409, 422),
)
async def record_feedback(
    request: Request,
    contact_id: uuid.UUID,
    data: FeedbackIn,
    principal: Staff,
    session: SessionDep,
    idem: IdempotencyDep,
) -> object:
    if (replay := await idem.replay(session, principal.subject)) is not None:
        return replay
    contact = await service.get_contact(session, contact_id)
    feedback, pending = await service.record_feedback(session, contact, data, principal, settings_of(request))
    await request.app.state.service.auditor.record(
        session, principal, "create", "referrer_feedback", resource_id=feedback.id, child_id=contact.child_id
    )
    body = FeedbackOut.of(feedback)
    await idem.remember(session, 201, body)
    await append_events(request, session, principal, [pending])
    return body


@router.get(
    "/contacts/{contact_id}/referrer-feedback",
    response_model=list[FeedbackOut],
    summary="What the referrer was sent, and when",
    responses=problem_responses(404, 422),
)
async def list_feedback(
    request: Request, contact_id: uuid.UUID, principal: Staff, session: SessionDep
) -> list[FeedbackOut]:
    contact = await service.get_contact(session, contact_id)
    rows = await service.feedback_of(session, contact.id)
    await request.app.state.service.auditor.record(
        session, principal, "read", "referrer_feedback", resource_id=contact.id, child_id=contact.child_id
    )
    return [FeedbackOut.of(f) for f in rows]
