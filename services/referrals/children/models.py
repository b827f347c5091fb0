"""A child's front-door identity, and the history of corrections to it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field as PField
from sqlalchemy import Index, Text
from sqlmodel import Field

from services.referrals.children.schemas import ChildIn
from services.referrals.common import Name, NhsNumber, PlausibleDate, Postcode, Reason, Schema
from services.referrals.db import Base
from shared.codes import Ethnicity, Sex
from shared.types import UTCDateTime, utcnow


class Child(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    __tablename__ = "children"
    __table_args__ = (Index(None, "date_of_birth", "family_name_key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    given_name: str = Field(max_length=100)
    family_name: str = Field(max_length=100)
    # `name_key` copies for duplicate search; unbounded, as case folding lengthens ("ß" is "ss").
    given_name_key: str = Field(sa_type=Text)
    family_name_key: str = Field(sa_type=Text, index=True)
    date_of_birth: date | None = None
    expected_date_of_birth: date | None = Field(default=None, index=True)
    sex: str = Field(max_length=1)
    ethnicity: str = Field(max_length=4)
    nhs_number: str | None = Field(default=None, max_length=10, index=True)
    postcode: str | None = Field(default=None, max_length=8)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=120)


class ChildCorrection(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    __tablename__ = "child_corrections"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    child_id: uuid.UUID = Field(foreign_key="children.id", index=True)
    field: str = Field(max_length=40)
    old_value: str | None = Field(default=None, max_length=100)
    new_value: str | None = Field(default=None, max_length=100)
    corrected_by: str = Field(max_length=120)
    corrected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str = Field(max_length=500)


# --- API schemas -----------------------------------------------------------------------------------


class ChildCorrectionIn(Schema):
    """Corrections to a child's details: only the fields given change; the reason is kept."""

    model_config = {"extra": "forbid"}

    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: PlausibleDate | None = None
    expected_date_of_birth: PlausibleDate | None = None
    sex: Sex | None = None
    ethnicity: Ethnicity | None = None
    nhs_number: NhsNumber | None = PField(
        None,
        description="10-digit NHS number (modulus-11 checked). One person's: one already on another "
        "child's record is 409 `child_on_record`.",
    )
    postcode: Postcode | None = None
    reason: Reason = PField(description="Why the details are corrected (kept in the history and audit).")


class ChildOut(Schema):
    id: uuid.UUID = PField(description="The child's pseudonymous id, used everywhere.")
    given_name: str
    family_name: str
    date_of_birth: date | None
    expected_date_of_birth: date | None
    unborn: bool = PField(description="True when only an expected date of birth is known.")
    sex: Sex
    ethnicity: Ethnicity
    nhs_number: str | None
    postcode: str | None
    version: int = PField(description="Increases with each correction.")
    created_at: datetime

    @classmethod
    def of(cls, c: Child) -> ChildOut:
        return cls(
            id=c.id,
            given_name=c.given_name,
            family_name=c.family_name,
            date_of_birth=c.date_of_birth,
            expected_date_of_birth=c.expected_date_of_birth,
            unborn=c.date_of_birth is None,
            sex=Sex(c.sex),
            ethnicity=Ethnicity(c.ethnicity),
            nhs_number=c.nhs_number,
            postcode=c.postcode,
            version=c.version,
            created_at=c.created_at,
        )


class ChildMatch(Schema):
    child: ChildOut
    matched_on: Annotated[str, PField(description="`nhs_number` or `name_and_date_of_birth`.")]


class CorrectionOut(Schema):
    id: uuid.UUID
    field: str
    old: str | None
    new: str | None
    by: str = PField(description="Pseudonymous staff id.")
    at: datetime
    reason: str

    @classmethod
    def of(cls, c: ChildCorrection) -> CorrectionOut:
        return cls(
            id=c.id,
            field=c.field,
            old=c.old_value,
            new=c.new_value,
            by=c.corrected_by,
            at=c.corrected_at,
            reason=c.reason,
        )


__all__ = [
    "Child",
    "ChildCorrection",
    "ChildCorrectionIn",
    "ChildIn",
    "ChildMatch",
    "ChildOut",
    "CorrectionOut",
]
