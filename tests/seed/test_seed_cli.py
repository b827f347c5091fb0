"""The `frontdoor seed` command: a plan-only summary, and no synthetic data in production."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from frontdoor.cli import app
from frontdoor.seed import SeedRefused, make_plan, run_seed, seed_settings


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


def test_seed_refuses_when_an_identity_provider_signs_the_tokens(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """The seeder calls the services with tokens it mints, which needs the HS secret: with RS256 it
    ended in a traceback."""
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_JWKS_URL", "https://idp.example/jwks")
    for name in ("REFERRALS", "SUPERVISION", "REPORTING"):
        monkeypatch.setenv(f"{name}_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / name}.db")
    result = CliRunner().invoke(app, ["seed", "--contacts", "10"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "refused" in result.output and "RS256" in result.output
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("until", ["0001-01-01", "1969-06-01", "1971-01-01"])
def test_seed_refuses_a_year_before_what_the_services_accept(until: str) -> None:
    """The services refuse times before 1970: such a year would fail part-way, after writing the
    teams; one before year 2 could not even be planned."""
    result = CliRunner().invoke(app, ["seed", "--contacts", "10", "--until", until, "--plan-only"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "--until" in result.output


def test_seed_refuses_to_write_a_year_that_ends_in_the_future(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """It would be written as if recorded in the future, ahead of everything real use then records."""
    for name in ("REFERRALS", "SUPERVISION", "REPORTING"):
        monkeypatch.setenv(f"{name}_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/{name}.db")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    result = CliRunner().invoke(app, ["seed", "--contacts", "10", "--until", tomorrow])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "--until" in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a database file
    planned = CliRunner().invoke(app, ["seed", "--contacts", "10", "--until", tomorrow, "--plan-only"])
    assert planned.exit_code == 0, planned.output  # a plan writes nothing


def test_seed_names_a_database_url_that_cannot_be_used(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("SUPERVISION", "REPORTING"):
        monkeypatch.setenv(f"{name}_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/{name}.db")
    monkeypatch.setenv("REFERRALS_DATABASE_URL", "not a url")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    result = CliRunner().invoke(app, ["seed", "--contacts", "10"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "DATABASE_URL cannot be used" in result.output


def _settings_on(monkeypatch: pytest.MonkeyPatch, tmp_path, **env: str) -> dict:
    """The seeder's settings: SQLite files under `tmp_path`, or with `DATABASE_URL` given, that
    PostgreSQL URL (production refuses SQLite) for every service."""
    url = env.pop("DATABASE_URL", None)
    for name in ("REFERRALS", "SUPERVISION", "REPORTING"):
        monkeypatch.setenv(f"{name}_DATABASE_URL", url or f"sqlite+aiosqlite:///{tmp_path / name}.db")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return seed_settings()


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        (
            {
                "ENVIRONMENT": "production",
                "JWT_SECRET": "p" * 48,
                # Nothing listens there: the refusal must come before any database is reached.
                "DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:9/none",
            },
            "refused: synthetic data is never written to a production system",
        ),
        (
            {
                "JWT_ALGORITHM": "RS256",
                "JWT_JWKS_URL": "https://idp.example/jwks",
                # As such a system is configured: its consumers show tokens the provider signed.
                "SUPERVISION_SERVICE_TOKEN": "issued.by.idp",
                "REPORTING_SERVICE_TOKEN": "issued.by.idp",
            },
            "refused: the seeder mints its callers' tokens, but JWT_ALGORITHM is RS256",
        ),
    ],
    ids=["production", "identity-provider"],
)
def test_run_seed_as_a_library_refuses_what_the_command_refuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path, env: dict[str, str], reason: str
) -> None:
    """Only the command refused a production system and settings that mint no tokens: `run_seed`
    called as a library (a bench, a notebook) went on to migrate and write synthetic children into a
    production database, or failed part-way minting a token. It refuses both itself now, before
    anything is touched."""
    settings = _settings_on(monkeypatch, tmp_path, **env)
    plan = make_plan(contacts=10, seed=4, until=date(2026, 6, 1))
    started: list[bool] = []
    with pytest.raises(SeedRefused) as refused:
        asyncio.run(run_seed(plan, settings, on_start=lambda: started.append(True)))
    assert str(refused.value).startswith(reason)
    assert refused.value.held == {}
    assert started == []
    assert not any(tmp_path.iterdir())  # nothing written, not even a database file


def test_seed_creates_postgresql_databases_that_do_not_exist_yet(
    fresh_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `migrate` and `up` do ("migrated first"): it failed with 'database "..." does not exist'."""
    if os.environ.get("FRONTDOOR_TEST_DB", "sqlite") != "postgres":
        pytest.skip("SQLite creates its files")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    for name in ("referrals", "supervision", "reporting"):
        url = fresh_database(f"seed_absent_{name}", create=False)
        monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["seed", "--contacts", "3", "--no-catch-up"])
    assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
    assert result.exit_code == 0, result.output
