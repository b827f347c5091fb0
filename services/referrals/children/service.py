"""Children: create, find possible duplicates, correct with a history. Never commits."""

from __future__ import annotations

import functools
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.referrals.children.models import Child, ChildCorrection, ChildCorrectionIn, ChildIn
from services.referrals.common import get_or_404, insert_new
from shared.auth import Principal
from shared.db import advisory_key, driver_rows, new_record, on_postgresql
from shared.errors import Conflict, InvalidParam, Unprocessable
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


def check_new_child(data: ChildIn, prefix: str = "", received: date | None = None) -> None:
    """`received`: the London date of the contact recording the child, when backdated before today."""
    today = london_date(utcnow())
    recorded_on = today if received is None else min(received, today)
    check_birth(data.date_of_birth, data.expected_date_of_birth, prefix, recorded_on=recorded_on)


async def create_child(
    session: AsyncSession, data: ChildIn, principal: Principal, prefix: str = "", received: date | None = None
) -> Child:
    """A new child's record (its NHS number, if any, looked up first: see `children_on_record`)."""
    check_new_child(data, prefix, received)
    return await _insert_child(session, data, principal)


async def _insert_child(session: AsyncSession, data: ChildIn, principal: Principal) -> Child:
    child = new_child(data, principal)
    await insert_new(session, [child])
    return child


async def record_child(session: AsyncSession, data: ChildIn, principal: Principal) -> Child:
    """`POST /children`: 409 `child_on_record` when a child with this NHS number is on record (one
    person, one record), naming that child so the caller can use it."""
    check_new_child(data)
    if data.nhs_number is not None:
        on_record = await children_on_record(session, [data.nhs_number])
        if data.nhs_number in on_record:
            raise child_on_record(on_record[data.nhs_number], "use that record")
    return await _insert_child(session, data, principal)


def child_on_record(child_id: uuid.UUID, advice: str) -> Conflict:
    """409 `child_on_record`: the NHS number given is on another child's record (one person, one
    record), naming that child so the caller can use it."""
    return Conflict(
        f"A child with this NHS number is on record ({child_id}): {advice}.",
        code="child_on_record",
        invalid_params=[
            InvalidParam(name="nhs_number", location="body", reason="already on a child's record")
        ],
        members={"child_id": str(child_id)},
    )


# The first key of an NHS number's advisory lock (two-key form; shared.idempotency's try-lock takes 1).
NHS_LOCK_CLASS = 2


@functools.cache
def _lock_numbers(count: int) -> Any:
    """Locks `count` keys (`k0`...) in increasing order, the one order every transaction takes them
    in, so two taking the same numbers cannot deadlock."""
    if count == 1:
        return text(f"SELECT pg_advisory_xact_lock({NHS_LOCK_CLASS}, :k0)")
    # Volatile output expressions are evaluated as rows leave the sort, so in the ORDER BY's order.
    rows = ", ".join(f"(CAST(:k{i} AS integer))" for i in range(count))
    return text(f"SELECT pg_advisory_xact_lock({NHS_LOCK_CLASS}, k) FROM (VALUES {rows}) AS v(k) ORDER BY k")


@functools.cache
def _children_with_numbers(count: int) -> Any:
    c = Child.__table__.c
    numbers = [bindparam(f"n{i}", type_=c.nhs_number.type) for i in range(count)]
    return select(c.id, c.nhs_number).where(c.nhs_number.in_(numbers)).order_by(c.created_at, c.id)


async def children_on_record(session: AsyncSession, numbers: Sequence[str]) -> dict[str, uuid.UUID]:
    """The children on record with these NHS numbers, by number (where earlier data holds two records
    of one number, the first recorded). Nothing is sent without numbers.

    On PostgreSQL each number is locked first, until the transaction ends, so a concurrent request
    about to record a child with one of them waits here for this one to commit, then finds its child.
    Two statements, not one: a statement reads what was committed when it began, so a look-up in the
    statement that waited for the lock would miss the child committed meanwhile. SQLite serialises
    writers anyway. Call it before recording any new child: a statement sends the inserts waiting
    (see `insert_new`) before it."""
    if not numbers:
        return {}
    if on_postgresql(session):
        keys = sorted({advisory_key(n) for n in numbers})
        await driver_rows(session, _lock_numbers(len(keys)), {f"k{i}": k for i, k in enumerate(keys)})
    rows = await driver_rows(
        session, _children_with_numbers(len(numbers)), {f"n{i}": n for i, n in enumerate(numbers)}
    )
    found: dict[str, uuid.UUID] = {}
    for child_id, number in rows:
        found.setdefault(number, uuid.UUID(int=child_id.int))  # the driver's own UUID type, as uuid's
    return found


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


async def lock_child(
    session: AsyncSession, child_id: uuid.UUID, data: ChildCorrectionIn
) -> tuple[Child, uuid.UUID | None]:
    """The child, locked for a correction: its If-Match and its `old` values must be checked against
    the row as the previous writer committed it. With it, the child on record with the NHS number the
    correction sets, if any (for `correct_child`).

    The number is locked and looked up first (`children_on_record`), so a concurrent correction or
    creation setting it waits for this one to commit, and it for them. Before the child's row, as a
    contact takes a number's lock before it writes anything referring to a child (one order)."""
    number = data.nhs_number if "nhs_number" in data.model_fields_set else None
    on_record = await children_on_record(session, [number] if number is not None else [])
    child = await get_or_404(session, Child, child_id, "child", lock=True)
    return child, on_record.get(number) if number is not None else None


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
    session: AsyncSession,
    child: Child,
    data: ChildCorrectionIn,
    principal: Principal,
    number_on_record: uuid.UUID | None = None,
) -> list[ChildCorrection]:
    """Apply the given fields, keeping one correction row per changed field. `number_on_record`: the
    child on record with the NHS number given, as `lock_child` found it; another child's is 409."""
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
    # One person, one record: a number on another child's record is that child, not this one.
    if number_on_record not in (None, child.id) and any(c.field == "nhs_number" for c in corrections):
        raise child_on_record(number_on_record, "correct or use that record")
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
                .order_by(
                    col(ChildCorrection.corrected_at), col(ChildCorrection.field), col(ChildCorrection.id)
                )
                .limit(page.limit)
                .offset(page.offset)
            )
        )
        .scalars()
        .all()
    )
    return list(rows), total
