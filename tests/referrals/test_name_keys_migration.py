"""5d0c81a7e2f4 re-keys the children already stored for duplicate search, and widens the keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from services.referrals.children.service import name_key
from shared.db import Database
from shared.migrations import downgrade, upgrade

BEFORE = "ba3f3f264901"

children = sa.table(
    "children",
    sa.column("id", sa.Uuid()),
    sa.column("given_name", sa.String()),
    sa.column("family_name", sa.String()),
    sa.column("given_name_key", sa.String()),
    sa.column("family_name_key", sa.String()),
    sa.column("sex", sa.String()),
    sa.column("ethnicity", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("created_by", sa.String()),
)

# (given, family) as stored before: keys were casefold() of the names as typed.
NAMES = [
    ("Jose\u0301", "Testchild"),  # "José" with a combining accent
    ("\uff21\uff44\uff41", "Strau\u00df"),  # full-width "Ada"; "ß"
    ("Ada", "Testchild"),  # already right: left as it is
]


async def _keys(db: Database) -> dict[uuid.UUID, tuple[str, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(children.c.id, children.c.given_name_key, children.c.family_name_key)
        )
        return {r.id: (r.given_name_key, r.family_name_key) for r in rows}


async def test_the_migration_rekeys_stored_children_and_its_downgrade_restores_them(fresh_database):
    db = Database(fresh_database("referrals_name_keys"))
    ids = [uuid.uuid4() for _ in NAMES]
    stored = {
        child_id: (given.casefold(), family.casefold())
        for child_id, (given, family) in zip(ids, NAMES, strict=True)
    }
    try:
        await upgrade("referrals", db.engine, BEFORE)
        async with db.engine.begin() as conn:
            await conn.execute(
                children.insert(),
                [
                    {
                        "id": child_id,
                        "given_name": given,
                        "family_name": family,
                        "given_name_key": stored[child_id][0],
                        "family_name_key": stored[child_id][1],
                        "sex": "F",
                        "ethnicity": "WBRI",
                        "version": 1,
                        "created_at": datetime(2026, 1, 5, tzinfo=UTC),
                        "created_by": "p1",
                    }
                    for child_id, (given, family) in zip(ids, NAMES, strict=True)
                ],
            )
        await upgrade("referrals", db.engine, "5d0c81a7e2f4")
        assert await _keys(db) == {
            child_id: (name_key(given), name_key(family))
            for child_id, (given, family) in zip(ids, NAMES, strict=True)
        }
        assert await _keys(db) == {
            ids[0]: ("jos\u00e9", "testchild"),
            ids[1]: ("ada", "strauss"),
            ids[2]: ("ada", "testchild"),
        }

        await downgrade("referrals", db.engine, BEFORE)
        assert await _keys(db) == stored
    finally:
        await db.dispose()
