"""idempotency keys keep the first answer's headers and audited records

Revision ID: a1581f496910
Revises: f3e61638657c
Create Date: 2026-11-27 11:51:31.081656
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1581f496910"
down_revision: str | None = "f3e61638657c"
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
