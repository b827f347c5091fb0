"""Input types that keep odd but well-formed values from reaching the database as a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from shared.types import IsoDateTime, as_utc

# Pseudonymous staff and team ids: printable ASCII, no spaces (as the token subjects are).
ID_PATTERN = r"^[\x21-\x7e]+$"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")  # PostgreSQL text cannot hold them
    return value


def _sane_instant(value: datetime) -> datetime:
    utc = as_utc(value)
    if not 1900 <= utc.year <= 2199:
        raise ValueError("must be between the years 1900 and 2199")
    return utc


FreeText = Annotated[str, AfterValidator(_no_nul)]
Instant = Annotated[IsoDateTime, AfterValidator(_sane_instant)]
StaffId = Annotated[str, Field(min_length=1, max_length=120, pattern=ID_PATTERN)]
