"""contact days for conversion

The conversion report's counts kept per London day and grouping key (rpt_contact_days), and each
contact's re-referral flag. Both are derived by the projection code from every contact of a child,
so the projections are emptied and their feed positions set to 0: the consumers replay both feeds
on start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: c5d81e0f2a37
Revises: b7c4e2a91d05
Create Date: 2026-11-27 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c5d81e0f2a37"
down_revision: str | None = "b7c4e2a91d05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Listed here rather than imported (as in f3e61638657c): a migration must not change when later code does.
PROJECTION_TABLES = (
    "rpt_contacts",
    "rpt_decisions",
    "rpt_journeys",
    "rpt_allocations",
    "rpt_supervisions",
    "rpt_timeline",
    "rpt_feed_state",
)
COUNTS = (
    "contacts",
    "repeat_contacts",
    "decided",
    "nfa",
    "info_advice",
    "early_help",
    "cin_assessment",
    "strategy_s47",
    "existing_open_case",
    "other",
    "referrals",
    "re_referrals",
)


def upgrade() -> None:
    for table in PROJECTION_TABLES:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.execute(
        sa.text("UPDATE consumer_positions SET position = 0 WHERE feed IN ('referrals', 'supervision')")
    )
    op.create_table(
        "rpt_contact_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        sa.PrimaryKeyConstraint("day", "dimension", "key", name=op.f("pk_rpt_contact_days")),
    )
    with op.batch_alter_table("rpt_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("re_referral", sa.Boolean(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("rpt_contacts", schema=None) as batch_op:
        batch_op.drop_column("re_referral")
    op.drop_table("rpt_contact_days")
