"""The child's identity as a request body; no table imports, so other features' schemas can use it."""

from __future__ import annotations

from pydantic import Field as PField

from services.referrals.common import Name, NhsNumber, PlausibleDate, Postcode, Schema
from shared.codes import Ethnicity, Sex


class ChildIn(Schema):
    """A child's identity as the front door records it."""

    model_config = {"extra": "forbid"}

    given_name: Name = PField(description="Given name (synthetic in tests).")
    family_name: Name = PField(description="Family name.")
    date_of_birth: PlausibleDate | None = PField(None, description="Date of birth; not in the future.")
    expected_date_of_birth: PlausibleDate | None = PField(
        None, description="Expected date of birth of an unborn child (instead of date_of_birth)."
    )
    sex: Sex = PField(Sex.U, description="CIN census sex (N00783).")
    ethnicity: Ethnicity = PField(Ethnicity.NOBT, description="DfE ethnicity code (N00177).")
    nhs_number: NhsNumber | None = PField(
        None,
        description="10-digit NHS number; the modulus-11 check digit is validated. One person's: one "
        "already on a child's record is that child (a new child in a contact is recorded as that child; "
        "`POST /children` is 409 `child_on_record`).",
    )
    postcode: Postcode | None = PField(None, description="UK postcode, stored as e.g. `SW1A 1AA`.")
