"""newly-qualified register entries published on the feed

The register's changes are now published (NewlyQualifiedRegisterSet, one stream per worker's entry,
appended with every PUT /workers/{id}), so that reporting measures never-supervised journeys
against the interval this service gives them. Entries made before this revision were never
published, and reporting would go on taking the longer interval for their workers' journeys: this
appends one event per existing entry, as it now stands (its end date, or null when ended), at version
1 of the entry's stream, occurred when the entry was last set and by whom. Earlier values of an entry
are not kept anywhere, so none can be published; the current one is what both services apply.

Self-contained: the stream namespace, the event's shape and the envelope hash (shared/events/log.py,
the published contract `frontdoor verify` checks) are written out here, as at this revision.

Revision ID: e5b1c9d04f27
Revises: 7aaac5a4eb86
Create Date: 2026-12-06 08:00:00.000000
"""

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import shared.types

revision: str = "e5b1c9d04f27"
down_revision: str | None = "7aaac5a4eb86"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REGISTER_STREAMS = uuid.UUID("8404ee09-6667-4d4b-8715-02de89182711")
APPEND_LOCK_KEY = 7_204_113_901  # the append lock of shared/events/log.py: gap-safe positions

workers = sa.table(
    "workers",
    sa.column("worker_id", sa.String()),
    sa.column("newly_qualified_until", sa.Date()),
    sa.column("updated_at", shared.types.UTCDateTime(timezone=True)),
    sa.column("updated_by", sa.String()),
)
events = sa.table(
    "journey_events",
    sa.column("event_id", sa.Uuid()),
    sa.column("type", sa.String()),
    sa.column("schema_version", sa.Integer()),
    sa.column("journey_id", sa.Uuid()),
    sa.column("stream_version", sa.Integer()),
    sa.column("occurred_at", shared.types.UTCDateTime(timezone=True)),
    sa.column("recorded_at", shared.types.UTCDateTime(timezone=True)),
    sa.column("producer", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("correlation_id", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _hash(fields: dict[str, Any]) -> str:
    """shared.events.log.envelope_hash of a stream's first event (no previous hash)."""
    doc = {
        "event_id": str(fields["event_id"]),
        "type": fields["type"],
        "schema_version": fields["schema_version"],
        "journey_id": str(fields["journey_id"]),
        "stream_version": fields["stream_version"],
        "occurred_at": fields["occurred_at"].isoformat(timespec="microseconds"),
        "recorded_at": fields["recorded_at"].isoformat(timespec="microseconds"),
        "producer": fields["producer"],
        "actor": fields["actor"],
        "correlation_id": fields["correlation_id"],
        "payload": fields["payload"],
        "prev_hash": None,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
    published = {
        row[0]
        for row in bind.execute(
            sa.select(events.c.journey_id).where(events.c.type == "NewlyQualifiedRegisterSet").distinct()
        )
    }
    recorded_at = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    entries = bind.execute(
        sa.select(
            workers.c.worker_id, workers.c.newly_qualified_until, workers.c.updated_at, workers.c.updated_by
        ).order_by(workers.c.worker_id)
    )
    for worker_id, until, updated_at, updated_by in entries:
        stream = uuid.uuid5(REGISTER_STREAMS, worker_id)
        if stream in published:
            continue
        fields: dict[str, Any] = {
            "event_id": uuid.uuid4(),
            "type": "NewlyQualifiedRegisterSet",
            "schema_version": 1,
            "journey_id": stream,
            "stream_version": 1,
            "occurred_at": updated_at,
            "recorded_at": recorded_at,
            "producer": "supervision",
            "actor": updated_by,
            "correlation_id": None,
            "payload": {
                "worker_id": worker_id,
                "newly_qualified_until": None if until is None else until.isoformat(),
            },
        }
        rows.append({**fields, "prev_hash": None, "hash": _hash(fields)})
    if rows:
        bind.execute(sa.insert(events), rows)


def downgrade() -> None:
    pass  # the events stay: a published event is never taken back (older code skips the type)
