"""Children: create, find possible duplicates, correct with a history. Never commits."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.children.models import Child, ChildCorrection, ChildCorrectionIn, ChildIn
from services.referrals.common import get_or_404, insert_new
from shared.auth import Principal
from shared.db import new_record
from shared.errors import Unprocessable
from shared.http import PageParams
from shared.types import utcnow
from shared.working_days import london_date

# An expected date of birth as it stood when recorded: no known pregnancy has more than about 43
# weeks to run, and a child expected over a year before is born and has a date of birth.
EXPECTED_BIRTH_AFTER = timedelta(days=300)
EXPECTED_BIRTH_BEFORE = timedelta(days=365)


def check_birth(dob: date | None, edb: date | None, prefix: str = "", *, recorded_on: date) -> None:
    """Exactly one of date of birth / expected date of birth; a date of birth is not in the future; an
    expected one plausible on `recorded_on`, the London date the child was recorded (or their contact
    received, if earlier)."""
    if (dob is None) == (edb is None):
        raise Unprocessable(
            "Give exactly one of date_of_birth or expected_date_of_birth (for an unborn child).",
            field=f"{prefix}date_of_birth",
            code="one_birth_date",
        )
    # The office's date, not the server's: a child born today in London is not refused at 00:30 BST.
    if dob is not None and dob > london_date(utcnow()):
        raise Unprocessable(
            "date_of_birth is in the future; for an unborn child use expected_date_of_birth.",
            field=f"{prefix}date_of_birth",
            code="birth_date_in_future",
        )
    if (
        edb is not None
        and not recorded_on - EXPECTED_BIRTH_BEFORE <= edb <= recorded_on + EXPECTED_BIRTH_AFTER
    ):
        raise Unprocessable(
            f"expected_date_of_birth must be from {recorded_on - EXPECTED_BIRTH_BEFORE} to "
            f"{recorded_on + EXPECTED_BIRTH_AFTER}: no longer than a pregnancy after {recorded_on}, and a "
            "child expected earlier is born (give date_of_birth).",
            field=f"{prefix}expected_date_of_birth",
            code="expected_birth_implausible",
        )


def name_key(name: str) -> str:
    """A name as duplicate search compares it: Unicode's compatibility caseless form (D146), composed.
    "José" (either form), "JOSÉ" and full-width "ＪＯＳÉ" give one key; "Strauß" matches "STRAUSS"."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFD", name.strip()).casefold())
    return unicodedata.normalize("NFKC", folded.casefold())


async def create_child(
    session: AsyncSession, data: ChildIn, principal: Principal, prefix: str = "", received: date | None = None
) -> Child:
    """`received`: the London date of the contact recording the child, when backdated before today."""
    today = london_date(utcnow())
    recorded_on = today if received is None else min(received, today)
    check_birth(data.date_of_birth, data.expected_date_of_birth, prefix, recorded_on=recorded_on)
    child = new_child(data, principal)
    await insert_new(session, [child])
    return child


def new_child(data: ChildIn, principal: Principal) -> Child:
    """The child's record as `create_child` inserts it (checked first)."""
    return new_record(
        Child,
        given_name=data.given_name,
        family_name=data.family_name,
        given_name_key=name_key(data.given_name),
        family_name_key=name_key(data.family_name),
        date_of_birth=data.date_of_birth,
        expected_date_of_birth=data.expected_date_of_birth,
        sex=data.sex.value,
        ethnicity=data.ethnicity.value,
        nhs_number=data.nhs_number,
        postcode=data.postcode,
        created_by=principal.subject,
    )


async def get_child(session: AsyncSession, child_id: uuid.UUID) -> Child:
    return await get_or_404(session, Child, child_id, "child")


async def lock_child(session: AsyncSession, child_id: uuid.UUID) -> Child:
    """The child, locked for a correction: its If-Match and its `old` values must be checked against
    the row as the previous writer committed it."""
    return await get_or_404(session, Child, child_id, "child", lock=True)


