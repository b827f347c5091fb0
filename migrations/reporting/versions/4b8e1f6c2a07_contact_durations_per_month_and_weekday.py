"""contact durations per London month and weekday; the day counts keyed by day first

The contact-to-outcome durations counted per London month and weekday
(rpt_contact_duration_weekday_months, and in bands of ten values, rpt_contact_duration_weekday_bands),
so that the report by day of the week reads a month's counts of each weekday, not every day's of the
range. A month and weekday's counts are the sums of its days' (rpt_contact_duration_days and
_day_bands), so they are filled from those here: no replay of the feeds.

With that, every reading of rpt_contact_duration_days takes a few days (a partial edge month or
week), so its primary key becomes (day, metric, value): a band's values on an edge's days are then a
range of the key per day, not one over every day kept.

Revision ID: 4b8e1f6c2a07
Revises: 7d2f9b4e6a13
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "4b8e1f6c2a07"
down_revision: str | None = "7d2f9b4e6a13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rpt_contact_duration_weekday_months",
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "metric", "value", "month", "weekday", name=op.f("pk_rpt_contact_duration_weekday_months")
        ),
    )
    op.create_table(
        "rpt_contact_duration_weekday_bands",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month", "weekday", "metric", "band", name=op.f("pk_rpt_contact_duration_weekday_bands")
        ),
    )
    # Each day's month and weekday, 0 Monday .. 6 Sunday (SQLite's %w: 0 is Sunday).
    if op.get_bind().dialect.name == "postgresql":
        month, weekday = "date_trunc('month', day)::date", "(extract(isodow FROM day)::int - 1)"
    else:
        month, weekday = "date(day, 'start of month')", "((CAST(strftime('%w', day) AS INTEGER) + 6) % 7)"
    for kept, column, days in (
        ("rpt_contact_duration_weekday_months", "value", "rpt_contact_duration_days"),
        ("rpt_contact_duration_weekday_bands", "band", "rpt_contact_duration_day_bands"),
    ):
        op.execute(
            sa.text(
                f"INSERT INTO {kept} (metric, {column}, month, weekday, contacts) "
                f"SELECT metric, {column}, {month}, {weekday}, sum(contacts) FROM {days} "
                f"GROUP BY metric, {column}, {month}, {weekday} HAVING sum(contacts) != 0"
            )
        )

    _key_days_by("day", "metric", "value")


def _key_days_by(*columns: str) -> None:
    """Make `columns` rpt_contact_duration_days' primary key, in that order, keeping its rows."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE rpt_contact_duration_days DROP CONSTRAINT pk_rpt_contact_duration_days, "
            f"ADD CONSTRAINT pk_rpt_contact_duration_days PRIMARY KEY ({', '.join(columns)})"
        )
        return
    # SQLite cannot alter a primary key: the table is made anew with it and its rows copied.
    keyed = sa.Table(
        "rpt_contact_duration_days",
        sa.MetaData(),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*columns, name="pk_rpt_contact_duration_days"),
    )
    with op.batch_alter_table("rpt_contact_duration_days", copy_from=keyed, recreate="always"):
        pass


def downgrade() -> None:
    _key_days_by("metric", "value", "day")
    op.drop_table("rpt_contact_duration_weekday_bands")
    op.drop_table("rpt_contact_duration_weekday_months")
