"""What every referrals feature shares: who may do what, input checks, clocks and event appends."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Path, Request, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints
from pydantic.config import JsonDict
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached, object_mapper
from sqlmodel import SQLModel

from services.referrals.settings import Settings
from shared.audit import auditor_of
from shared.auth import Principal, Role, require_roles
from shared.db import defer_insert
from shared.errors import NotFound, Unprocessable
from shared.events.contract import EventPayload
from shared.events.log import EventLog, NewEvent
from shared.http import set_etag
from shared.negotiation import formula_start
from shared.observability import request_id_var
from shared.types import IsoDate, IsoDateTime, as_utc, no_control_characters

if TYPE_CHECKING:
    from services.referrals.journeys.models import Journey

# --- Who may do what. Analysts and feed readers have no access to front-door records. ---------------
STAFF = (Role.practitioner, Role.manager, Role.admin)
MANAGERS = (Role.manager, Role.admin)
CONTACT_WRITERS = (Role.partner, Role.practitioner, Role.manager, Role.admin)

Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Manager = Annotated[Principal, Depends(require_roles(*MANAGERS))]
ContactWriter = Annotated[Principal, Depends(require_roles(*CONTACT_WRITERS))]

# The ids in paths, described once for every route that takes them.
ChildId = Annotated[uuid.UUID, Path(description="The child's id.")]
ContactId = Annotated[uuid.UUID, Path(description="The contact's id.")]
DecisionId = Annotated[uuid.UUID, Path(description="The threshold decision's id.")]
JourneyId = Annotated[uuid.UUID, Path(description="The journey's id (first contact to closure).")]

# --- Bounded text ------------------------------------------------------------------------------------


def _composed(value: object) -> object:
    # One stored form per name: "José" typed with a combining accent is kept as the precomposed é, so
    # a correction to the same name is no correction. Before the length check: NFC can lengthen text.
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


_Clean = AfterValidator(no_control_characters)
Name = Annotated[
    str,
    BeforeValidator(_composed),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    _Clean,
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _Clean]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), _Clean]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), _Clean]
StaffIdText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), _Clean]

# Not beginning with a hyphen: a spreadsheet would run `-A1` in a CSV export as a formula.
TEAM_ID_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,39}$"
TeamCode = Annotated[str, StringConstraints(pattern=TEAM_ID_PATTERN)]


def not_a_formula(value: str) -> str:
    """A validator for a name the council registers (a team's): refused if a spreadsheet would run it
    as a formula in a CSV export, so it is never stored and never needs altering on the way out."""
    if formula_start(value):
        raise ValueError(
            "must not begin with =, +, - or @, or a full-width or small look-alike of one "
            "(a spreadsheet would read it as a formula)"
        )
    return value


RegisteredName = Annotated[ShortText, AfterValidator(not_a_formula)]

# A query-string name: no control characters.
QUERY_TEXT_PATTERN = r"^[^\x00-\x1f]*$"

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _plausible_instant(value: datetime) -> datetime:
    if as_utc(value) < EARLIEST:
        raise ValueError("implausibly early (before 1970)")
    return value


# A timezone-aware instant no earlier than 1970 (far-past years overflow on conversion to UTC), and
# one that can be converted to UTC at all (far-future ones with a negative offset cannot).
Instant = Annotated[IsoDateTime, AfterValidator(_plausible_instant)]


def _plausible_date(value: date) -> date:
    if value.year < 1900:
        raise ValueError("implausibly early (before 1900)")
    return value


PlausibleDate = Annotated[IsoDate, AfterValidator(_plausible_date)]


def nhs_number_valid(digits: str) -> bool:
    """Modulus 11: weights 10..2 on the first nine digits; 11 - remainder is the check digit (11 -> 0,
    10 -> the number is invalid)."""
    # ASCII digits: \d matches any script's (full-width, Arabic-Indic), stored so and never found.
    if not re.fullmatch(r"[0-9]{10}", digits):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _nhs_number(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"[0-9]{10}", digits):
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
    if re.fullmatch(r"\+44[0-9]{9,10}", digits) or re.fullmatch(r"0[0-9]{9,10}", digits):
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
    if settings_of(request).in_future(value):
        raise Unprocessable("This time is in the future.", field=field, code="time_in_future")


R = TypeVar("R")


async def insert_new(session: AsyncSession, records: Sequence[SQLModel]) -> None:
    """INSERT new records of one table, then attach them as persistent (later changes are UPDATEs).

    Instead of `session.add` and a flush, whose unit of work cost about 110 µs of CPU more per record:
    on the intake's path (a child and a contact) about a tenth of the worker's time. The insert is
    deferred (`shared.db.defer_insert`): sent with the transaction's next statement, so a contact's
    new child and the contact itself go out with its event instead of a round trip each."""
    if not records:
        return
    table = object_mapper(records[0]).local_table
    assert isinstance(table, Table) and all(type(r) is type(records[0]) for r in records)
    defer_insert(session, table, [{c.name: getattr(r, c.name) for c in table.columns} for r in records])
    attach_inserted(session, records)


def attach_inserted(session: AsyncSession, records: Sequence[SQLModel]) -> None:
    """Records just inserted by a Core statement join the session as persistent, not new."""
    for record in records:
        make_transient_to_detached(record)
        session.add(record)


async def get_or_404(
    session: AsyncSession, model: type[R], record_id: uuid.UUID, what: str, *, lock: bool = False
) -> R:
    """The record, or 404. With `lock`, read afresh and locked until the transaction ends: on
    PostgreSQL a concurrent writer waits here for the one before it to commit, then reads its change
    (SQLite serialises writers anyway and renders no lock clause).

    FOR NO KEY UPDATE, not FOR UPDATE: no write changes a locked row's key (its id; no other column
    has a unique index a foreign key could use), so inserts referring to the row (a contact, decision
    or journey of a child being corrected) need not wait, while writers of the row still queue."""
    if lock:
        record = await session.get(
            model, record_id, with_for_update={"key_share": True}, populate_existing=True
        )
    else:
        record = await session.get(model, record_id)
    if record is None:
        raise NotFound(f"No {what} with this id.")
    return record


async def read_one(
    request: Request,
    response: Response,
    session: AsyncSession,
    principal: Principal,
    model: type[R],
    record_id: uuid.UUID,
    *,
    resource: str,
    child_id: Callable[[R], uuid.UUID],
    etag: Callable[[R], str],
) -> R:
    """What every read of one record shares: load it (404 when missing), audit the read of the child's
    record, and answer with its ETag."""
    record = await get_or_404(session, model, record_id, resource)
    await auditor_of(request).record(
        session, principal, "read", resource, resource_id=record_id, child_id=child_id(record)
    )
    set_etag(response, etag(record))
    return record


def explained_backdating(
    settings: Settings,
    at: datetime,
    reason: str | None,
    *,
    time_field: str,
    reason_field: str,
    now: datetime | None = None,
) -> bool:
    """Whether a record whose `time_field` is `at` is backdated (entered more than the threshold after
    it: a contact's receipt, a decision's making), refusing one that is without a `reason_field`."""
    backdated = settings.backdated(at, now)
    if backdated and not reason:
        raise Unprocessable(
            f"{time_field} is more than {settings.backdating_threshold_hours:g} hours before entry: "
            "give a backdating_reason.",
            field=reason_field,
            code="backdating_reason_required",
        )
    return backdated


def event_log(request: Request) -> EventLog:
    log = request.app.state.service.event_log
    assert isinstance(log, EventLog)
    return log


@dataclass
class Pending:
    """Events to append to one journey once every other write of the request is done."""

    journey: Journey
    events: list[tuple[EventPayload, datetime]] = field(default_factory=list)
    # The journey was inserted by this request with its stream version already counting these events
    # (one statement instead of an insert and an update).
    opened: bool = False


async def append_events(
    request: Request, session: AsyncSession, principal: Principal, pending: Sequence[Pending]
) -> None:
    """The last writes of a request: append to each journey's stream at the version we hold, so a
    concurrent change to the same journey makes this a 409 and the whole request rolls back."""
    log = event_log(request)
    appends = []
    for item in pending:
        if not item.events:
            continue
        journey = item.journey
        if item.opened:
            appends.append((journey, journey.stream_version - len(item.events), item.events))
            continue
        appends.append((journey, journey.stream_version, item.events))
        journey.stream_version += len(item.events)
        session.add(journey)
    # Version bumps are written first: the append takes the feed's ordering lock, which is held until
    # commit, so no other statement should run after it.
    await session.flush()
    for journey, expected_version, events in appends:
        await log.append(
            session,
            journey.id,
            [NewEvent(payload, occurred_at) for payload, occurred_at in events],
            expected_version=expected_version,
            actor=principal.subject,
            correlation_id=request_id_var.get(),
        )


# --- API schemas: every field described ---------------------------------------------------------------
# Meanings of fields that recur across bodies; a field's own description (Field(description=...)) wins.
FIELD_DOCS: dict[str, str] = {
    "id": "The record's id (UUID; for teams, the register code).",
    "child_id": "The child's pseudonymous id.",
    "journey_id": "The child's journey this belongs to (also the event stream id).",
    "contact_id": "The contact this belongs to.",
    "contact_group_id": "Shared by the contacts of one approach about several children.",
    "given_name": "Given name.",
    "family_name": "Family name.",
    "date_of_birth": "Date of birth (null for an unborn child).",
    "expected_date_of_birth": "Expected date of birth of an unborn child.",
    "sex": "CIN census sex (N00783): M, F or U.",
    "ethnicity": "DfE ethnicity code (N00177).",
    "nhs_number": "10-digit NHS number (modulus-11 checked).",
    "postcode": "UK postcode.",
    "created_at": "When the record was created (UTC).",
    "received_at": "When the front door received the contact (UTC).",
    "recorded_at": "When it was entered into the system (UTC).",
    "backdating_reason": "Why the contact was entered long after it was received.",
    "source": "CIN census referral source (N00152).",
    "channel": "How the contact arrived.",
    "referrer": "Who made the contact (null when anonymous).",
    "concerns_summary": "The worry, in brief.",
    "consent": "Consent to share information and act.",
    "consent_reason": "Why consent was not given or not required.",
    "urgency": "Red, amber or green.",
    "child_views": "The child's views, where known.",
    "opens_journey": "True when this contact opened the child's journey.",
    "awaiting_decision": "True until the contact has a threshold decision.",
    "recorded_by": "Pseudonymous id of the staff member or partner system that recorded it.",
    "partner_system": "Submitted by a partner system rather than staff.",
    "team_id": "A team's register code.",
    "acknowledged_at": "When the referrer was sent an acknowledgement (T1).",
    "feedback_sent_at": "When the referrer was first told the decision (T2).",
    "name": "Name.",
    "organisation": "Organisation.",
    "role": "Role in the organisation.",
    "phone": "UK phone number.",
    "email": "Email address.",
    "status": "Where it stands now.",
    "reason": "The coded or written reason.",
    "note": "Free-text note.",
    "outcome": "The threshold decision's outcome.",
    "other_reason": "What the OTHER outcome is.",
    "threshold_level": "Level on the local threshold-of-need continuum.",
    "primary_need": "CIN census primary need code (N00101).",
    "assessment_factors": "CIN census assessment factors (N00181).",
    "rationale": "Why the decision was made.",
    "decided_at": "When the decision was made (UTC).",
    "decided_by": "Pseudonymous id of the decision-maker.",
    "decided_by_team": "The decision-maker's team.",
    "authorised_by": "Pseudonymous id of the authorising manager.",
    "authorised_at": "When it was authorised (UTC).",
    "supersedes_id": "The decision this one replaced.",
    "superseded_by_id": "The decision that replaced this one.",
    "superseded_at": "When it was replaced (UTC).",
    "supersede_reason": "Why it was replaced.",
    "supersede_note": "What changed.",
    "worker_id": "Pseudonymous id of the allocated worker (null: the team holds it).",
    "started_at": "When this allocation began (UTC).",
    "ended_at": "When it ended (null while current).",
    "is_transfer": "True for a handover; false for the first allocation.",
    "effective_at": "When it takes effect (UTC).",
    "closed_at": "When the journey closed (UTC).",
    "closure_reason": "CIN census RC1-RC9, or a front-door closure code.",
    "allocated_since": "When the current allocation began.",
    "area": "The team's area.",
    "service_type": "What kind of service the team provides.",
    "kind": "acknowledgement (T1) or feedback on the decision (T2).",
    "sent_at": "When it was sent (UTC).",
    "field": "The corrected field.",
    "old": "The value before the correction.",
    "new": "The value after the correction.",
    "by": "Pseudonymous id of who corrected it.",
    "at": "When (UTC).",
    "child": "The possibly matching child.",
    "contacts": "The contacts, one per child.",
    "decisions": "Every decision on the journey, superseded ones included.",
    "allocations": "The allocation history, oldest first.",
    "decision": "The new decision.",
    "repeat_contact": "True when the child's journey was already open.",
    "unborn": "True when only an expected date of birth is known.",
}


def _describe(schema: JsonDict, _cls: type[Any]) -> None:
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, prop in properties.items():
            if isinstance(prop, dict) and "description" not in prop and name in FIELD_DOCS:
                prop["description"] = FIELD_DOCS[name]


class Schema(BaseModel):
    """Base of the referrals API bodies: fills in field descriptions from FIELD_DOCS."""

    model_config = ConfigDict(json_schema_extra=_describe)


def team_claim(principal: Principal) -> str | None:
    """The caller's team claim when it is a well-formed team code; anything else is not recorded."""
    team = principal.team
    return team if team is not None and re.fullmatch(TEAM_ID_PATTERN, team) else None
