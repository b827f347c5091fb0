"""The journey projection: what supervision knows about each journey, derived from the referrals feed.

Rebuildable: `JourneyProjection.reset` deletes it and a replay of the feed recreates it identically.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field

from services.supervision.db import Base
from shared.types import UTCDateTime


class Journey(Base, table=True):
    __tablename__ = "journeys"

    journey_id: uuid.UUID = Field(primary_key=True)
    child_id: uuid.UUID = Field(index=True)
    is_open: bool = Field(default=True, index=True)
    started_at: datetime = Field(sa_type=UTCDateTime, description="Earliest received_at of its contacts.")
    team_id: str | None = Field(default=None, max_length=80, index=True)
    area: str | None = Field(default=None, max_length=80)
    # Kept as text, not the enum: a new service type upstream must not break this reader.
    service_type: str | None = Field(default=None, max_length=60)
    worker_id: str | None = Field(default=None, max_length=120, index=True)
    allocated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_event_position: int = Field(default=0, sa_type=BigInteger, description="Referrals feed position.")
