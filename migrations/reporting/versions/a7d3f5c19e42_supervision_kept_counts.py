"""supervision kept counts

The supervision report's counts kept per London day and grouping key (rpt_supervision_days), and
each journey's overdue spells for its overdue list (rpt_supervision_overdue).
The projection derives both from every journey and supervision, so the projections are emptied and
their feed positions set to 0: the consumers replay both feeds on start-up, as `frontdoor rebuild
-s reporting` would.

Revision ID: a7d3f5c19e42
Revises: a6d3f0c81b27
Create Date: 2026-12-02 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.types

revision: str = "a7d3f5c19e42"
down_revision: str | None = "a6d3f0c81b27"
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
        "rpt_supervision_days",
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("open_journeys", sa.Integer(), nullable=False),
        sa.Column("supervised", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "day", "key", name=op.f("pk_rpt_supervision_days")),
    )
    op.create_table(
        "rpt_supervision_overdue",
        sa.Column("journey_id", sa.Uuid(), nullable=False),
        sa.Column("overdue_from", sa.Date(), nullable=False),
        sa.Column("overdue_until", sa.Date(), nullable=True),
        sa.Column("due_half", sa.Integer(), nullable=False),
        sa.Column("due_tie", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("held_at", shared.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("journey_id", "overdue_from", name=op.f("pk_rpt_supervision_overdue")),
    )
    op.create_index(
        "ix_rpt_supervision_overdue_due",
        "rpt_supervision_overdue",
        ["due_half", "due_tie", "journey_id"],
        unique=False,
        postgresql_include=["overdue_from", "overdue_until", "due_on", "held_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_rpt_supervision_overdue_due", table_name="rpt_supervision_overdue")
    op.drop_table("rpt_supervision_overdue")
    op.drop_table("rpt_supervision_days")
