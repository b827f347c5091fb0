"""decisions: backdated and backdating_reason, as contacts have

Revision ID: 9c5e3a7f2b14
Revises: 8b4d2f6e1a93
Create Date: 2026-12-06 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c5e3a7f2b14"
down_revision: str | None = "8b4d2f6e1a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Decisions recorded before this are not known to be backdated: nobody was asked then.
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backdated", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("backdating_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("backdating_reason")
        batch_op.drop_column("backdated")
