"""The register of teams a journey can be allocated to."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field as PField
from sqlmodel import Field

from services.referrals.common import RegisteredName, Schema, ShortText, TeamCode
from services.referrals.db import Base
from shared.codes import ServiceType
from shared.types import UTCDateTime, utcnow


class Team(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    __tablename__ = "teams"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    area: str = Field(max_length=60, index=True)
    service_type: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=120)


class TeamIn(Schema):
    model_config = {"extra": "forbid"}

    id: TeamCode = PField(
        description="The team's register code, e.g. `FD-WEST`: A-Z, 0-9 and hyphens, not beginning with a "
        "hyphen (a spreadsheet would read it as a formula in a CSV export)."
    )
    name: RegisteredName = PField(
        description="The team's name (Annex A List 3's Allocated Team); not beginning with =, +, - or @, "
        "or a full-width or small look-alike of one, which a spreadsheet would read as a formula."
    )
    area: ShortText = PField(description="One of the configured areas (default West, Central, East).")
    service_type: ServiceType


class TeamOut(Schema):
    id: str
    name: str
    area: str
    service_type: ServiceType
    created_at: datetime

    @classmethod
    def of(cls, t: Team) -> TeamOut:
        return cls(
            id=t.id,
            name=t.name,
            area=t.area,
            service_type=ServiceType(t.service_type),
            created_at=t.created_at,
        )
