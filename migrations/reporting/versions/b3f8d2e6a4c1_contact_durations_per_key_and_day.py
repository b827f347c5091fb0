"""contact durations per key and day

The contact-to-outcome durations counted per London day and grouping key (area, team, source,
outcome: rpt_contact_duration_key_days, and in bands of ten values,
rpt_contact_duration_key_day_bands), so that the report by a key over a range that covers a month
in part reads that month's edge days from counts, not from the contacts received on them. The
projection derives them from every contact, and the London day of a contact cannot be worked out
in SQLite's SQL, so, as in d9f3a5b72c4e, the projections are emptied and their feed positions set
to 0: the consumers replay both feeds on start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: b3f8d2e6a4c1
Revises: e7c1a4f0b2d8
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b3f8d2e6a4c1"
down_revision: str | None = "e7c1a4f0b2d8"
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
    "rpt_contact_duration_days",
    "rpt_contact_duration_day_bands",
    "rpt_contact_duration_weeks",
    "rpt_contact_duration_week_bands",
    "rpt_contact_duration_key_months",
    "rpt_contact_duration_key_bands",
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
        "rpt_contact_duration_key_days",
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dimension", "day", "metric", "key", "value", name=op.f("pk_rpt_contact_duration_key_days")
        ),
    )
    op.create_table(
        "rpt_contact_duration_key_day_bands",
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dimension", "day", "metric", "key", "band", name=op.f("pk_rpt_contact_duration_key_day_bands")
        ),
    )


def downgrade() -> None:
    op.drop_table("rpt_contact_duration_key_day_bands")
    op.drop_table("rpt_contact_duration_key_days")
