"""The journey events the supervision service publishes: coded and pseudonymous, no free text.

The stream is the journey (the id the referrals service gave it); discussion and decisions stay here.
The newly-qualified register's events belong to no journey: each worker's entry is a stream of its
own (`register_stream`), so the entry has its own versions and hash chain, as a journey has.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID, uuid5

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


# The namespace of the register's streams (fixed: changing it would split every entry's chain).
REGISTER_STREAMS = UUID("8404ee09-6667-4d4b-8715-02de89182711")


def register_stream(worker_id: str) -> UUID:
    """The stream of a worker's newly-qualified register entry (a name-based UUID of the staff id)."""
    return uuid5(REGISTER_STREAMS, worker_id)


@catalogue.register
class NewlyQualifiedRegisterSet(EventPayload):
    """A worker's entry on the newly-qualified register set, changed or ended (null): reporting
    measures never-supervised journeys against the interval the supervision service gives them."""

    event_type = "NewlyQualifiedRegisterSet"
    worker_id: str
    newly_qualified_until: date | None
