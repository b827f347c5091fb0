"""What every referrals feature shares: who may do what, input checks, clocks and event appends."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from pydantic import AfterValidator, AwareDatetime, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals.settings import Settings
from shared.auth import Principal, Role, require_roles
from shared.errors import Unprocessable
from shared.events.contract import EventPayload
from shared.events.log import EventLog, NewEvent
from shared.observability import request_id_var
from shared.types import utcnow

if TYPE_CHECKING:
    from services.referrals.journeys.models import Journey

# --- Who may do what. Analysts and feed readers have no access to front-door records. ---------------
STAFF = (Role.practitioner, Role.manager, Role.admin)
MANAGERS = (Role.manager, Role.admin)
CONTACT_WRITERS = (Role.partner, Role.practitioner, Role.manager, Role.admin)

Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Manager = Annotated[Principal, Depends(require_roles(*MANAGERS))]
ContactWriter = Annotated[Principal, Depends(require_roles(*CONTACT_WRITERS))]

# --- Bounded text ------------------------------------------------------------------------------------


def _no_control_characters(value: str) -> str:
    # PostgreSQL refuses NUL in text (a 500 if it got that far); other controls are never meant.
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


_Clean = AfterValidator(_no_control_characters)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _Clean]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _Clean]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), _Clean]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), _Clean]
StaffIdText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), _Clean]

TEAM_ID_PATTERN = r"^[A-Z0-9-]{2,40}$"
TeamCode = Annotated[str, StringConstraints(pattern=TEAM_ID_PATTERN)]

# A query-string name: no control characters.
QUERY_TEXT_PATTERN = r"^[^\x00-\x1f]*$"

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _plausible_instant(value: datetime) -> datetime:
    if value < EARLIEST:
        raise ValueError("implausibly early (before 1970)")
    return value


# A timezone-aware instant no earlier than 1970 (far-past years overflow on conversion to UTC).
Instant = Annotated[AwareDatetime, AfterValidator(_plausible_instant)]


def _plausible_date(value: date) -> date:
    if value.year < 1900:
        raise ValueError("implausibly early (before 1900)")
    return value


PlausibleDate = Annotated[date, AfterValidator(_plausible_date)]


def nhs_number_valid(digits: str) -> bool:
    """Modulus 11: weights 10..2 on the first nine digits; 11 - remainder is the check digit (11 -> 0,
    10 -> the number is invalid)."""
    if not re.fullmatch(r"\d{10}", digits):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _nhs_number(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"\d{10}", digits):
        raise ValueError("an NHS number has 10 digits")
    if not nhs_number_valid(digits):
        raise ValueError("the NHS number's check digit is wrong (modulus 11)")
    return digits


_POSTCODE = re.compile(r"^(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2})$")


def _postcode(value: str) -> str:
    text = re.sub(r"\s+", " ", value.strip().upper())
    if not _POSTCODE.fullmatch(text):
        raise ValueError("not a UK postcode (e.g. SW1A 1AA)")
    compact = text.replace(" ", "")
    return f"{compact[:-3]} {compact[-3:]}"  # canonical: one space before the inward code


def _phone(value: str) -> str:
    text = value.strip()
    digits = re.sub(r"[\s()-]", "", text)
    if re.fullmatch(r"\+44\d{9,10}", digits) or re.fullmatch(r"0\d{9,10}", digits):
        return digits
    raise ValueError("not a UK phone number (0… with 10-11 digits, or +44…)")


_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _email(value: str) -> str:
    text = value.strip()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise ValueError("not an email address")
    return text


NhsNumber = Annotated[str, AfterValidator(_nhs_number)]
Postcode = Annotated[str, AfterValidator(_postcode)]
Phone = Annotated[str, AfterValidator(_phone)]
Email = Annotated[str, AfterValidator(_email)]


def settings_of(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def not_future(request: Request, value: datetime, field: str) -> None:
    """422 naming `field` when `value` is in the future (beyond the allowed clock skew)."""
    tolerance = timedelta(seconds=settings_of(request).future_tolerance_seconds)
    if value > utcnow() + tolerance:
        raise Unprocessable("This time is in the future.", field=field, code="time_in_future")


def event_log(request: Request) -> EventLog:
    log = request.app.state.service.event_log
    assert isinstance(log, EventLog)
    return log


@dataclass
class Pending:
    """Events to append to one journey once every other write of the request is done."""

    journey: Journey
    events: list[tuple[EventPayload, datetime]] = field(default_factory=list)


async def append_events(
    request: Request, session: AsyncSession, principal: Principal, pending: Sequence[Pending]
) -> None:
    """The last writes of a request: append to each journey's stream at the version we hold, so a
    concurrent change to the same journey makes this a 409 and the whole request rolls back."""
    log = event_log(request)
    for item in pending:
        if not item.events:
            continue
        journey = item.journey
        await log.append(
            session,
            journey.id,
            [NewEvent(payload, occurred_at) for payload, occurred_at in item.events],
            expected_version=journey.stream_version,
            actor=principal.subject,
            correlation_id=request_id_var.get(),
        )
        journey.stream_version += len(item.events)
        session.add(journey)
