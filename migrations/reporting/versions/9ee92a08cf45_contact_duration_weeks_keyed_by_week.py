"""contact durations per week keyed by week before value

Only the contact-to-outcome report by week reads rpt_contact_duration_weeks, and each week wants
the values of its own percentile's band: keyed (metric, week, value), a week's band is one short
range of the key, where keyed (metric, value, week) each band's range held every week's values of
it. The rows are kept; only the key changes.

Revision ID: 9ee92a08cf45
Revises: 4b8e1f6c2a07
Create Date: 2026-12-07 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "9ee92a08cf45"
down_revision: str | None = "4b8e1f6c2a07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _key_weeks_by("metric", "week", "value")


def _key_weeks_by(*columns: str) -> None:
    """Make `columns` rpt_contact_duration_weeks' primary key, in that order, keeping its rows."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE rpt_contact_duration_weeks DROP CONSTRAINT pk_rpt_contact_duration_weeks, "
            f"ADD CONSTRAINT pk_rpt_contact_duration_weeks PRIMARY KEY ({', '.join(columns)})"
        )
        return
    # SQLite cannot alter a primary key: the table is made anew with it and its rows copied.
    keyed = sa.Table(
        "rpt_contact_duration_weeks",
        sa.MetaData(),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*columns, name="pk_rpt_contact_duration_weeks"),
    )
    with op.batch_alter_table("rpt_contact_duration_weeks", copy_from=keyed, recreate="always"):
        pass


def downgrade() -> None:
    _key_weeks_by("metric", "value", "week")
