"""The journey events the supervision service publishes: coded and pseudonymous, no free text.

The stream is the journey (the id the referrals service gave it); discussion and decisions stay here.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from shared.codes import SupervisionKind
from shared.events.contract import Catalogue, EventPayload

catalogue = Catalogue("supervision")


@catalogue.register
class SupervisionRecorded(EventPayload):
    event_type = "SupervisionRecorded"
    supervision_id: UUID
    child_id: UUID
    team_id: str | None
    supervisee_id: str
    held_at: datetime
    kind: SupervisionKind
    next_due_on: date
    actions: int


@catalogue.register
class SupervisionActionSet(EventPayload):
    event_type = "SupervisionActionSet"
    action_id: UUID
    supervision_id: UUID
    owner_id: str
    due_on: date


@catalogue.register
class SupervisionActionCompleted(EventPayload):
    event_type = "SupervisionActionCompleted"
    action_id: UUID
    supervision_id: UUID
    completed_at: datetime


@catalogue.register
class SupervisionActionCancelled(EventPayload):
    event_type = "SupervisionActionCancelled"
    action_id: UUID
    supervision_id: UUID
    cancelled_at: datetime
