"""The `frontdoor seed` command: a plan-only summary, and no synthetic data in production."""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from frontdoor.cli import app
from frontdoor.seed import make_plan


def test_plan_only_prints_the_summary_of_the_same_year() -> None:
    result = CliRunner().invoke(
        app, ["seed", "--contacts", "120", "--seed", "4", "--until", "2026-06-01", "--plan-only"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    expected = make_plan(contacts=120, seed=4, until=date(2026, 6, 1))
    assert summary == expected.summary.model_dump(mode="json")
    assert summary["contacts"] == 120 and summary["period_end"] == "2026-06-01"


def test_seed_refuses_a_production_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "p" * 48)
    for name in ("REFERRALS", "SUPERVISION", "REPORTING"):
        monkeypatch.setenv(f"{name}_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:9/none")
    result = CliRunner().invoke(app, ["seed", "--contacts", "10"])
    assert result.exit_code == 2
    assert "refused" in result.output
