"""decisions: late_reason, why a contact's first decision came after its T1 deadline

Revision ID: 8b4d2f6e1a93
Revises: 3c1e7a9d2b60
Create Date: 2026-12-06 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b4d2f6e1a93"
down_revision: str | None = "3c1e7a9d2b60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Decisions recorded before this keep none: nobody was asked then.
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("late_reason")
