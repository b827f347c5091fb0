"""contacts: an index on received_at, for the Annex A lists' windows of dates

Revision ID: 3c1e7a9d2b60
Revises: 5d0c81a7e2f4
Create Date: 2026-12-06 07:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3c1e7a9d2b60"
down_revision: str | None = "5d0c81a7e2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_received_at"))
