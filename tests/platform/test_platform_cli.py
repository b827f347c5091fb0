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
from shared.types import utcnow


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


async def test_verify_of_a_journey_no_log_holds_is_not_passed(
    producer, db_urls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked about one journey, the check found no event of it and said ok (exit 0): a journey whose
    events were deleted, or a mistyped id, read as verified."""
    import uuid

    from sqlalchemy import delete, select

    p = await producer()
    created = await p.client.post("/things", json={"label": "x", "size": 1}, headers=p.auth("manager"))
    events = p.service.tables.events
    assert events is not None
    last = select(events.c.journey_id).order_by(events.c.position.desc()).limit(1)
    async with p.service.db.read_session() as session:
        journey = (await session.execute(last)).scalar_one()
    assert created.status_code == 201
    found = await run_cli(
        monkeypatch, db_urls["referrals"], "verify", "-s", "referrals", "--journey", str(journey)
    )
    assert found.exit_code == 0, found.output
    async with p.service.db.unit_of_work() as session:
        await session.execute(delete(events).where(events.c.journey_id == journey))
    for asked in (journey, uuid.uuid4()):
        result = await run_cli(
            monkeypatch, db_urls["referrals"], "verify", "-s", "referrals", "--journey", str(asked)
        )
        no_traceback(result)
        assert result.exit_code == 1, result.output
        assert f"no event of journey {asked}" in result.output


async def test_rebuild_changes_nothing_when_an_upstream_is_down(
    db_urls, clean_db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A projection that could not be refilled is not wiped: rebuild probes every upstream first."""
    import socket

    from sqlalchemy import select

    from services.reporting.db import platform as reporting_tables

    positions = reporting_tables.positions
    assert positions is not None
    db = Database(db_urls["reporting"])
    try:
        async with db.unit_of_work() as session:
            await session.execute(
                positions.insert().values(feed="referrals", position=42, updated_at=utcnow())
            )
    finally:
        await db.dispose()
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("REPORTING_DATABASE_URL", db_urls["reporting"])
    monkeypatch.setenv("REPORTING_REFERRALS_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("REPORTING_SUPERVISION_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["rebuild", "--service", "reporting"])
    assert result.exit_code == 1, result.output
    assert "cannot rebuild reporting" in result.output and "nothing was changed" in result.output
    db = Database(db_urls["reporting"])
    try:
        async with db.sessionmaker() as session:
            kept = (await session.execute(select(positions.c.position))).scalars().all()
    finally:
        await db.dispose()
    assert kept == [42]


@pytest.mark.parametrize("schema", ["none", "behind"])
async def test_rebuild_on_a_database_not_migrated_to_head_says_so(
    schema: str, fresh_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reporting's projection tables are wiped and refilled: on no schema the command failed with
    "no such table", and on one behind head it would wipe, then fail on a column not there yet."""
    from alembic.script import ScriptDirectory

    from shared.migrations import alembic_config, upgrade

    url = fresh_database(f"cli_rebuild_{schema}")
    if schema == "behind":
        script = ScriptDirectory.from_config(alembic_config("reporting"))
        head = script.get_revision(head_revision("reporting"))
        assert head is not None and isinstance(head.down_revision, str)
        db = Database(url)
        try:
            await upgrade("reporting", db.engine, head.down_revision)
        finally:
            await db.dispose()
    monkeypatch.setenv("REPORTING_DATABASE_URL", url)
    monkeypatch.setenv("REPORTING_REFERRALS_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("REPORTING_SUPERVISION_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["rebuild", "--service", "reporting"])
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "reporting" in result.output and "frontdoor migrate" in result.output


def no_traceback(result: Result) -> None:
    """The command ended with an exit status of its own choosing, not an exception it did not expect."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


async def test_verify_on_a_database_not_yet_migrated_says_so(
    fresh_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database("cli_unmigrated")
    result = await run_cli(monkeypatch, url, "verify", "--service", "referrals")
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "referrals" in result.output and "frontdoor migrate" in result.output


@pytest.mark.parametrize("command", ["verify", "rebuild"])
async def test_a_database_not_created_yet_says_to_migrate(
    command: str, fresh_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database `migrate` has not created yet: on PostgreSQL it said only 'database "..." does
    not exist', not what to do, and exited 1 where SQLite's file not there exits 2 (see
    test_a_sqlite_file_that_does_not_exist_is_refused_not_created). Both exit 2 now, naming the
    variable to correct."""
    service = "referrals" if command == "verify" else "reporting"
    monkeypatch.setenv(
        f"{service.upper()}_DATABASE_URL", fresh_database(f"cli_absent_{command}", create=False)
    )
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, [command, "--service", service])
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert service in result.output and "frontdoor migrate" in result.output
    assert f"{service.upper()}_DATABASE_URL" in result.output


@pytest.mark.parametrize("command", ["verify", "rebuild"])
async def test_a_sqlite_file_that_does_not_exist_is_refused_not_created(
    command: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pointed at a SQLite path that does not exist (a typo, another directory), verify and rebuild
    created an empty file there, and its directories, then said the schema was missing: the
    mistyped path was left behind as a database. They refuse it now, by its variable, creating
    nothing; `migrate` still creates it."""
    service = "referrals" if command == "verify" else "reporting"
    variable = f"{service.upper()}_DATABASE_URL"
    missing = tmp_path / "no" / "such" / f"{service}.db"
    monkeypatch.setenv(variable, f"sqlite+aiosqlite:///{missing}")
    monkeypatch.setenv("REPORTING_REFERRALS_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("REPORTING_SUPERVISION_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, [command, "--service", service])
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert variable in result.output and str(missing) in result.output
    assert "frontdoor migrate" in result.output
    assert not (tmp_path / "no").exists()
    migrated = await asyncio.to_thread(CliRunner().invoke, cli.app, ["migrate", "--service", service])
    assert migrated.exit_code == 0, migrated.output
    assert missing.exists()


def closed_port() -> int:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["migrate", "verify"])
@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("not a url", 2, "REFERRALS_DATABASE_URL"),
        ("mysql://u@h/referrals", 2, "REFERRALS_DATABASE_URL"),
        ("postgresql+asyncpg://u@127.0.0.1:{port}/referrals", 1, "ConnectionRefusedError"),
        # A driver that is not asyncio's, a port no socket can have, a libpq option asyncpg does not
        # take (it names TLS `ssl`): each ended in a traceback.
        ("sqlite:///var/referrals.db", 2, "REFERRALS_DATABASE_URL"),
        ("postgresql+psycopg2://u@127.0.0.1/referrals", 2, "REFERRALS_DATABASE_URL"),
        ("postgresql+asyncpg://u@127.0.0.1:99999/referrals", 2, "REFERRALS_DATABASE_URL"),
        ("postgresql+asyncpg://u@127.0.0.1:{port}/referrals?sslmode=require", 2, "sslmode"),
    ],
)
async def test_a_database_url_that_cannot_be_used_is_named_not_a_traceback(
    command: str, url: str, status: int, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await run_cli(monkeypatch, url.format(port=closed_port()), command, "--service", "referrals")
    no_traceback(result)
    assert result.exit_code == status, result.output
    assert "referrals" in result.output and says in result.output


@pytest.mark.parametrize(
    "url",
    ["not a url", "sqlite:///var/referrals.db", "postgresql+asyncpg://u@127.0.0.1/referrals?sslmode=require"],
)
async def test_serve_without_migrating_names_a_database_url_that_cannot_be_used(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each container runs (`serve --no-migrate`): the URL was first used building the app, which
    ended in a traceback (and under `up --no-migrate`, a restart loop)."""
    result = await run_cli(
        monkeypatch, url, "serve", "referrals", "--no-migrate", "--port", str(closed_port())
    )
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "REFERRALS_DATABASE_URL" in result.output


@pytest.mark.parametrize("command", ["migrate", "verify", "token"])
async def test_a_database_url_whose_password_is_not_encoded_is_refused_without_showing_it(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An @ and a : in a password, not percent-encoded, leave part of it where the port is looked for:
    the message quoted that part ("invalid literal for int() ... 'w0rd@127.0.0.1'")."""
    url = "postgresql+asyncpg://fd:p@ss:w0rd@127.0.0.1/referrals"
    args = ["token", "--role", "admin"] if command == "token" else [command, "--service", "referrals"]
    result = await run_cli(monkeypatch, url, *args)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "REFERRALS_DATABASE_URL" in result.output
    assert "w0rd" not in result.output and "ss:" not in result.output


async def test_migrate_refuses_two_services_on_one_database(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both would migrate into one file: Alembic met the first's revision and failed with a traceback."""
    one = f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"
    monkeypatch.setenv("SUPERVISION_DATABASE_URL", one)
    result = await run_cli(monkeypatch, one, "migrate")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "referrals and supervision are set to the same database" in result.output
    assert not (tmp_path / "one.db").exists()  # refused before anything was written
    # Migrated one at a time, the second finds the first's schema: named, not a traceback.
    assert (await run_cli(monkeypatch, one, "migrate", "-s", "referrals")).exit_code == 0
    result = await run_cli(monkeypatch, one, "migrate", "-s", "supervision")
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "supervision: the database's schema cannot be upgraded" in result.output


async def test_invalid_settings_are_named_not_a_traceback(db_urls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRALS_CONSUMER_BATCH_SIZE", "0")
    result = await run_cli(monkeypatch, db_urls["referrals"], "migrate", "--service", "referrals")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "invalid settings" in result.output and "consumer_batch_size" in result.output


@pytest.mark.parametrize("name", ["referrals", "supervision"])
async def test_a_future_tolerance_beyond_a_day_is_named_not_a_traceback(
    name: str, db_urls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISION_DATABASE_URL", db_urls["supervision"])
    monkeypatch.setenv(f"{name.upper()}_FUTURE_TOLERANCE_SECONDS", "100000000000000")
    result = await run_cli(monkeypatch, db_urls["referrals"], "migrate", "--service", name)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert (
        f"{name}: invalid settings: future_tolerance_seconds: Input should be less than or equal to 86400"
        in (result.output)
    )


async def test_rebuild_that_loses_its_upstream_half_way_says_where_it_stopped(
    db_urls, clean_db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upstream answered the probe, then failed: the batches applied stay (each with its position,
    from which the service's consumer goes on); the command says so instead of a traceback."""
    from shared.events.consumer import FeedConsumer, UpstreamError

    async def fetch(
        self: FeedConsumer, after: int, wait: float, limit: int | None = None, expect: str | None = None
    ) -> tuple:
        if limit == 1 and after == 0:  # the probe
            return [], 10
        raise UpstreamError(f"{self.feed} answered 500")

    monkeypatch.setattr(FeedConsumer, "fetch", fetch)
    monkeypatch.setenv("REPORTING_DATABASE_URL", db_urls["reporting"])
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["rebuild", "--service", "reporting"])
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "rebuild of reporting stopped" in result.output and "answered 500" in result.output


@pytest.mark.parametrize(("command", "service"), [("verify", "reporting"), ("rebuild", "referrals")])
def test_a_service_with_nothing_to_verify_or_rebuild_is_refused_not_passed_over(
    command: str, service: str
) -> None:
    """Silence and exit 0 would read as a log checked, or projections replayed."""
    result = CliRunner().invoke(cli.app, [command, "--service", service])
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert service in result.output


@pytest.fixture
def idp_signed(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Tokens signed by an identity provider (RS256 by JWKS), and no service tokens configured: the
    consumers cannot mint their own, as in production without <SERVICE>_SERVICE_TOKEN."""
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_JWKS_URL", "https://idp.example/jwks.json")
    for name in SERVICES:
        monkeypatch.delenv(f"{name.upper()}_SERVICE_TOKEN", raising=False)
    return monkeypatch


async def test_verify_needs_no_service_token(cli_migrated, idp_signed: pytest.MonkeyPatch) -> None:
    """Verifying supervision's log reads its database only; building its consumer as well made the
    command end in a traceback wherever no SUPERVISION_SERVICE_TOKEN was set (as in production)."""
    idp_signed.setenv("SUPERVISION_DATABASE_URL", cli_migrated["urls"]["supervision"])
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["verify", "-s", "supervision"])
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True


async def test_rebuild_without_a_service_token_names_it(cli_migrated, idp_signed: pytest.MonkeyPatch) -> None:
    idp_signed.setenv("REPORTING_DATABASE_URL", cli_migrated["urls"]["reporting"])
    result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["rebuild", "-s", "reporting"])
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "REPORTING_SERVICE_TOKEN" in result.output
