"""standard transfer lag: the first TSPROC team transfer of each journey and its lag

The handovers report gives the front-door -> long-term team transfer lag: each journey's first
handover coded TSPROC that changed the team (rpt_journeys.standard_transfer_at), its lag from the
first contact in statutory working days and in hundredths of a day (standard_transfer_working_days,
standard_transfer_hundredths), and those lags counted per London month of the first contact in
rpt_journey_month_values and rpt_journey_month_bands (metrics standard_transfer_working_days and
standard_transfer_days).

The lag needs the statutory calendar and each journey's handovers in effective order, and the
counts kept per month must take every journey's lag in, so, as in c2d7e5f81a94, the projections are
emptied and their feed positions set to 0: the consumers replay both feeds on start-up, as
`frontdoor rebuild -s reporting` would, and fill the new columns and counts.

Revision ID: 091fd86f0724
Revises: f6b2d8a4c913
Create Date: 2026-12-06 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "091fd86f0724"
down_revision: str | None = "f6b2d8a4c913"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Listed here rather than imported (as in f3e61638657c): a migration must not change when later code does.
PROJECTION_TABLES = (
    "rpt_contacts",
    "rpt_decisions",
    "rpt_journeys",
    "rpt_allocations",
    "rpt_supervisions",
    "rpt_newly_qualified",
    "rpt_contact_days",
    "rpt_contact_duration_months",
    "rpt_contact_duration_bands",
    "rpt_contact_duration_days",
    "rpt_contact_duration_day_bands",
    "rpt_contact_duration_weeks",
    "rpt_contact_duration_week_bands",
    "rpt_contact_duration_key_months",
    "rpt_contact_duration_key_bands",
    "rpt_contact_duration_key_days",
    "rpt_contact_duration_key_day_bands",
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
    # The hash of the last event applied goes with the position (as a rebuild resets both).
    op.execute(
        sa.text(
            "UPDATE consumer_positions SET position = 0, last_hash = NULL"
            " WHERE feed IN ('referrals', 'supervision')"
        )
    )
    with op.batch_alter_table("rpt_journeys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("standard_transfer_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("standard_transfer_working_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("standard_transfer_hundredths", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rpt_journeys", schema=None) as batch_op:
        batch_op.drop_column("standard_transfer_hundredths")
        batch_op.drop_column("standard_transfer_working_days")
        batch_op.drop_column("standard_transfer_at")
    # The older code's counts (without the lag's) come back with `frontdoor rebuild -s reporting`.
