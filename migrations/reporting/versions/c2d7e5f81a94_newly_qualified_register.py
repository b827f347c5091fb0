"""newly-qualified register: a never-supervised journey's interval as the supervision service's

The supervision service now publishes its newly-qualified register (NewlyQualifiedRegisterSet, one
stream per worker's entry), and a journey never supervised is due at the newly-qualified interval
when its current worker's entry covers the day it started, as in the supervision service's due
list. Reporting keeps the register (rpt_newly_qualified) and each journey's current worker
(rpt_journeys.current_worker_id, from its allocations).

The current worker of the journeys already projected, and the counts kept from them, can only come
from the events, so, as in ed88f9f9216a, the projections are emptied and their feed positions set
to 0: the consumers replay both feeds on start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: c2d7e5f81a94
Revises: ed88f9f9216a
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c2d7e5f81a94"
down_revision: str | None = "ed88f9f9216a"
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
    op.execute(
        sa.text("UPDATE consumer_positions SET position = 0 WHERE feed IN ('referrals', 'supervision')")
    )
    with op.batch_alter_table("rpt_journeys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("current_worker_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_rpt_journeys_current_worker_id"), ["current_worker_id"], unique=False
        )
    op.create_table(
        "rpt_newly_qualified",
        sa.Column("worker_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("newly_qualified_until", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_rpt_newly_qualified")),
    )


def downgrade() -> None:
    op.drop_table("rpt_newly_qualified")
    with op.batch_alter_table("rpt_journeys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rpt_journeys_current_worker_id"))
        batch_op.drop_column("current_worker_id")
    # The older code's counts come back with `frontdoor rebuild -s reporting`.
