"""A child's journey through the front door, and who held it when (allocations and transfers)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field as PField
from sqlalchemy import Index, text
from sqlmodel import Field

from services.referrals.common import Instant, Schema, StaffIdText, TeamCode
from services.referrals.db import Base
from shared.codes import ClosureReason, FrontDoorClosure, WorkerChangeReason
from shared.types import UTCDateTime, utcnow


class JourneyStatus(StrEnum):
    open = "open"
    closed = "closed"


class Journey(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    __tablename__ = "journeys"
    __table_args__ = (
        # At most one open journey per child, even when two contacts race to open one.
        Index(
            "uq_journeys_open_child",
            "child_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index(None, "team_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    child_id: uuid.UUID = Field(foreign_key="children.id", index=True)
    status: str = Field(default=JourneyStatus.open.value, max_length=10)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closure_reason: str | None = Field(default=None, max_length=20)
    closed_by: str | None = Field(default=None, max_length=120)
    # The current allocation, copied here for work lists.
    team_id: str | None = Field(default=None, max_length=40)
    worker_id: str | None = Field(default=None, max_length=120)
    allocated_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Version of this journey's event stream; every change appends, so it also versions the ETag.
    stream_version: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Allocation(Base, table=True):  # type: ignore[misc,valid-type,call-arg]
    """One period in which a team (and perhaps a worker) held the journey (cf. SSD involvements)."""

    __tablename__ = "allocations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    journey_id: uuid.UUID = Field(foreign_key="journeys.id", index=True)
    child_id: uuid.UUID = Field(foreign_key="children.id", index=True)
    team_id: str = Field(foreign_key="teams.id", max_length=40, index=True)
    worker_id: str | None = Field(default=None, max_length=120)
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Null for the first allocation; the RIIA worker-change reason for a transfer.
    reason: str | None = Field(default=None, max_length=10)
    is_transfer: bool = False
    recorded_by: str = Field(max_length=120)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- API schemas -----------------------------------------------------------------------------------


class AllocationIn(Schema):
    model_config = {"extra": "forbid"}

    team_id: TeamCode = PField(description="A registered team's code.")
    worker_id: StaffIdText | None = PField(None, description="Pseudonymous id of the allocated worker.")
    effective_at: Instant | None = PField(
        None,
        description="When it took effect (default now, or the journey's start if that is later); not in "
        "the future, not before the journey.",
    )


class TransferIn(Schema):
    model_config = {"extra": "forbid"}

    team_id: TeamCode | None = PField(None, description="The receiving team (default: the current team).")
    worker_id: StaffIdText | None = PField(
        None, description="The receiving worker (default: none, i.e. the team holds the journey)."
    )
    reason: WorkerChangeReason = PField(description="RIIA worker-change reason.")
    effective_at: Instant | None = PField(
        None,
        description="When it took effect (default now, or the current allocation's start if later); not "
        "before the current allocation started.",
    )


class ClosureIn(Schema):
    model_config = {"extra": "forbid"}

    reason: ClosureReason | FrontDoorClosure = PField(
        description="CIN census RC1-RC9 (needs an authorised referral), or for a front-door closure, when "
        "every decision is a non-referral outcome, the code matching one of them: FD_NFA (NFA), "
        "FD_ADVICE (INFO_ADVICE), FD_EARLY_HELP (EARLY_HELP), FD_EXISTING_CASE (EXISTING_OPEN_CASE) or "
        "FD_OTHER (OTHER)."
    )
    closed_at: Instant | None = PField(
        None,
        description="When it closed (default now, or the journey's last activity if later); not future.",
    )


class AllocationOut(Schema):
    id: uuid.UUID
    journey_id: uuid.UUID
    child_id: uuid.UUID
    team_id: str
    worker_id: str | None
    started_at: datetime
    ended_at: datetime | None
    reason: WorkerChangeReason | None = PField(description="Null for the first allocation.")
    is_transfer: bool
    recorded_by: str

    @classmethod
    def of(cls, a: Allocation) -> AllocationOut:
        return cls(
            id=a.id,
            journey_id=a.journey_id,
            child_id=a.child_id,
            team_id=a.team_id,
            worker_id=a.worker_id,
            started_at=a.started_at,
            ended_at=a.ended_at,
            reason=WorkerChangeReason(a.reason) if a.reason else None,
            is_transfer=a.is_transfer,
            recorded_by=a.recorded_by,
        )


class JourneySummary(Schema):
    id: uuid.UUID
    child_id: uuid.UUID
    status: JourneyStatus
    opened_at: datetime = PField(description="When the contact that opened it was received.")
    closed_at: datetime | None
    closure_reason: ClosureReason | FrontDoorClosure | None
    team_id: str | None = PField(description="The team holding it now (null when unallocated).")
    worker_id: str | None
    allocated_since: datetime | None

    @classmethod
    def of(cls, j: Journey) -> JourneySummary:
        reason: ClosureReason | FrontDoorClosure | None = None
        if j.closure_reason:
            reason = (
                ClosureReason(j.closure_reason)
                if j.closure_reason in ClosureReason.__members__.values()
                else FrontDoorClosure(j.closure_reason)
            )
        return cls(
            id=j.id,
            child_id=j.child_id,
            status=JourneyStatus(j.status),
            opened_at=j.opened_at,
            closed_at=j.closed_at,
            closure_reason=reason,
            team_id=j.team_id,
            worker_id=j.worker_id,
            allocated_since=j.allocated_since,
        )
