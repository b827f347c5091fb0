"""latest supervision index

The supervision report joins every open journey to its latest supervision: an index on
(journey_id, held_at, supervision_id) covering the due-date columns gives that in index order with
no sort (PostgreSQL: an index-only scan). It replaces the index on journey_id alone.

Revision ID: b7c4e2a91d05
Revises: a1581f496910
Create Date: 2026-11-27 15:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7c4e2a91d05"
down_revision: str | None = "a1581f496910"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rpt_supervisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rpt_supervisions_latest",
            ["journey_id", "held_at", "supervision_id"],
            unique=False,
            postgresql_include=["next_due_on", "next_due_half_day", "due_base_day"],
        )
        batch_op.drop_index("ix_rpt_supervisions_journey_id")


def downgrade() -> None:
    with op.batch_alter_table("rpt_supervisions", schema=None) as batch_op:
        batch_op.create_index("ix_rpt_supervisions_journey_id", ["journey_id"], unique=False)
        batch_op.drop_index("ix_rpt_supervisions_latest")
