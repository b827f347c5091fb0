"""`frontdoor seed` into databases that already hold a year: refused, unless the operator asks to add.

A second run used to add a second copy of the year (the same children again, under new ids) while its
summary still counted one year, so the summary no longer matched what the reports showed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import date

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from frontdoor.cli import app
from frontdoor.seed import SeedRefused, make_plan, run_seed, seed_settings
from shared.db import create_engine

CONTACTS = 30
SEED = ["seed", "--contacts", str(CONTACTS), "--seed", "5", "--until", "2026-06-01", "--no-catch-up"]
PLAN = make_plan(contacts=CONTACTS, seed=5, until=date(2026, 6, 1))


def rows(db_urls: dict[str, str]) -> dict[str, dict[str, int]]:
    """Every table's row count in the referrals and supervision databases, read directly."""

    async def count(name: str) -> dict[str, int]:
        metadata = importlib.import_module(f"services.{name}.db").metadata
        engine = create_engine(db_urls[name])
        try:
            async with engine.connect() as conn:
                return {
                    t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                    for t in metadata.sorted_tables
                }
        finally:
            await engine.dispose()

    async def both() -> dict[str, dict[str, int]]:
        return {name: await count(name) for name in ("referrals", "supervision")}

    return asyncio.run(both())


@pytest.fixture
def seed_env(db_urls: dict[str, str], clean_db: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The seed command pointed at this run's (empty) databases."""
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    for name, url in db_urls.items():
        monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", url)
    return db_urls


def seed(*extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*SEED, *extra])
    return result.exit_code, result.stdout, result.stderr


def test_a_first_run_into_empty_databases_writes_the_year_it_summarises(seed_env: dict[str, str]) -> None:
    code, out, err = seed()
    assert code == 0, err
    printed = json.loads(out)
    assert printed["summary"] == PLAN.summary.model_dump(mode="json")
    assert "appended" not in printed  # a first run is the whole year: nothing to qualify
    held = rows(seed_env)
    assert held["referrals"]["contacts"] == CONTACTS
    assert held["referrals"]["children"] == PLAN.summary.children
    assert held["supervision"]["supervisions"] == PLAN.summary.supervisions > 0


def test_a_second_run_is_refused_naming_the_database_and_writes_nothing(seed_env: dict[str, str]) -> None:
    assert seed()[0] == 0
    before = rows(seed_env)

    code, out, err = seed()

    assert code == 2, err
    assert out == ""  # no summary: nothing was written
    assert "refused" in err and "--append" in err
    assert f"the referrals database ({seed_env['referrals']}) already holds" in err
    assert f"{PLAN.summary.children} children, {CONTACTS} contacts" in err
    assert f"the supervision database ({seed_env['supervision']})" in err
    assert rows(seed_env) == before


def test_a_run_is_refused_when_only_supervision_holds_data(seed_env: dict[str, str]) -> None:
    """Either database holding a year is enough: the supervision one kept from an earlier run, say."""
    assert seed()[0] == 0
    referrals = importlib.import_module("services.referrals.db").metadata
    from dbutil import delete_all

    asyncio.run(delete_all(seed_env["referrals"], [t.name for t in reversed(referrals.sorted_tables)]))
    before = rows(seed_env)

    code, _, err = seed()

    assert code == 2, err
    assert "the supervision database" in err and "the referrals database" not in err
    assert rows(seed_env) == before


def test_append_adds_a_second_year_and_says_the_summary_counts_only_this_run(
    seed_env: dict[str, str],
) -> None:
    assert seed()[0] == 0
    first = rows(seed_env)

    code, out, err = seed("--append")

    assert code == 0, err
    printed = json.loads(out)
    assert printed["summary"] == PLAN.summary.model_dump(mode="json")
    assert "only what this run added" in printed["appended"]["note"]
    assert printed["appended"]["held_before"] == {
        "referrals": {"children": PLAN.summary.children, "contacts": CONTACTS},
        "supervision": {"supervisions": PLAN.summary.supervisions},
    }
    now = rows(seed_env)
    assert now["referrals"]["contacts"] == 2 * CONTACTS
    assert now["referrals"]["children"] == 2 * first["referrals"]["children"]
    assert now["supervision"]["supervisions"] == 2 * first["supervision"]["supervisions"]
    assert now["referrals"]["teams"] == first["referrals"]["teams"]  # the teams are registered once


def test_run_seed_as_a_library_refuses_a_database_holding_a_year_unless_told_to_append(
    seed_env: dict[str, str],
) -> None:
    """Only the command checked: `run_seed` called as a library (a bench, a notebook) wrote a second
    copy of the year beside the first. The check is in `run_seed` now, which the command calls too:
    refused (nothing written) unless `append=True`, which reports what was held before."""
    settings = seed_settings(seed_env)
    first = asyncio.run(run_seed(PLAN, settings, catch_up_reporting=False))
    assert first.held_before == {}
    before = rows(seed_env)
    held = {
        "referrals": {"children": PLAN.summary.children, "contacts": CONTACTS},
        "supervision": {"supervisions": PLAN.summary.supervisions},
    }

    with pytest.raises(SeedRefused) as refused:
        asyncio.run(run_seed(PLAN, settings, catch_up_reporting=False))

    assert refused.value.held == held
    assert f"the referrals database ({seed_env['referrals']}) already holds" in str(refused.value)
    assert "append" in str(refused.value)
    assert rows(seed_env) == before

    again = asyncio.run(run_seed(PLAN, settings, append=True, catch_up_reporting=False))
    assert again.held_before == held
    assert rows(seed_env)["referrals"]["contacts"] == 2 * CONTACTS


def test_help_documents_append() -> None:
    result = CliRunner().invoke(app, ["seed", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--append" in result.output and "only what this run added" in result.output
