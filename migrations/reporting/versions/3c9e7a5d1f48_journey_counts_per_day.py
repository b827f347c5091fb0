"""journey counts per day: the handovers report's kept counts per London day of the first contact

The handovers report kept its figures of journeys per London month of the first contact (for the
whole and per key), so over a range that is not whole months it read every journey in range (1.5 to
2 s at 1.2 M contacts). Five tables keep the same counts per London day: rpt_journey_days,
rpt_journey_day_values, rpt_journey_day_bands, rpt_journey_day_reasons and rpt_journey_live_by_day,
from which a range's partial edge months take their days, as contact to outcome's durations do.

The projection derives them from every journey, and the London day of a journey's first contact
cannot be worked out in SQLite's SQL, so, as in 5e0c3b7d9a21, the projections are emptied and their
feed positions set to 0: the consumers replay both feeds on start-up, as `frontdoor rebuild -s
reporting` would.

Revision ID: 3c9e7a5d1f48
Revises: 5e0c3b7d9a21
Create Date: 2026-12-06 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "3c9e7a5d1f48"
down_revision: str | None = "5e0c3b7d9a21"
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
DAY_TABLES = (
    "rpt_journey_days",
    "rpt_journey_day_values",
    "rpt_journey_day_bands",
    "rpt_journey_day_reasons",
    "rpt_journey_live_by_day",
)


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _keys() -> list[sa.Column[str]]:
    # New objects for each table: a column belongs to one.
    return [
        sa.Column("dimension", _text(10), nullable=False),
        sa.Column("key", _text(80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
    ]


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
        "rpt_journey_days",
        *_keys(),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("sum_settled_unallocated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "key", "day", name=op.f("pk_rpt_journey_days")),
    )
    op.create_table(
        "rpt_journey_day_values",
        sa.Column("metric", _text(40), nullable=False),
        *_keys(),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "metric", "dimension", "key", "day", "value", name=op.f("pk_rpt_journey_day_values")
        ),
    )
    op.create_table(
        "rpt_journey_day_bands",
        sa.Column("metric", _text(40), nullable=False),
        *_keys(),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "metric", "dimension", "key", "day", "band", name=op.f("pk_rpt_journey_day_bands")
        ),
    )
    op.create_table(
        "rpt_journey_day_reasons",
        *_keys(),
        sa.Column("reason", _text(20), nullable=False),
        sa.Column("handovers", sa.Integer(), nullable=False),
        sa.Column("team_transfers", sa.Integer(), nullable=False),
        sa.Column("worker_changes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "key", "day", "reason", name=op.f("pk_rpt_journey_day_reasons")),
    )
    op.create_table(
        "rpt_journey_live_by_day",
        *_keys(),
        sa.Column("since_day", sa.Integer(), nullable=False),
        sa.Column("closed_days", sa.Integer(), nullable=False),
        sa.Column("origin_day", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("sum_closed_us", sa.BigInteger(), nullable=False),
        sa.Column("sum_since_offset_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dimension",
            "key",
            "day",
            "since_day",
            "closed_days",
            "origin_day",
            name=op.f("pk_rpt_journey_live_by_day"),
        ),
    )


def downgrade() -> None:
    # The month tables are as they were: the older code reads them, and these only took counts in.
    for table in DAY_TABLES:
        op.drop_table(table)
