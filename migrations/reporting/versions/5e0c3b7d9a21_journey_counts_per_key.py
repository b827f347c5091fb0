"""journey counts per key: the handovers report's kept counts for each area, team, source and outcome

The handovers report kept its figures of journeys per London month of the first contact only, so
grouped by area, team, source or outcome it read every journey in range (1.8 s at 1.2 M contacts).
Each of its five kept tables (rpt_journey_months, rpt_journey_month_values,
rpt_journey_month_bands, rpt_journey_month_reasons, rpt_journey_live_days) now has a `dimension`
and `key` in its primary key: `all`/`ALL` for the whole, as before, and a row per key of each
grouping, as rpt_contact_days has.

The tables are made anew (their keys change), and the counts per key must take in every journey,
so, as in 091fd86f0724, the projections are emptied and their feed positions set to 0: the consumers
replay both feeds on start-up, as `frontdoor rebuild -s reporting` would.

Revision ID: 5e0c3b7d9a21
Revises: 091fd86f0724
Create Date: 2026-12-06 15:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "5e0c3b7d9a21"
down_revision: str | None = "091fd86f0724"
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
    "rpt_supervision_days",
    "rpt_supervision_overdue",
    "rpt_timeline",
    "rpt_feed_state",
)
JOURNEY_TABLES = (
    "rpt_journey_months",
    "rpt_journey_month_values",
    "rpt_journey_month_bands",
    "rpt_journey_month_reasons",
    "rpt_journey_live_days",
)


def _replay() -> None:
    for table in PROJECTION_TABLES:
        op.execute(sa.text(f"DELETE FROM {table}"))
    # The hash of the last event applied goes with the position (as a rebuild resets both).
    op.execute(
        sa.text(
            "UPDATE consumer_positions SET position = 0, last_hash = NULL"
            " WHERE feed IN ('referrals', 'supervision')"
        )
    )
    for table in JOURNEY_TABLES:
        op.drop_table(table)


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _create(keyed: bool) -> None:
    """The five tables, with (keyed) or without the grouping's dimension and key."""
    by = ["dimension", "key"] if keyed else []

    def columns() -> list[sa.Column[str]]:
        # New objects for each table: a column belongs to one.
        if not keyed:
            return []
        return [
            sa.Column("dimension", _text(10), nullable=False),
            sa.Column("key", _text(80), nullable=False),
        ]

    op.create_table(
        "rpt_journey_months",
        *columns(),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("sum_settled_unallocated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*by, "month", name=op.f("pk_rpt_journey_months")),
    )
    op.create_table(
        "rpt_journey_month_values",
        sa.Column("metric", _text(40), nullable=False),
        *columns(),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("metric", *by, "value", "month", name=op.f("pk_rpt_journey_month_values")),
    )
    bands = ("metric", *by, "month", "band") if keyed else ("month", "metric", "band")
    op.create_table(
        "rpt_journey_month_bands",
        sa.Column("metric", _text(40), nullable=False),
        *columns(),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*bands, name=op.f("pk_rpt_journey_month_bands")),
    )
    op.create_table(
        "rpt_journey_month_reasons",
        *columns(),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("reason", _text(20), nullable=False),
        sa.Column("handovers", sa.Integer(), nullable=False),
        sa.Column("team_transfers", sa.Integer(), nullable=False),
        sa.Column("worker_changes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*by, "month", "reason", name=op.f("pk_rpt_journey_month_reasons")),
    )
    op.create_table(
        "rpt_journey_live_days",
        *columns(),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("since_day", sa.Integer(), nullable=False),
        sa.Column("closed_days", sa.Integer(), nullable=False),
        sa.Column("origin_day", sa.Integer(), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("sum_closed_us", sa.BigInteger(), nullable=False),
        sa.Column("sum_since_offset_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            *by, "month", "since_day", "closed_days", "origin_day", name=op.f("pk_rpt_journey_live_days")
        ),
    )


def upgrade() -> None:
    _replay()
    _create(keyed=True)


def downgrade() -> None:
    # The older code's counts come back by the same replay.
    _replay()
    _create(keyed=False)
