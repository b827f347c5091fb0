"""Input types that keep odd but well-formed values from reaching the database as a 500."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field, StringConstraints

from shared.types import IsoDateTime, as_utc, no_control_characters

# Pseudonymous staff and team ids: printable ASCII, no spaces (as the token subjects are).
ID_PATTERN = r"^[\x21-\x7e]+$"


def _sane_instant(value: datetime) -> datetime:
    utc = as_utc(value)
    if not 1900 <= utc.year <= 2199:
        raise ValueError("must be between the years 1900 and 2199")
    return utc


# Surrounding blanks dropped before the length is checked, so text of blanks alone is too short (a
# cancel reason of spaces is no reason); control characters refused, as referrals refuses them.
FreeText = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(no_control_characters)]
Instant = Annotated[IsoDateTime, AfterValidator(_sane_instant)]
StaffId = Annotated[str, Field(min_length=1, max_length=120, pattern=ID_PATTERN)]

# The ids in paths, described once for every route that takes them.
SupervisionId = Annotated[uuid.UUID, Path(description="The supervision's id.")]
ActionId = Annotated[uuid.UUID, Path(description="The id of one of the supervision's actions.")]
ChildId = Annotated[uuid.UUID, Path(description="The child's id.")]
