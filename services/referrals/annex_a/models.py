"""Ofsted ILACS Annex A child-level lists 1 (contacts) and 3 (referrals): their columns and rows.

The CSV has exactly Annex A's columns, in its order, with its display labels and dd/mm/yyyy dates;
the JSON has the same values as typed fields (ISO dates) plus the ids each row came from.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import Field as PField

from services.referrals.common import Schema
from shared.codes import ANNEX_A_LABELS, Ethnicity, ReferralSource, Sex

CONTACT_COLUMNS = (
    "Child Unique ID",
    "Gender",
    "Ethnicity",
    "Date of Birth",
    "Age",
    "Date of Contact",
    "Contact Source",
)
REFERRAL_COLUMNS = (
    "Child Unique ID",
    "Gender",
    "Ethnicity",
    "Date of Birth",
    "Age",
    "Date of Referral",
    "Referral Source",
    "Referral NFA?",
    "Number of Referrals in Last 12 Months",
    "Allocated Team",
    "Allocated Worker",
)

# Annex A's answer to "Referral NFA?": every referral the front door records leads to an
# assessment or a strategy discussion (REFERRAL_OUTCOMES), never to no further action.
REFERRAL_NFA_NO = "b) No"


def ddmmyyyy(value: date | None) -> str:
    """A date as Annex A writes it; blank for none."""
    return "" if value is None else f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def _labels(values: Any, description: str) -> Any:
    return PField(description=description, json_schema_extra={"enum": list(values)})


GenderLabel = Annotated[str, _labels(ANNEX_A_LABELS[Sex].values(), "Gender: Annex A label of the CIN sex.")]
EthnicityLabel = Annotated[
    str, _labels(ANNEX_A_LABELS[Ethnicity].values(), "Ethnicity: Annex A label of the DfE code.")
]
SourceLabel = Annotated[str, _labels(ANNEX_A_LABELS[ReferralSource].values(), "Annex A source label.")]

_CHILD_ID = "Child Unique ID: the child's id in this service (the same child on every row and list)."
_DOB = (
    "Date of Birth. Null (blank in the CSV) for a child unborn: only an expected date of birth is "
    "known, and it is not given as a birth date."
)
_AGE = (
    "Age: whole years at the London date of the contact (a birthday on 29 February comes on 1 March in "
    "other years). Null (blank) when the child was not yet born at that date."
)


class _ChildRow(Schema):
    """The columns every Annex A child list starts with (§1.1): the child, as recorded now, and their
    age at the row's date."""

    child_id: uuid.UUID = PField(description=_CHILD_ID)
    gender: GenderLabel
    ethnicity: EthnicityLabel
    date_of_birth: date | None = PField(description=_DOB)
    age: int | None = PField(description=_AGE)

    def child_cells(self) -> list[object]:
        """The CSV cells of the common columns, in their order."""
        return [
            str(self.child_id),
            self.gender,
            self.ethnicity,
            ddmmyyyy(self.date_of_birth),
            self.age,
        ]


class AnnexAContact(_ChildRow):
    """One row of List 1: one child of one contact."""

    date_of_contact: date = PField(description="Date of Contact: the London date the contact was received.")
    contact_source: SourceLabel = PField(description="Contact Source: Annex A label of the CIN source code.")
    contact_id: uuid.UUID = PField(description="The contact (JSON only; not an Annex A column).")

    def cells(self) -> list[object]:
        """The CSV line, in CONTACT_COLUMNS' order (`csv_text` writes a null blank)."""
        return [*self.child_cells(), ddmmyyyy(self.date_of_contact), self.contact_source]


class AnnexAReferral(_ChildRow):
    """One row of List 3: one referral (a contact whose current threshold decision is a referral)."""

    age: int | None = PField(description=_AGE.replace("the contact", "the referral"))
    date_of_referral: date = PField(
        description="Date of Referral: the London date the contact that became the referral was received."
    )
    referral_source: SourceLabel = PField(
        description="Referral Source: Annex A label of the contact's source."
    )
    referral_nfa: Annotated[str, PField(json_schema_extra={"enum": [REFERRAL_NFA_NO]})] = PField(
        description="Referral NFA?: always `b) No`: a front-door referral leads to an assessment or a "
        "strategy discussion."
    )
    referrals_in_last_12_months: int = PField(
        description="Number of Referrals in Last 12 Months: the child's other referrals received before "
        "this one, from the same London date a year earlier (28 February for 29 February), this one "
        "excluded."
    )
    allocated_team: str | None = PField(
        description="Allocated Team: the name of the team holding the journey when the referral decision "
        "was made, or, if none held it then, of the first allocated after; null (blank) if never allocated. "
        "The register refuses a name a spreadsheet would run as a formula."
    )
    allocated_worker: str | None = PField(
        description="Allocated Worker: the pseudonymous id of that allocation's worker; null (blank) when "
        "the team held the journey without a named worker. An id beginning with =, +, -, @, tab or CR "
        "(or a full-width or small look-alike of one) is written in the CSV with a leading `'` (a "
        "spreadsheet would run it as a formula); the JSON gives it as it is."
    )
    contact_id: uuid.UUID = PField(description="The contact (JSON only; not an Annex A column).")
    decision_id: uuid.UUID = PField(description="The referral's threshold decision (JSON only).")

    def cells(self) -> list[object]:
        """The CSV line, in REFERRAL_COLUMNS' order (`csv_text` writes a null blank)."""
        return [
            *self.child_cells(),
            ddmmyyyy(self.date_of_referral),
            self.referral_source,
            self.referral_nfa,
            self.referrals_in_last_12_months,
            self.allocated_team,
            self.allocated_worker,
        ]


class _Window(Schema):
    from_date: date = PField(description="First London date of the window (inclusive).")
    to_date: date = PField(description="Last London date of the window (inclusive).")


class AnnexAContacts(_Window):
    """Annex A List 1 (contacts) for a window, as JSON."""

    columns: list[str] = PField(description="Annex A's column headers, in order (the CSV's header line).")
    rows: list[AnnexAContact] = PField(description="One per child per contact, by receipt then contact id.")


class AnnexAReferrals(_Window):
    """Annex A List 3 (referrals) for a window, as JSON."""

    columns: list[str] = PField(description="Annex A's column headers, in order (the CSV's header line).")
    rows: list[AnnexAReferral] = PField(description="One per referral, by receipt then contact id.")
