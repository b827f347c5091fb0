"""undecided contacts index

The awaiting-decision report reads the contacts not decided yet: a partial index on received_at
for them, covering the columns the report groups and counts by (PostgreSQL: an index-only scan of
the queue, not a visit to each waiting contact's row).

Revision ID: d4a7e91b3c60
Revises: c5d81e0f2a37
Create Date: 2026-11-27 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4a7e91b3c60"
down_revision: str | None = "c5d81e0f2a37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rpt_contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rpt_contacts_undecided",
            ["received_at"],
            unique=False,
            postgresql_include=["team_id", "area", "source", "decision_due_at"],
            postgresql_where=sa.text("first_decided_at IS NULL"),
            sqlite_where=sa.text("first_decided_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("rpt_contacts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_rpt_contacts_undecided",
            postgresql_where=sa.text("first_decided_at IS NULL"),
            sqlite_where=sa.text("first_decided_at IS NULL"),
        )
