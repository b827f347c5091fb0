"""HTTP: contacts (staff and partner systems), their status, and feedback to referrers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import func, select
from sqlmodel import col

from services.referrals.common import (
    ContactId,
    ContactWriter,
    Instant,
    Staff,
    append_events,
    read_one,
    settings_of,
)
from services.referrals.contacts import service
from services.referrals.contacts.history import ChildHistory, histories
from services.referrals.contacts.models import (
    Contact,
    ContactIn,
    ContactOut,
    ContactsCreated,
    ContactStatus,
    ContactStatusOut,
    FeedbackIn,
    FeedbackOut,
    PartnerContactReceipt,
    PartnerContactsReceipt,
)
from shared.audit import Audited, auditor_of
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.errors import Conflict, NotFound, problem_responses
from shared.http import Page, PageParams, make_etag, page_params, sets_headers
from shared.idempotency import IdempotencyDep

router = APIRouter(tags=["contacts"], responses=problem_responses(401, 403, 429))


def contact_etag(contact: Contact) -> str:
    return make_etag("contact", contact.id, contact.version)


@router.post(
    "/contacts",
    status_code=201,
    response_model=ContactsCreated | PartnerContactsReceipt,
    summary="Receive a contact about one or more children (one contact per child, opening or joining the "
    "child's journey)",
    description="Staff get the contacts in full; a partner system gets receipts only.",
    responses=problem_responses(409, 422),
)
async def create_contacts(
    request: Request, data: ContactIn, principal: ContactWriter, session: SessionDep, idem: IdempotencyDep
) -> object:
    if (replay := await idem.replay(session, principal)) is not None:
        return replay
    group_id, contacts, pending, new_ids = await service.receive_contacts(
        session, data, principal, settings_of(request)
    )
    # Children created inline, in order (a new child whose NHS number is on record was not created).
    created = [Audited("create", "child", c.child_id, c.child_id) for c in contacts if c.child_id in new_ids]
    await auditor_of(request).record_all(
        session,
        principal,
        created
        + [
            Audited(
                "create",
                "contact",
                c.id,
                c.child_id,
                # A reason may be given on time too; only a backdated contact is audited as one.
                f"backdated: {c.backdating_reason}"[:500] if c.backdated and c.backdating_reason else None,
            )
            for c in contacts
        ],
    )
    body: ContactsCreated | PartnerContactsReceipt
    if principal.has(Role.practitioner, Role.manager, Role.admin):
        body = ContactsCreated(contact_group_id=group_id, contacts=[ContactOut.of(c) for c in contacts])
    else:
        receipts = [
            PartnerContactReceipt(
                id=c.id,
                child_id=c.child_id,
                received_at=c.received_at,
                status=ContactStatus.awaiting_decision,
            )
            for c in contacts
        ]
        body = PartnerContactsReceipt(contact_group_id=group_id, contacts=receipts)
    await idem.remember(session, 201, body)
    try:
        await append_events(request, session, principal, pending)
    except Conflict as conflict:
        if isinstance(body, ContactsCreated) or conflict.code != "stale_journey_version":
            raise
        # A partner gets receipts only: not the journey's id, nor its version (how much is recorded).
        raise Conflict(
            "The child's records changed while this contact was being received; retry.",
            code=conflict.code,
        ) from None
    return body


@router.get(
    "/contacts/{contact_id}",
    response_model=ContactOut,
    summary="A contact in full (staff; with ETag)",
    responses=problem_responses(404, 422) | sets_headers(200, "ETag"),
)
async def get_contact(
    request: Request, response: Response, contact_id: ContactId, principal: Staff, session: SessionDep
) -> ContactOut:
    contact = await read_one(
        request,
        response,
        session,
        principal,
        Contact,
        contact_id,
        resource="contact",
        child_id=lambda c: c.child_id,
        etag=contact_etag,
    )
    return ContactOut.of(contact)


@router.get(
    "/contacts/{contact_id}/status",
    response_model=ContactStatusOut,
    summary="A contact's progress (a partner sees only the contacts it submitted)",
    responses=problem_responses(404, 422),
)
async def get_contact_status(
    request: Request, contact_id: ContactId, principal: ContactWriter, session: SessionDep
) -> ContactStatusOut:
    contact = await service.get_contact(session, contact_id)
    staff = principal.has(Role.practitioner, Role.manager, Role.admin)
    if not staff and contact.recorded_by != principal.subject:
        # Object-level check: another partner's contact is indistinguishable from a missing one.
        raise NotFound("No contact with this id.")
    status, outcome = await service.contact_status(session, contact)
    await auditor_of(request).record(
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


@router.get(
    "/partner/contacts",
    response_model=Page[ContactStatusOut],
    summary="The contacts this partner system submitted, with their progress (newest first)",
    responses=problem_responses(422),
)
async def list_partner_contacts(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.partner))],
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    since: Annotated[
        Instant | None, Query(description="Only contacts received at or after this time.")
    ] = None,
) -> Page[ContactStatusOut]:
    conditions = [col(Contact.recorded_by) == principal.subject]
    if since is not None:
        conditions.append(col(Contact.received_at) >= since)
    total = (await session.execute(select(func.count()).select_from(Contact).where(*conditions))).scalar_one()
    rows = (
        await session.execute(
            select(Contact)
            .where(*conditions)
            .order_by(col(Contact.received_at).desc(), col(Contact.id))
            .limit(page.limit)
            .offset(page.offset)
        )
    ).scalars()
    items = []
    auditor = auditor_of(request)
    for contact in rows:
        status, outcome = await service.contact_status(session, contact)
        items.append(
            ContactStatusOut(
                id=contact.id,
                received_at=contact.received_at,
                status=status,
                outcome=outcome,
                acknowledged_at=contact.acknowledged_at,
                feedback_sent_at=contact.feedback_sent_at,
            )
        )
        await auditor.record(
            session, principal, "list", "contact_status", resource_id=contact.id, child_id=contact.child_id
        )
    return Page[ContactStatusOut](items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/contacts/{contact_id}/referrer-feedback",
    status_code=201,
    response_model=FeedbackOut,
    summary="Record the acknowledgement (T1) or feedback on the decision (T2) sent to the referrer",
    responses=problem_responses(404, 409, 422),
)
async def record_feedback(
    request: Request,
    contact_id: ContactId,
    data: FeedbackIn,
    principal: Staff,
    session: SessionDep,
    idem: IdempotencyDep,
) -> object:
    if (replay := await idem.replay(session, principal)) is not None:
        return replay
    contact = await service.get_contact(session, contact_id)
    feedback, pending = await service.record_feedback(session, contact, data, principal, settings_of(request))
    await auditor_of(request).record(
        session, principal, "create", "referrer_feedback", resource_id=feedback.id, child_id=contact.child_id
    )
    body = FeedbackOut.of(feedback)
    await idem.remember(session, 201, body)
    await append_events(request, session, principal, [pending])
    return body


@router.get(
    "/contacts/{contact_id}/child-history",
    response_model=ChildHistory,
    summary="The child's contacts and referrals in the 12 months before this contact (staff)",
    description="What to weigh at the point of decision: whether a referral on this contact would be a "
    "re-referral, and how many worries have arrived without one. Counted as reporting counts them.",
    responses=problem_responses(404, 422),
)
async def get_child_history(
    request: Request, contact_id: ContactId, principal: Staff, session: SessionDep
) -> ChildHistory:
    contact = await service.get_contact(session, contact_id)
    found = await histories(session, [contact])
    await auditor_of(request).record(
        session, principal, "read", "child_history", resource_id=contact.id, child_id=contact.child_id
    )
    return found[contact.id]


@router.get(
    "/contacts/{contact_id}/referrer-feedback",
    response_model=list[FeedbackOut],
    summary="What the referrer was sent, and when",
    description="In the order sent (then recorded, then by id).",
    responses=problem_responses(404, 422),
)
async def list_feedback(
    request: Request, contact_id: ContactId, principal: Staff, session: SessionDep
) -> list[FeedbackOut]:
    contact = await service.get_contact(session, contact_id)
    rows = await service.feedback_of(session, contact.id)
    await auditor_of(request).record(
        session, principal, "read", "referrer_feedback", resource_id=contact.id, child_id=contact.child_id
    )
    return [FeedbackOut.of(f) for f in rows]
