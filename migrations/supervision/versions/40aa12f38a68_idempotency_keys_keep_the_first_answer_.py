"""idempotency keys keep the first answer's headers and audited records

Revision ID: 40aa12f38a68
Revises: a7a2b2185297
Create Date: 2026-11-27 11:51:25.325520
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "40aa12f38a68"
down_revision: str | None = "a7a2b2185297"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: keys stored before this revision replay their status and body only.
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_headers", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("audited", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("audited")
        batch_op.drop_column("response_headers")
