"""`bench.compare` runs another commit's worker from that commit's tree, and refuses a commit whose
referrals migrations differ from this checkout's (both commits get databases migrated from here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import ROOT, Server
from bench.compare import _git, _imports_from, main


def test_a_worker_imports_from_the_tree_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("")
    assert _imports_from(Server("this", "services.referrals.main:create", 0)) == ROOT
    assert _imports_from(Server("other", "services.referrals.main:create", 0, root=tmp_path)) == tmp_path


def test_a_commit_with_other_referrals_migrations_is_refused_before_anything_starts() -> None:
    changed = _git("log", "-1", "--format=%h", "--", "migrations/referrals")
    with pytest.raises(SystemExit, match="other referrals migrations"):
        main(f"{changed}~1")
    assert "bench-compare-" not in _git("worktree", "list")
