"""contact durations per week

The contact-to-outcome durations counted per ISO week (rpt_contact_duration_weeks, and in bands of
ten values, rpt_contact_duration_week_bands), so that the report by week reads a week's counts,
not its seven days'. A week's counts are the sums of its days' (rpt_contact_duration_days and
_day_bands, kept since c8e2f4a61b39), so they are filled from those here: no replay of the feeds.

Revision ID: e7c1a4f0b2d8
Revises: d9f3a5b72c4e
Create Date: 2026-12-04 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e7c1a4f0b2d8"
down_revision: str | None = "d9f3a5b72c4e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rpt_contact_duration_weeks",
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("metric", "value", "week", name=op.f("pk_rpt_contact_duration_weeks")),
    )
    op.create_table(
        "rpt_contact_duration_week_bands",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", "metric", "band", name=op.f("pk_rpt_contact_duration_week_bands")),
    )
    # The Monday of each day's ISO week (SQLite's %w: 0 is Sunday).
    if op.get_bind().dialect.name == "postgresql":
        monday = "(day - (extract(isodow FROM day)::int - 1))"
    else:
        monday = "date(day, '-' || ((CAST(strftime('%w', day) AS INTEGER) + 6) % 7) || ' days')"
    for weeks, column, days in (
        ("rpt_contact_duration_weeks", "value", "rpt_contact_duration_days"),
        ("rpt_contact_duration_week_bands", "band", "rpt_contact_duration_day_bands"),
    ):
        op.execute(
            sa.text(
                f"INSERT INTO {weeks} (metric, {column}, week, contacts) "
                f"SELECT metric, {column}, {monday}, sum(contacts) FROM {days} "
                f"GROUP BY metric, {column}, {monday} HAVING sum(contacts) != 0"
            )
        )


def downgrade() -> None:
    op.drop_table("rpt_contact_duration_week_bands")
    op.drop_table("rpt_contact_duration_weeks")
