"""The referrals migrations form one linear chain (models vs migrations: tests/platform)."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from shared.migrations import alembic_config


def test_one_linear_migration_chain():
    script = ScriptDirectory.from_config(alembic_config("referrals"))
    assert len(script.get_heads()) == 1
