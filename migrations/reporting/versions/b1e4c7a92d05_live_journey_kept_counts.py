"""live journey kept counts

The handovers report's live journeys (open and without a named worker) counted per London month of
the first contact, day their open spell began, completed working days and day of the origin of
their unallocated time (rpt_journey_live_days), with that origin on each journey
(rpt_journeys.unallocated_origin_us) and the live journeys' index on it. The projection derives
these from every journey, so the projections are emptied and their feed positions set to 0: the
consumers replay both feeds on start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: b1e4c7a92d05
Revises: a7d3f5c19e42
Create Date: 2026-12-02 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b1e4c7a92d05"
down_revision: str | None = "a7d3f5c19e42"
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
    "rpt_supervision_days",
    "rpt_supervision_overdue",
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
        "rpt_journey_live_days",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("since_day", sa.Integer(), nullable=False),
        sa.Column("closed_days", sa.Integer(), nullable=False),
        sa.Column("origin_day", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("sum_closed_us", sa.BigInteger(), nullable=False),
        sa.Column("sum_since_offset_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month", "since_day", "closed_days", "origin_day", name=op.f("pk_rpt_journey_live_days")
        ),
    )
    with op.batch_alter_table("rpt_journeys") as batch:
        batch.add_column(sa.Column("unallocated_origin_us", sa.BigInteger(), nullable=True))
    op.drop_index("ix_rpt_journeys_live", table_name="rpt_journeys")
    op.create_index(
        "ix_rpt_journeys_live",
        "rpt_journeys",
        ["unallocated_origin_us"],
        unique=False,
        postgresql_include=[
            "opened_at",
            "unallocated_since_us",
            "unallocated_since_day",
            "unallocated_hours_closed",
            "unallocated_working_days_closed",
        ],
        postgresql_where=sa.text(LIVE_JOURNEY),
        sqlite_where=sa.text(LIVE_JOURNEY),
    )
    op.create_index(
        "ix_rpt_journeys_live_since",
        "rpt_journeys",
        ["unallocated_since_day"],
        unique=False,
        postgresql_where=sa.text(LIVE_JOURNEY),
        sqlite_where=sa.text(LIVE_JOURNEY),
    )


def downgrade() -> None:
    op.drop_index("ix_rpt_journeys_live_since", table_name="rpt_journeys")
    op.drop_index("ix_rpt_journeys_live", table_name="rpt_journeys")
    with op.batch_alter_table("rpt_journeys") as batch:
        batch.drop_column("unallocated_origin_us")
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
    op.drop_table("rpt_journey_live_days")
