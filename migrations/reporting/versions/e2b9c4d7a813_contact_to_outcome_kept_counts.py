"""contact to outcome kept counts

The contact-to-outcome counts and duration sums kept per London day and grouping key (new columns
of rpt_contact_days), and its durations counted per London month (rpt_contact_duration_months,
and in bands of ten values, rpt_contact_duration_bands).
The projection derives both from every contact, so the projections are emptied and their feed
positions set to 0: the consumers replay both feeds on start-up, as `frontdoor rebuild -s
reporting` would.

Revision ID: e2b9c4d7a813
Revises: d4a7e91b3c60
Create Date: 2026-11-28 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e2b9c4d7a813"
down_revision: str | None = "d4a7e91b3c60"
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
    "rpt_timeline",
    "rpt_feed_state",
)
COUNTS = (
    "first_decided",
    "backdated",
    "with_superseded_decision",
    "decided_within_timescale",
    "authorised",
    "awaiting_authorisation",
    "sum_decision_working_days",
    "sum_authorisation_working_days",
)
MICROSECOND_SUMS = (
    "sum_decision_working_hours_us",
    "sum_decision_calendar_hours_us",
    "sum_authorisation_working_hours_us",
    "sum_authorisation_calendar_hours_us",
)


def upgrade() -> None:
    for table in PROJECTION_TABLES:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.execute(
        sa.text("UPDATE consumer_positions SET position = 0 WHERE feed IN ('referrals', 'supervision')")
    )
    with op.batch_alter_table("rpt_contact_days", schema=None) as batch_op:
        for name in COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        for name in MICROSECOND_SUMS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "rpt_contact_duration_months",
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "value", "month", name=op.f("pk_rpt_contact_duration_months")),
    )
    op.create_table(
        "rpt_contact_duration_bands",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "metric", "band", name=op.f("pk_rpt_contact_duration_bands")),
    )


def downgrade() -> None:
    op.drop_table("rpt_contact_duration_bands")
    op.drop_table("rpt_contact_duration_months")
    with op.batch_alter_table("rpt_contact_days", schema=None) as batch_op:
        for name in (*MICROSECOND_SUMS, *COUNTS):
            batch_op.drop_column(name)
