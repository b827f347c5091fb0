"""supervisions keep the policy interval of their due date

Revision ID: 7aaac5a4eb86
Revises: 40aa12f38a68
Create Date: 2026-12-06 05:19:20.268664
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7aaac5a4eb86"
down_revision: str | None = "40aa12f38a68"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: supervisions recorded before this revision show the interval their policy due date
    # gives (the calendar is a setting, which a migration does not read).
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interval_working_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.drop_column("interval_working_days")
