"""handovers kept counts

The handovers report's figures of journeys kept per London month of the first contact
(rpt_journey_months, rpt_journey_month_values, rpt_journey_month_bands, rpt_journey_month_reasons),
and an index of the live journeys (open and without a named worker), whose unallocated time the
report reads at request time. The projection derives the counts from every journey, so the
projections are emptied and their feed positions set to 0: the consumers replay both feeds on
start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: a6d3f0c81b27
Revises: e2b9c4d7a813
Create Date: 2026-12-02 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "a6d3f0c81b27"
down_revision: str | None = "e2b9c4d7a813"
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
    "rpt_timeline",
    "rpt_feed_state",
)
LIVE_JOURNEY = "unallocated_since_us IS NOT NULL AND closed_at IS NULL"


def upgrade() -> None:
    for table in PROJECTION_TABLES:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.execute(
        sa.text("UPDATE consumer_positions SET position = 0 WHERE feed IN ('referrals', 'supervision')")
    )
    op.create_table(
        "rpt_journey_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("sum_settled_unallocated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_rpt_journey_months")),
    )
    op.create_table(
        "rpt_journey_month_values",
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "value", "month", name=op.f("pk_rpt_journey_month_values")),
    )
    op.create_table(
        "rpt_journey_month_bands",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "metric", "band", name=op.f("pk_rpt_journey_month_bands")),
    )
    op.create_table(
        "rpt_journey_month_reasons",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("handovers", sa.Integer(), nullable=False),
        sa.Column("team_transfers", sa.Integer(), nullable=False),
        sa.Column("worker_changes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "reason", name=op.f("pk_rpt_journey_month_reasons")),
    )
    op.create_index(
        "ix_rpt_journeys_live",
        "rpt_journeys",
        ["opened_at"],
        unique=False,
        postgresql_include=[
            "unallocated_since_us",
            "unallocated_since_day",
            "unallocated_hours_closed",
            "unallocated_working_days_closed",
        ],
        postgresql_where=sa.text(LIVE_JOURNEY),
        sqlite_where=sa.text(LIVE_JOURNEY),
    )


def downgrade() -> None:
    op.drop_index("ix_rpt_journeys_live", table_name="rpt_journeys")
    op.drop_table("rpt_journey_month_reasons")
    op.drop_table("rpt_journey_month_bands")
    op.drop_table("rpt_journey_month_values")
    op.drop_table("rpt_journey_months")
