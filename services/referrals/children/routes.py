"""HTTP: children and the history of corrections to their details."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.referrals.children import service
from services.referrals.children.models import (
    Child,
    ChildCorrectionIn,
    ChildIn,
    ChildMatch,
    ChildOut,
    CorrectionOut,
)
from services.referrals.common import QUERY_TEXT_PATTERN, ChildId, Staff, nhs_number_valid, read_one
from shared.audit import auditor_of
from shared.db import SessionDep
from shared.errors import Unprocessable, problem_responses
from shared.http import Page, PageParams, check_if_match, make_etag, page_params, set_etag, sets_headers
from shared.idempotency import IdempotencyDep
from shared.types import IsoDate

router = APIRouter(tags=["children"], responses=problem_responses(401, 403, 429))


def child_etag(child: Child) -> str:
    return make_etag("child", child.id, child.version)


@router.post(
    "/children",
    status_code=201,
    response_model=ChildOut,
    summary="Record a child (search for an existing record first)",
    description="An NHS number already on a child's record is 409 `child_on_record`: one person, one "
    "record. The problem's `child_id` names that child.",
    responses=problem_responses(409, 422) | sets_headers(201, "ETag"),
)
async def create_child(
    request: Request,
    response: Response,
    data: ChildIn,
    principal: Staff,
    session: SessionDep,
    idem: IdempotencyDep,
) -> object:
    if (replay := await idem.replay(session, principal)) is not None:
        return replay
    child = await service.record_child(session, data, principal)
    auditor = auditor_of(request)
    await auditor.record(session, principal, "create", "child", resource_id=child.id, child_id=child.id)
    body = ChildOut.of(child)
    set_etag(response, child_etag(child))
    await idem.remember(session, 201, body, response)
    return body


# A stored name is at most 100 characters composed (NFC); typed decomposed, each accented letter is
# two or more code points, so the query takes more and a longer one simply matches no one.
SEARCH_NAME_MAX_LENGTH = 400


@router.get(
    "/children/search",
    response_model=Page[ChildMatch],
    summary="Find possible existing records of a child (by name and date of birth, or NHS number)",
    responses=problem_responses(422),
)
async def search_children(
    request: Request,
    principal: Staff,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    given_name: Annotated[
        str | None,
        Query(
            max_length=SEARCH_NAME_MAX_LENGTH,
            pattern=QUERY_TEXT_PATTERN,
            description="Matched ignoring case and Unicode form (é typed either way).",
        ),
    ] = None,
    family_name: Annotated[
        str | None,
        Query(
            max_length=SEARCH_NAME_MAX_LENGTH,
            pattern=QUERY_TEXT_PATTERN,
            description="Matched ignoring case and Unicode form; names may be swapped.",
        ),
    ] = None,
    date_of_birth: Annotated[
        IsoDate | None, Query(description="Date of birth or expected date of birth.")
    ] = None,
    nhs_number: Annotated[
        str | None, Query(max_length=20, description="10 digits (spaces or hyphens allowed).")
    ] = None,
) -> Page[ChildMatch]:
    number: str | None = None
    if nhs_number is not None:
        # Written as a child's record accepts it (common._nhs_number): spaces or hyphens between digits.
        number = re.sub(r"[\s-]", "", nhs_number)
        if not nhs_number_valid(number):
            raise Unprocessable(
                "Not a valid NHS number (10 digits, modulus 11).", field="nhs_number", location="query"
            )
    has_name = any(n and n.strip() for n in (given_name, family_name))
    if date_of_birth is not None and not has_name:
        raise Unprocessable("Give a name with the date of birth.", field="family_name", location="query")
    if number is None and date_of_birth is None:
        raise Unprocessable(
            "Search by NHS number, or by name and date of birth.", field="date_of_birth", location="query"
        )
    found, total = await service.search_children(
        session,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        nhs_number=number,
        page=page,
    )
    auditor = auditor_of(request)
    for child, _ in found:
        await auditor.record(session, principal, "search", "child", resource_id=child.id, child_id=child.id)
    items = [ChildMatch(child=ChildOut.of(c), matched_on=how) for c, how in found]
    return Page[ChildMatch](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/children/{child_id}",
    response_model=ChildOut,
    summary="A child's front-door identity (with ETag)",
    responses=problem_responses(404, 422) | sets_headers(200, "ETag"),
)
async def get_child(
    request: Request, response: Response, child_id: ChildId, principal: Staff, session: SessionDep
) -> ChildOut:
    child = await read_one(
        request,
        response,
        session,
        principal,
        Child,
        child_id,
        resource="child",
        child_id=lambda c: c.id,
        etag=child_etag,
    )
    return ChildOut.of(child)


@router.patch(
    "/children/{child_id}",
    response_model=ChildOut,
    summary="Correct a child's details (If-Match required; the correction and its reason are kept)",
    description="An NHS number already on another child's record is 409 `child_on_record`: one person, "
    "one record. The problem's `child_id` names that child.",
    responses=problem_responses(404, 409, 412, 422, 428) | sets_headers(200, "ETag"),
)
async def correct_child(
    request: Request,
    response: Response,
    child_id: ChildId,
    data: ChildCorrectionIn,
    principal: Staff,
    session: SessionDep,
) -> ChildOut:
    # Locked before the ETag check: a concurrent correction holding the same ETag waits, then gets 412.
    child, number_on_record = await service.lock_child(session, child_id, data)
    check_if_match(request, child_etag(child), required=True)
    corrections = await service.correct_child(session, child, data, principal, number_on_record)
    fields = ",".join(c.field for c in corrections)
    await auditor_of(request).record(
        session,
        principal,
        "correct",
        "child",
        resource_id=child.id,
        child_id=child.id,
        reason=f"{data.reason} [{fields}]"[:500],
    )
    set_etag(response, child_etag(child))
    return ChildOut.of(child)


@router.get(
    "/children/{child_id}/corrections",
    response_model=Page[CorrectionOut],
    summary="The history of corrections to a child's details",
    description="Oldest first (by time, then field, then id): one order, so pages repeat or skip none.",
    responses=problem_responses(404, 422),
)
async def list_corrections(
    request: Request,
    child_id: ChildId,
    principal: Staff,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[CorrectionOut]:
    await service.get_child(session, child_id)
    rows, total = await service.corrections_of(session, child_id, page)
    await auditor_of(request).record(
        session, principal, "read", "child_corrections", resource_id=child_id, child_id=child_id
    )
    return Page[CorrectionOut](
        items=[CorrectionOut.of(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )
