"""Issue 2, item 8: the `frontdoor` command's migrate and verify."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import update
from typer.testing import CliRunner, Result

from frontdoor import cli
from frontdoor.registry import SERVICES
from shared.db import Database
from shared.migrations import current_revision, head_revision


def test_migrate_creates_every_schema_at_head(cli_migrated) -> None:
    first, second = cli_migrated["first"], cli_migrated["second"]
    assert first.exit_code == 0, first.output
    assert first.output.strip() == f"migrated: {', '.join(SERVICES)}"
    assert second.exit_code == 0, second.output  # a second run is a no-op

    async def revisions() -> dict[str, str | None]:
        out = {}
        for name, url in cli_migrated["urls"].items():
            db = Database(url)
            try:
                out[name] = await current_revision(db.engine)
            finally:
                await db.dispose()
        return out

    assert asyncio.run(revisions()) == {name: head_revision(name) for name in SERVICES}


def test_migrate_refuses_an_unknown_service() -> None:
    result = CliRunner().invoke(cli.app, ["migrate", "--service", "nonsense"])
    assert result.exit_code == 2
    assert "nonsense" in result.output


async def run_cli(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> Result:
    """Invoke the command in a worker thread (it runs its own event loop), on this run's referrals db."""
    monkeypatch.setenv("REFERRALS_DATABASE_URL", url)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    return await asyncio.to_thread(CliRunner().invoke, cli.app, list(args))


async def test_verify_exits_0_on_a_good_log_and_1_on_a_tampered_one(
    producer, db_urls, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = await producer()
    auth = p.auth("manager")
    for label in ("a", "b"):
        created = await p.client.post("/things", json={"label": label, "size": 1}, headers=auth)
        thing = created.json()["id"]
        await p.client.patch(
            f"/things/{thing}",
            json={"label": label + "2"},
            headers={**auth, "If-Match": created.headers["etag"]},
        )
    good = await run_cli(monkeypatch, db_urls["referrals"], "verify", "--service", "referrals")
    assert good.exit_code == 0, good.output
    report = json.loads(good.output)
    assert report["ok"] is True and report["events_checked"] == 4 and report["journeys_checked"] == 2

    events = p.service.tables.events
    assert events is not None
    async with p.service.db.unit_of_work() as session:
        await session.execute(
            update(events).where(events.c.position == 3).values(payload={"label": "forged"})
        )
    bad = await run_cli(monkeypatch, db_urls["referrals"], "verify", "--service", "referrals")
    assert bad.exit_code == 1, bad.output
    report = json.loads(bad.output)
    assert report["ok"] is False
    assert report["first_broken"]["position"] == 3
