"""contact counts per London month and key

The conversion and contact-to-outcome counts kept per London month and grouping key
(rpt_contact_months), so that a range reads a row per month and key for the months it covers whole,
not a row per day. A month's counts are the sum of its days' (rpt_contact_days), so they are filled
from those here: no replay of the feeds.

Revision ID: 5c1e8a3f9d27
Revises: 9ee92a08cf45
Create Date: 2026-12-07 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "5c1e8a3f9d27"
down_revision: str | None = "9ee92a08cf45"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# rpt_contact_days' counts (and the new table's), in its order.
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
    "first_decided",
    "backdated",
    "with_superseded_decision",
    "decided_within_timescale",
    "authorised",
    "awaiting_authorisation",
)
SUMS = (
    "sum_decision_working_hours_us",
    "sum_decision_working_days",
    "sum_decision_calendar_hours_us",
    "sum_authorisation_working_hours_us",
    "sum_authorisation_working_days",
    "sum_authorisation_calendar_hours_us",
)


def upgrade() -> None:
    op.create_table(
        "rpt_contact_months",
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        *(
            sa.Column(name, sa.BigInteger() if name.endswith("_us") else sa.Integer(), nullable=False)
            for name in SUMS
        ),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("month", "dimension", "key", name=op.f("pk_rpt_contact_months")),
    )
    if op.get_bind().dialect.name == "postgresql":
        month = "date_trunc('month', day)::date"
    else:
        month = "date(day, 'start of month')"
    columns = (*COUNTS, *SUMS)
    names, sums = ", ".join(columns), ", ".join(f"sum({c})" for c in columns)
    # A key left at zeros on every day of a month (its contacts moved to another) counts nothing.
    op.execute(
        sa.text(
            f"INSERT INTO rpt_contact_months (month, dimension, key, {names}) "
            f"SELECT {month}, dimension, key, {sums} FROM rpt_contact_days "
            f"GROUP BY {month}, dimension, key HAVING " + " OR ".join(f"sum({c}) != 0" for c in columns)
        )
    )


def downgrade() -> None:
    op.drop_table("rpt_contact_months")