async def search_children(
    session: AsyncSession,
    *,
    given_name: str | None,
    family_name: str | None,
    date_of_birth: date | None,
    nhs_number: str | None,
    page: PageParams,
) -> tuple[list[tuple[Child, str]], int]:
    """Possible existing records: same NHS number, or same date of birth and names (either order)."""
    conditions = []
    if nhs_number is not None:
        conditions.append(col(Child.nhs_number) == nhs_number)
    if date_of_birth is not None:
        names = [name_key(n) for n in (given_name, family_name) if n and n.strip()]
        born = or_(
            col(Child.date_of_birth) == date_of_birth, col(Child.expected_date_of_birth) == date_of_birth
        )
        g, f = col(Child.given_name_key), col(Child.family_name_key)
        if len(names) == 2:
            a, b = names
            name_match = or_(and_(g == a, f == b), and_(g == b, f == a))
        else:
            name_match = or_(g == names[0], f == names[0])
        conditions.append(and_(born, name_match))
    where = or_(*conditions)
    total = (await session.execute(select(func.count()).select_from(Child).where(where))).scalar_one()
    rows = (
        (
            await session.execute(
                select(Child)
                .where(where)
                .order_by(col(Child.family_name_key), col(Child.id))
                .limit(page.limit)
                .offset(page.offset)
            )
        )
        .scalars()
        .all()
    )
    found = []
    for child in rows:
        how = (
            "nhs_number"
            if nhs_number is not None and child.nhs_number == nhs_number
            else "name_and_date_of_birth"
        )
        found.append((child, how))
    return found, total


CORRECTABLE = (
    "given_name",
    "family_name",
    "date_of_birth",
    "expected_date_of_birth",
    "sex",
    "ethnicity",
    "nhs_number",
    "postcode",
)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


async def correct_child(
    session: AsyncSession, child: Child, data: ChildCorrectionIn, principal: Principal
) -> list[ChildCorrection]:
    """Apply the given fields, keeping one correction row per changed field."""
    given = data.model_fields_set - {"reason"}
    if not given:
        raise Unprocessable("Name at least one field to correct.", field="body", code="nothing_to_correct")
    for name in ("given_name", "family_name", "sex", "ethnicity"):
        if name in given and getattr(data, name) is None:
            raise Unprocessable(f"{name} cannot be removed.", field=name, code="required_field")
    new_values = {name: getattr(data, name) for name in given}
    dob = new_values.get("date_of_birth", child.date_of_birth)
    edb = new_values.get("expected_date_of_birth", child.expected_date_of_birth)
    check_birth(dob, edb, recorded_on=london_date(child.created_at))
    corrections = []
    for name in CORRECTABLE:
        if name not in given:
            continue
        old, new = _text(getattr(child, name)), _text(new_values[name])
        if old == new:
            continue
        value = new_values[name]
        setattr(child, name, getattr(value, "value", value))
        corrections.append(
            ChildCorrection(
                child_id=child.id,
                field=name,
                old_value=old,
                new_value=new,
                corrected_by=principal.subject,
                reason=data.reason,
            )
        )
    if not corrections:
        raise Unprocessable(
            "The values given are the same as those recorded.", field="body", code="nothing_to_correct"
        )
    child.given_name_key = name_key(child.given_name)
    child.family_name_key = name_key(child.family_name)
    child.version += 1
    session.add(child)
    session.add_all(corrections)
    await session.flush()
    return corrections


async def corrections_of(
    session: AsyncSession, child_id: uuid.UUID, page: PageParams
) -> tuple[list[ChildCorrection], int]:
    where = col(ChildCorrection.child_id) == child_id
    total = (
        await session.execute(select(func.count()).select_from(ChildCorrection).where(where))
    ).scalar_one()
    rows = (
        (
            await session.execute(
                select(ChildCorrection)
                .where(where)
                .order_by(col(ChildCorrection.corrected_at), col(ChildCorrection.field))
                .limit(page.limit)
                .offset(page.offset)
            )
        )
        .scalars()
        .all()
    )
    return list(rows), total
