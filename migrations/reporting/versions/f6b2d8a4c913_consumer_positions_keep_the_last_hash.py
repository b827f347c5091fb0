"""consumer positions keep the hash of the last event applied

Revision ID: f6b2d8a4c913
Revises: c2d7e5f81a94
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f6b2d8a4c913"
down_revision: str | None = "c2d7e5f81a94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a position stored before this revision has no hash; the consumer takes it from the
    # next batch it applies (and checks every page from then on).
    with op.batch_alter_table("consumer_positions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consumer_positions", schema=None) as batch_op:
        batch_op.drop_column("last_hash")
