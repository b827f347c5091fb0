"""HTTP: Ofsted ILACS Annex A child-level lists 1 (contacts) and 3 (referrals), as CSV or JSON.

Child-level personal data: managers (and admins) only, and every child exported is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals.annex_a import service
from services.referrals.annex_a.models import (
    CONTACT_COLUMNS,
    REFERRAL_COLUMNS,
    AnnexAContact,
    AnnexAContacts,
    AnnexAReferral,
    AnnexAReferrals,
)
from services.referrals.common import Manager
from shared.audit import Audited, auditor_of
from shared.auth import Principal
from shared.dates import add_months, require_dates_in_range
from shared.db import SessionDep
from shared.errors import Unprocessable, problem_responses
from shared.negotiation import CSV, JSON, VARY_ACCEPT, VARY_ACCEPT_DOC, csv_text, json_response, negotiate
from shared.types import IsoDate, utcnow
from shared.working_days import london_date

# 406: the lists are sent as CSV or JSON only, as the reports are sent as JSON or CSV.
router = APIRouter(tags=["Annex A"], responses=problem_responses(401, 403, 406, 422, 429))

# Annex A covers the 6 months before an inspection; a window may be up to a year long.
DEFAULT_MONTHS, MAX_MONTHS = 6, 12


@dataclass(frozen=True)
class Window:
    from_date: date
    to_date: date


def annex_a_window(
    from_date: Annotated[
        IsoDate | None,
        Query(
            alias="from",
            description="First London date of the window (inclusive); default 6 months before `to`.",
        ),
    ] = None,
    to_date: Annotated[
        IsoDate | None,
        Query(alias="to", description="Last London date of the window (inclusive); default today in London."),
    ] = None,
) -> Window:
    """The window of London dates: at most a year long, 2000-01-01 to 2099-12-31."""
    require_dates_in_range((from_date, "from"), (to_date, "to"))
    to_date = to_date or london_date(utcnow())
    from_date = from_date or add_months(to_date, -DEFAULT_MONTHS)
    if from_date > to_date:
        raise Unprocessable("The window starts after it ends.", field="from", location="query")
    if to_date >= add_months(from_date, MAX_MONTHS):
        raise Unprocessable(
            f"A window spans at most {MAX_MONTHS} months: `to` (default today) must be before "
            f"{add_months(from_date, MAX_MONTHS)}.",
            field="to",
            location="query",
        )
    return Window(from_date, to_date)


WindowDep = Annotated[Window, Depends(annex_a_window)]


def _form(request: Request) -> str:
    """CSV (the default) or JSON, as the client's Accept prefers; 406 when it allows neither."""
    return negotiate(request, (CSV, JSON))


# A dependency, so the form is settled before the list is read or its export audited.
Form = Annotated[str, Depends(_form)]


def _example(columns: Sequence[str]) -> str:
    """The header line as the CSV sends it (`csv_text`: quoted where needed, ended by CRLF)."""
    return csv_text([columns])


def _responses(columns: Sequence[str], what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": f"{what}: CSV (the default: Annex A's exact header line and labels, dates as "
            "dd/mm/yyyy, blank for none, every record ended by CRLF as RFC 4180 says; a text cell "
            "beginning with =, +, -, @, tab or CR (or a full-width or small look-alike of one) gets a "
            "leading `'` so a spreadsheet shows it as text), or JSON when `Accept` prefers "
            "application/json; "
            "an `Accept` allowing neither gets a 406 problem naming the header.",
            "content": {CSV: {"schema": {"type": "string"}, "example": _example(columns)}},
            "headers": {
                "Content-Disposition": {
                    "description": "The CSV's file name (CSV only).",
                    "schema": {"type": "string"},
                },
                "Cache-Control": {"description": "no-store: child-level data.", "schema": {"type": "string"}},
                "Vary": VARY_ACCEPT_DOC,
            },
        }
    }


async def _export(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    form: str,
    body: AnnexAContacts | AnnexAReferrals,
    resource: str,
    name: str,
) -> Response:
    """Audit the export, then answer with the list as CSV (the default) or JSON.

    The audit has one row for the export, and one per child in it: the audit log answers "who has
    read this child's records" with the export too."""
    rows: Sequence[AnnexAContact | AnnexAReferral] = body.rows
    span = f"{body.from_date}/{body.to_date}"
    entries = [Audited("export", resource, span)]
    entries += [
        Audited("export", resource, span, child_id) for child_id in dict.fromkeys(r.child_id for r in rows)
    ]
    await auditor_of(request).record_all(session, principal, entries)
    headers = {"Cache-Control": "no-store"} | VARY_ACCEPT
    if form == JSON:
        return json_response(body, headers=headers)
    text = csv_text([body.columns, *(row.cells() for row in rows)])
    filename = f"annex-a-{name}-{body.from_date}-to-{body.to_date}.csv"
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/annex-a/contacts",
    response_model=AnnexAContacts,
    responses=_responses(CONTACT_COLUMNS, "Annex A List 1"),
    summary="Ofsted Annex A List 1: one row per child per contact received in the window (CSV or JSON)",
)
async def annex_a_contacts(
    request: Request, principal: Manager, form: Form, session: SessionDep, window: WindowDep
) -> Response:
    """Every contact received in the window (London dates), one row per child: a contact naming
    several children gives one row each. Age is in whole years at the date of the contact, blank for
    a child not yet born then; Date of Birth is blank for a child unborn (only an expected date of
    birth known). Ordered by receipt, then contact id. Child-level personal data: managers and admins
    only; each child exported is audited."""
    rows = await service.contacts(session, window.from_date, window.to_date)
    body = AnnexAContacts(
        from_date=window.from_date, to_date=window.to_date, columns=list(CONTACT_COLUMNS), rows=rows
    )
    return await _export(request, session, principal, form, body, "annex_a_contacts", "list-1-contacts")


@router.get(
    "/annex-a/referrals",
    response_model=AnnexAReferrals,
    responses=_responses(REFERRAL_COLUMNS, "Annex A List 3"),
    summary="Ofsted Annex A List 3: one row per referral received in the window (CSV or JSON)",
)
async def annex_a_referrals(
    request: Request, principal: Manager, form: Form, session: SessionDep, window: WindowDep
) -> Response:
    """Every referral received in the window (London dates): a contact whose current threshold
    decision (not superseded; authorised or awaiting authorisation) is CIN_ASSESSMENT or STRATEGY_S47,
    as reporting counts referrals. Number of Referrals in Last 12 Months counts the child's referrals
    before this one from the same date a year earlier, this one excluded. Allocated Team and Worker:
    the allocation holding the journey when the referral decision was made, else the first after.
    Referral NFA? is always `b) No`. Ordered by receipt, then contact id. Managers and admins only;
    each child exported is audited."""
    rows = await service.referrals(session, window.from_date, window.to_date)
    body = AnnexAReferrals(
        from_date=window.from_date, to_date=window.to_date, columns=list(REFERRAL_COLUMNS), rows=rows
    )
    return await _export(request, session, principal, form, body, "annex_a_referrals", "list-3-referrals")
