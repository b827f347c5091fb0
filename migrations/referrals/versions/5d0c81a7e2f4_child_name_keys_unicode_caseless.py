"""children's name keys: Unicode compatibility caseless form, unbounded

Revision ID: 5d0c81a7e2f4
Revises: ba3f3f264901
Create Date: 2026-12-06 02:40:00.000000
"""

import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d0c81a7e2f4"
down_revision: str | None = "ba3f3f264901"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000

_children = sa.table(
    "children",
    sa.column("id", sa.Uuid()),
    sa.column("given_name", sa.String()),
    sa.column("family_name", sa.String()),
    sa.column("given_name_key", sa.String()),
    sa.column("family_name_key", sa.String()),
)


def _caseless(name: str) -> str:
    # `name_key` as at this revision, copied: a migration must do the same thing whenever it runs.
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFD", name.strip()).casefold())
    return unicodedata.normalize("NFKC", folded.casefold())


def _rekey(key: Callable[[str], str]) -> None:
    """Rewrite every child's name keys with `key`, in batches by id (the table may be large)."""
    bind = op.get_bind()
    c = _children.c
    update = (
        _children.update()
        .where(c.id == sa.bindparam("child_id"))
        .values(given_name_key=sa.bindparam("given"), family_name_key=sa.bindparam("family"))
    )
    last = None
    while True:
        query = sa.select(c.id, c.given_name, c.family_name, c.given_name_key, c.family_name_key)
        if last is not None:
            query = query.where(c.id > last)
        rows = bind.execute(query.order_by(c.id).limit(_BATCH)).all()
        if not rows:
            return
        changed = [
            {"child_id": r.id, "given": key(r.given_name), "family": key(r.family_name)}
            for r in rows
            if (key(r.given_name), key(r.family_name)) != (r.given_name_key, r.family_name_key)
        ]
        if changed:
            bind.execute(update, changed)
        last = rows[-1].id


def upgrade() -> None:
    # Case folding lengthens ("ß" is "ss"): a 100-character name could not be stored (a 500).
    with op.batch_alter_table("children", schema=None) as batch_op:
        for name in ("given_name_key", "family_name_key"):
            batch_op.alter_column(
                name, existing_type=sa.String(length=100), type_=sa.Text(), existing_nullable=False
            )
    # Keys stored by plain casefold(): "José" in NFD never met "José" in NFC.
    _rekey(_caseless)


def downgrade() -> None:
    # The earlier keys, cut to the earlier width (a key that long could not be stored before).
    _rekey(lambda name: name.casefold()[:100])
    with op.batch_alter_table("children", schema=None) as batch_op:
        for name in ("given_name_key", "family_name_key"):
            batch_op.alter_column(
                name, existing_type=sa.Text(), type_=sa.String(length=100), existing_nullable=False
            )
