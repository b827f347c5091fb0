"""contact durations per day

The contact-to-outcome durations counted per London day (rpt_contact_duration_days, and in bands of
ten values, rpt_contact_duration_day_bands), so that a range covering a month in part reads its
edge days' counts, not their contacts. The projection derives them from every contact, so the
projections are emptied and their feed positions set to 0: the consumers replay both feeds on
start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: c8e2f4a61b39
Revises: b1e4c7a92d05
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c8e2f4a61b39"
down_revision: str | None = "b1e4c7a92d05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Listed here rather than imported (as in f3e61638657c): a migration must not change when later code does.
PROJECTION_TABLES = (
    "rpt_contacts",
    "rpt_decisions",
    "rpt_journeys",
    "rpt_allocations",
    "rpt_supervisions",
    "rpt_contact_days",
    "rpt_contact_duration_months",
    "rpt_contact_duration_bands",
    "rpt_journey_months",
    "rpt_journey_month_values",
    "rpt_journey_month_bands",
    "rpt_journey_month_reasons",
    "rpt_journey_live_days",
    "rpt_supervision_days",
    "rpt_supervision_overdue",
    "rpt_timeline",
    "rpt_feed_state",
)


def upgrade() -> None:
    for table in PROJECTION_TABLES:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.execute(
        sa.text("UPDATE consumer_positions SET position = 0 WHERE feed IN ('referrals', 'supervision')")
    )
    op.create_table(
        "rpt_contact_duration_days",
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "value", "day", name=op.f("pk_rpt_contact_duration_days")),
    )
    op.create_table(
        "rpt_contact_duration_day_bands",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", "band", name=op.f("pk_rpt_contact_duration_day_bands")),
    )


def downgrade() -> None:
    op.drop_table("rpt_contact_duration_day_bands")
    op.drop_table("rpt_contact_duration_days")
