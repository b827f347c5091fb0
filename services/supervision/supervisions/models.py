"""Supervision records and their actions (tables), and the request/response schemas."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import Column, ForeignKey, Index, Text, Uuid
from sqlmodel import Field

from services.supervision.db import Base
from services.supervision.types import FreeText, Instant, StaffId
from shared.codes import SupervisionKind
from shared.types import CalendarDate, UTCDateTime


class ActionStatus(StrEnum):
    open = "open"
    completed = "completed"
    cancelled = "cancelled"


class Supervision(Base, table=True):
    __tablename__ = "supervisions"
    __table_args__ = (Index(None, "journey_id", "held_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    journey_id: uuid.UUID
    child_id: uuid.UUID = Field(index=True)
    team_id: str | None = Field(default=None, max_length=80, index=True)
    supervisee_id: str = Field(max_length=120)
    held_at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=40)
    # Free text: stays in this service, never in an event, a log line or reporting.
    discussion: str = Field(sa_type=Text)
    decisions: str = Field(sa_type=Text)
    next_due_on: date
    policy_due_on: date
    # The policy interval policy_due_on came from (the service type and the supervisee's newly-qualified
    # status then), so the due list shows it rather than one worked out afresh. Null on supervisions
    # recorded before it was kept.
    interval_working_days: int | None = Field(default=None)
    recorded_by: str = Field(max_length=120)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    version: int = Field(default=1)


class SupervisionAction(Base, table=True):
    __tablename__ = "supervision_actions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    supervision_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("supervisions.id"), nullable=False, index=True)
    )
    seq: int
    description: str = Field(sa_type=Text)
    owner_id: str = Field(max_length=120, index=True)
    due_on: date
    status: str = Field(default=ActionStatus.open.value, max_length=20)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str | None = Field(default=None, sa_type=Text)
    changed_by: str | None = Field(default=None, max_length=120)


# -- requests ---------------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionIn(_In):
    description: FreeText = PField(
        min_length=1, max_length=2000, description="What is to be done (free text)."
    )
    owner_id: StaffId = PField(description="Pseudonymous id of who does it.")
    due_on: CalendarDate = PField(
        description="Due date; not before the day the supervision was held, nor in year 9999."
    )


class SupervisionIn(_In):
    journey_id: uuid.UUID = PField(description="The child's journey (the referrals journey id).")
    supervisee_id: StaffId = PField(description="Pseudonymous id of the worker supervised.")
    held_at: Instant = PField(
        description="When it was held: not in the future, not before the journey started."
    )
    kind: SupervisionKind = PField(description="Individual, group, or a management oversight note.")
    discussion: FreeText = PField(
        min_length=1, max_length=20000, description="What was discussed (free text)."
    )
    decisions: FreeText = PField(min_length=1, max_length=20000, description="What was decided (free text).")
    actions: list[ActionIn] = PField(
        default_factory=list, max_length=50, description="Actions set, up to 50, in the order given."
    )
    next_due_on: CalendarDate | None = PField(
        default=None,
        description=(
            "When supervision is next due. Defaults to the policy interval in working days after the day"
            " it was held; may be sooner than the policy, never later, and must be after that day."
        ),
    )


class CompleteIn(_In):
    completed_at: Instant | None = PField(
        default=None, description="When it was done (default now); not in the future."
    )


class CancelIn(_In):
    reason: FreeText = PField(min_length=1, max_length=500, description="Why it is cancelled (free text).")
    cancelled_at: Instant | None = PField(default=None, description="Default now; not in the future.")


# -- responses --------------------------------------------------------------------------------------


class ActionOut(BaseModel):
    id: uuid.UUID = PField(description="The action's id.")
    description: str = PField(description="What is to be done (free text).")
    owner_id: str = PField(description="Pseudonymous id of who does it.")
    due_on: date = PField(description="When it is due.")
    status: ActionStatus = PField(description="open, completed or cancelled.")
    completed_at: datetime | None = PField(description="When it was completed.")
    cancelled_at: datetime | None = PField(description="When it was cancelled.")
    cancel_reason: str | None = PField(description="Why it was cancelled (free text).")
    changed_by: str | None = PField(description="Who completed or cancelled it.")


class SupervisionOut(BaseModel):
    id: uuid.UUID = PField(description="The supervision's id.")
    journey_id: uuid.UUID = PField(description="The child's journey.")
    child_id: uuid.UUID = PField(description="The child.")
    team_id: str | None = PField(description="The journey's team when it was recorded.")
    supervisee_id: str = PField(description="Pseudonymous id of the worker supervised.")
    held_at: datetime = PField(description="When it was held.")
    kind: SupervisionKind = PField(description="Individual, group, or a management oversight note.")
    discussion: str | None = PField(
        description=(
            "What was discussed (free text). Null only in the answer to an action's owner who may not read"
            " the supervision (they changed their action): that answer lists their own actions only."
        )
    )
    decisions: str | None = PField(description="What was decided (free text); null as discussion is.")
    next_due_on: date = PField(description="When supervision of this journey is next due.")
    policy_due_on: date = PField(description="What the policy would have set as next due.")
    recorded_by: str = PField(description="Pseudonymous id of the manager who recorded it.")
    recorded_at: datetime = PField(description="When it was recorded.")
    version: int = PField(description="Moves on with each change to an action (the ETag follows it).")
    actions: list[ActionOut] = PField(
        description="The actions set, in the order given (an owner who may not read it: theirs only)."
    )


class DueBasis(StrEnum):
    last_supervision = "last_supervision"
    journey_start = "journey_start"


class DueItem(BaseModel):
    journey_id: uuid.UUID = PField(description="The child's journey.")
    child_id: uuid.UUID = PField(description="The child.")
    team_id: str | None = PField(description="The journey's current team.")
    area: str | None = PField(description="That team's area.")
    service_type: str | None = PField(description="The current team's service type.")
    worker_id: str | None = PField(description="The allocated worker (pseudonymous id).")
    started_at: datetime = PField(
        description="When the journey started: the earliest of its contacts (a backdated one moves it back)."
    )
    last_supervision_id: uuid.UUID | None = PField(
        description="The latest supervision held, if any (by held_at, then id)."
    )
    last_held_at: datetime | None = PField(description="When that supervision was held.")
    interval_working_days: int = PField(
        description=(
            "The policy interval due_on comes from: the latest supervision's (the supervisee's"
            " newly-qualified status on the day held), else the one from the journey's start (the"
            " current worker's status on that day)."
        )
    )
    basis: DueBasis = PField(description="Whether due_on comes from the last supervision or the start.")
    due_on: date = PField(description="When supervision is next due.")
    overdue: bool = PField(description="due_on is before today (London).")
