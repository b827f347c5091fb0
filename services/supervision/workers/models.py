"""The register of newly qualified workers, who are supervised more often."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlmodel import Field

from services.supervision.db import Base
from shared.types import CalendarDate, UTCDateTime


class Worker(Base, table=True):
    __tablename__ = "workers"

    worker_id: str = Field(primary_key=True, max_length=120)
    newly_qualified_until: date | None = Field(default=None)
    version: int = Field(default=1)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(max_length=120)


class WorkerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    newly_qualified_until: CalendarDate | None = PField(
        description=(
            "Last day the worker counts as newly qualified (supervised more often), before year 9999;"
            " null ends it."
        )
    )


class WorkerOut(BaseModel):
    worker_id: str = PField(description="Pseudonymous staff id.")
    newly_qualified_until: date | None = PField(description="Last day the worker counts as newly qualified.")
    version: int = PField(description="Moves on with each change (the ETag follows it).")
    updated_at: datetime = PField(description="When the entry was last set.")
    updated_by: str = PField(description="Pseudonymous id of the manager who last set it.")
