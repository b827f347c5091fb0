"""working-day indices for SQL reports

New derived columns that only the projection code can compute (with the calendar), so the
projections are emptied and their feed positions set to 0: the consumers replay both feeds on
start-up, as `frontdoor rebuild -s reporting` would, and every row gets them.

Revision ID: f3e61638657c
Revises: f198e3768860
Create Date: 2026-11-27 11:50:04.623341
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3e61638657c"
down_revision: str | None = "f198e3768860"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PROJECTION_TABLES = (
    "rpt_contacts",
    "rpt_decisions",
    "rpt_journeys",
    "rpt_allocations",
    "rpt_supervisions",
    "rpt_timeline",
    "rpt_feed_state",
)


def upgrade() -> None:
    for table in PROJECTION_TABLES:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.execute(
        sa.text("UPDATE consumer_positions SET position = 0 WHERE feed IN ('referrals', 'supervision')")
    )
    with op.batch_alter_table("rpt_journeys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unallocated_since_day", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("unallocated_since_us", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("due_base_day", sa.Integer(), nullable=True))

    with op.batch_alter_table("rpt_supervisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_base_day", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("next_due_half_day", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rpt_supervisions", schema=None) as batch_op:
        batch_op.drop_column("next_due_half_day")
        batch_op.drop_column("due_base_day")

    with op.batch_alter_table("rpt_journeys", schema=None) as batch_op:
        batch_op.drop_column("due_base_day")
        batch_op.drop_column("unallocated_since_us")
        batch_op.drop_column("unallocated_since_day")
