"""journey counts per ISO week: the handovers report's kept counts per week of the first contact

Handovers grouped by week read every journey in range (1.4 to 1.7 s at 1.2 M contacts), as no counts
were kept per week. Five tables keep the whole's counts per ISO week of the first contact (London
dates): rpt_journey_weeks, rpt_journey_week_values, rpt_journey_week_bands, rpt_journey_week_reasons
and rpt_journey_live_by_week; a range's partial edge weeks take their days from the day rows.

As in 3c9e7a5d1f48, the projections are emptied and their feed positions set to 0: the consumers
replay both feeds on start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: 7d2f9b4e6a13
Revises: 3c9e7a5d1f48
Create Date: 2026-12-06 19:00:00.000000
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "7d2f9b4e6a13"
down_revision: str | None = "3c9e7a5d1f48"
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
    "rpt_journey_days",
    "rpt_journey_day_values",
    "rpt_journey_day_bands",
    "rpt_journey_day_reasons",
    "rpt_journey_live_by_day",
    "rpt_supervision_days",
    "rpt_supervision_overdue",
    "rpt_timeline",
    "rpt_feed_state",
)
WEEK_TABLES = (
    "rpt_journey_weeks",
    "rpt_journey_week_values",
    "rpt_journey_week_bands",
    "rpt_journey_week_reasons",
    "rpt_journey_live_by_week",
)


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _week() -> sa.Column[date]:
    return sa.Column("week", sa.Date(), nullable=False)


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
    op.create_table(
        "rpt_journey_weeks",
        _week(),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("sum_settled_unallocated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("week", name=op.f("pk_rpt_journey_weeks")),
    )
    op.create_table(
        "rpt_journey_week_values",
        sa.Column("metric", _text(40), nullable=False),
        _week(),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "week", "value", name=op.f("pk_rpt_journey_week_values")),
    )
    op.create_table(
        "rpt_journey_week_bands",
        sa.Column("metric", _text(40), nullable=False),
        _week(),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "week", "band", name=op.f("pk_rpt_journey_week_bands")),
    )
    op.create_table(
        "rpt_journey_week_reasons",
        _week(),
        sa.Column("reason", _text(20), nullable=False),
        sa.Column("handovers", sa.Integer(), nullable=False),
        sa.Column("team_transfers", sa.Integer(), nullable=False),
        sa.Column("worker_changes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", "reason", name=op.f("pk_rpt_journey_week_reasons")),
    )
    op.create_table(
        "rpt_journey_live_by_week",
        _week(),
        sa.Column("since_day", sa.Integer(), nullable=False),
        sa.Column("closed_days", sa.Integer(), nullable=False),
        sa.Column("origin_day", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("sum_closed_us", sa.BigInteger(), nullable=False),
        sa.Column("sum_since_offset_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "week", "since_day", "closed_days", "origin_day", name=op.f("pk_rpt_journey_live_by_week")
        ),
    )


def downgrade() -> None:
    # The month and day tables are as they were: the older code reads them, and these only took
    # counts in.
    for table in WEEK_TABLES:
        op.drop_table(table)
