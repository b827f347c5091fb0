"""contact durations per key

The contact-to-outcome durations counted per London month and grouping key (area, team, source,
outcome: rpt_contact_duration_key_months, and in bands of ten values,
rpt_contact_duration_key_bands), so that the percentiles by key over whole months are read from
counts, not by sorting the contacts. The projection derives them from every contact, so the
projections are emptied and their feed positions set to 0: the consumers replay both feeds on
start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: d9f3a5b72c4e
Revises: c8e2f4a61b39
Create Date: 2026-12-02 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d9f3a5b72c4e"
down_revision: str | None = "c8e2f4a61b39"
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
        "rpt_contact_duration_key_months",
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dimension", "metric", "key", "value", "month", name=op.f("pk_rpt_contact_duration_key_months")
        ),
    )
    op.create_table(
        "rpt_contact_duration_key_bands",
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dimension", "month", "metric", "key", "band", name=op.f("pk_rpt_contact_duration_key_bands")
        ),
    )


def downgrade() -> None:
    op.drop_table("rpt_contact_duration_key_bands")
    op.drop_table("rpt_contact_duration_key_months")
