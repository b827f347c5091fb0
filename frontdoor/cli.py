"""The `frontdoor` command: up, migrate, token, seed, rebuild, verify."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import math
import sys
import uuid
from collections.abc import Iterator
from typing import Annotated, NoReturn

import typer
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, DBAPIError

from frontdoor import run as running
from frontdoor.registry import SERVICES, shared_database
from shared.auth import (
    SUBJECT_MAX_LENGTH,
    Role,
    mint_token,
    minting_refused,
    recordable_subject,
    recordable_team,
)
from shared.db import Database, missing_sqlite_file
from shared.events.consumer import UpstreamError
from shared.events.verify import VerifyReport, journey_not_held, verify_log
from shared.migrations import alembic_config, current_revision, ensure_database, head_revision, upgrade
from shared.settings import SettingsError

app = typer.Typer(
    help="The children's services front door: run (up, serve), migrate, mint tokens, seed, rebuild, verify."
)

ServiceOpt = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="Only these services (default: all).")
]


def _selected(names: list[str] | None) -> list[str]:
    chosen = names or list(SERVICES)
    unknown = [n for n in chosen if n not in SERVICES]
    if unknown:
        raise typer.BadParameter(
            f"unknown service(s): {', '.join(unknown)}; choose from {', '.join(SERVICES)}"
        )
    return chosen


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _refuse_missing_sqlite(names: list[str]) -> None:
    """For a command that uses an existing database only (verify, rebuild): a SQLite file that is not
    there is refused by its variable (exit 2), before connecting would create it empty."""
    for name in names:
        with reported(name):
            missing = missing_sqlite_file(SERVICES[name].settings().database_url)
        if missing is not None:
            _fail(
                f"{name}: {name.upper()}_DATABASE_URL names a SQLite file that does not exist ({missing}); "
                "correct it, or run `frontdoor migrate` to create that database; nothing was created",
                2,
            )


@contextlib.contextmanager
def reported(label: str) -> Iterator[None]:
    """Settings or a database the user must fix end the command with a message naming them and an
    exit status (2 for a setting or URL, a database not there included; 1 for a database that
    failed), not with a traceback."""
    url_var = f"{label.upper()}_DATABASE_URL" if label in SERVICES else "<SERVICE>_DATABASE_URL"
    try:
        yield
    except ValidationError as exc:
        _fail(f"{label}: invalid settings: {running.settings_problems(exc)}", 2)
    except SettingsError as exc:
        _fail(f"{label}: invalid settings: {exc}", 2)
    except (ArgumentError, ModuleNotFoundError) as exc:  # unparsable, or a dialect or driver not installed
        _fail(
            f"{label}: {url_var} cannot be used ({exc}); use postgresql+asyncpg://... or sqlite+aiosqlite:///...",
            2,
        )
    except CommandError as exc:  # e.g. a revision this service's migrations do not know
        _fail(f"{label}: the database's schema cannot be upgraded: {exc} (is it another service's?)", 1)
    except DBAPIError as exc:
        reason = running.database_reason(exc)  # not the SQL
        if getattr(exc.orig, "sqlstate", None) == "3D000":  # invalid_catalog_name: no such database
            # As a SQLite file that is not there (`_refuse_missing_sqlite`): the URL is to correct,
            # or the database to create, so exit 2 on both backends.
            _fail(
                f"{label}: {url_var} names a database that does not exist ({reason}); correct it, "
                "or run `frontdoor migrate` first, which creates it",
                2,
            )
        _fail(f"{label}: the database failed: {reason}", 1)
    except (OSError, TimeoutError) as exc:
        _fail(f"{label}: cannot reach the database: {type(exc).__name__}: {exc}", 1)


async def migrate_all(names: list[str]) -> None:
    for name in names:
        settings = SERVICES[name].settings()
        await ensure_database(settings.database_url)
        db = Database(settings.database_url)
        try:
            await upgrade(name, db.engine)
        finally:
            await db.dispose()


@app.command()
def migrate(service: ServiceOpt = None) -> None:
    """Create (PostgreSQL) and upgrade each service's own database to the latest schema."""
    names = _selected(service)
    settings = {}
    for name in names:  # named by service: several share setting names
        with reported(name):
            settings[name] = SERVICES[name].settings()
    problem = shared_database(settings)
    if problem is not None:
        _fail(problem, 2)
    for name in names:
        with reported(name):
            asyncio.run(migrate_all([name]))
    typer.echo(f"migrated: {', '.join(names)}")


@app.command()
def up(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to listen on, e.g. 0.0.0.0 (default: each service's HOST, 127.0.0.1)."),
    ] = None,
    referrals_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Default: REFERRALS_PORT or 8001.")
    ] = None,
    supervision_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Default: SUPERVISION_PORT or 8002.")
    ] = None,
    reporting_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Default: REPORTING_PORT or 8003.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only these services (repeatable).")
    ] = None,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="Do not apply migrations first.")] = False,
    restart: Annotated[
        bool, typer.Option("--restart/--no-restart", help="Restart a service that crashes (with backoff).")
    ] = True,
) -> None:
    """Run all three services (one process each) with their consumers, after applying migrations.

    Embedded SQLite in ./var by default; PostgreSQL when REFERRALS_DATABASE_URL etc. are set.
    Ctrl-C or SIGTERM stops them gracefully.
    """
    names = _selected(only)
    ports = {"referrals": referrals_port, "supervision": supervision_port, "reporting": reporting_port}
    code = running.up(
        names, host=host, ports=ports, migrate=None if no_migrate else migrate_all, restart=restart
    )
    raise typer.Exit(code)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="referrals, supervision or reporting.")],
    host: Annotated[str | None, typer.Option(help="Default: the service's HOST setting.")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Default: the service's PORT setting.")
    ] = None,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="Do not apply migrations first.")] = False,
    fd: Annotated[int | None, typer.Option(hidden=True, help="An inherited listening socket.")] = None,
    watch_parent: Annotated[bool, typer.Option("--watch-parent", hidden=True)] = False,
) -> None:
    """Run ONE service with its consumers (what each container runs; lets a drill kill -9 just it)."""
    _selected([service])
    code = running.serve(
        service,
        host=host,
        port=port,
        fd=fd,
        migrate=None if no_migrate else migrate_all,
        watch_parent=watch_parent,
    )
    raise typer.Exit(code)


@app.command()
def token(
    role: Annotated[list[Role], typer.Option("--role", "-r", help="Role(s) to grant.")],
    sub: Annotated[str, typer.Option(help="Pseudonymous staff or system id.")] = "dev-user",
    team: Annotated[str | None, typer.Option(help="Team id claim.")] = None,
    hours: Annotated[float, typer.Option(help="Lifetime in hours.")] = 8.0,
) -> None:
    """Mint a development bearer token (refused in production and under a public-key JWT_ALGORITHM)."""
    # A token that has expired before it is printed is no use, and NaN or infinity are no lifetime.
    if not (math.isfinite(hours) and hours > 0):
        raise typer.BadParameter("must be a positive number of hours", param_hint="'--hours'")
    if not recordable_subject(sub):  # the services would refuse the token
        raise typer.BadParameter(
            f"must be 1 to {SUBJECT_MAX_LENGTH} characters, not all spaces, none of them control characters",
            param_hint="'--sub'",
        )
    if team is not None and not recordable_team(team):  # the services would refuse the token
        raise typer.BadParameter("must contain no control characters", param_hint="'--team'")
    try:
        settings = SERVICES["referrals"].settings()
    except ValidationError as exc:  # e.g. production settings that refuse the development secret
        typer.echo(f"refused: {running.settings_problems(exc)}", err=True)
        raise typer.Exit(2) from None
    if (why := minting_refused(settings)) is not None:
        typer.echo(f"refused: {why}", err=True)
        raise typer.Exit(2)
    ttl = math.ceil(hours * 3600)  # up, so that a lifetime under a second is not none at all
    typer.echo(mint_token(settings, roles=[r.value for r in role], subject=sub, team=team, ttl_seconds=ttl))


@app.command()
def verify(
    service: ServiceOpt = None,
    journey: Annotated[
        uuid.UUID | None,
        typer.Option(help="Check only this journey (exits 1 if no log holds an event of it)."),
    ] = None,
) -> None:
    """Check the journey logs' hash chains and feed order, and that no journey's log ends before its
    service's records say it does; exits 1 at the first broken link."""
    chosen = _selected(service)
    names = [n for n in chosen if SERVICES[n].produces_events]
    if service and len(names) < len(chosen):  # asked for by name: saying nothing would read as checked
        without = ", ".join(n for n in chosen if n not in names)
        raise typer.BadParameter(f"{without} keeps no journey log to verify", param_hint="'--service'")
    _refuse_missing_sqlite(names)

    async def run(name: str) -> bool:
        # The log and its database only: the service's consumers (and their token) play no part.
        events = importlib.import_module(f"{SERVICES[name].package}.db").platform.events
        db = Database(SERVICES[name].settings().database_url)
        try:
            if await current_revision(db.engine) is None:
                _fail(f"{name}: the database has no schema yet; run `frontdoor migrate` first", 1)
            async with db.read_session() as session:
                report = await verify_log(session, events, journey, heads=SERVICES[name].stream_heads())
        finally:
            await db.dispose()
        typer.echo(json.dumps({"service": name, **report.model_dump(mode="json")}))
        reports[name] = report
        return report.ok

    ok = True
    reports: dict[str, VerifyReport] = {}
    for name in names:
        with reported(name):
            ok = asyncio.run(run(name)) and ok
    if journey is not None and (why := journey_not_held(journey, reports)) is not None:
        _fail(why, 1)
    if not ok:
        raise typer.Exit(1)


@app.command()
def rebuild(
    service: ServiceOpt = None,
) -> None:
    """Rebuild consumers' projections from position 0 of their upstream feeds (upstreams must be running)."""
    names = _selected(service)
    if service and (idle := [n for n in names if not SERVICES[n].consumes_feeds]):
        # Asked for by name: saying nothing would read as replayed.
        raise typer.BadParameter(f"{', '.join(idle)} reads no feed to rebuild from", param_hint="'--service'")
    # Only the services that read feeds: another's database is never opened (nor created).
    names = [n for n in names if SERVICES[n].consumes_feeds]
    _refuse_missing_sqlite(names)

    async def run() -> bool:
        built = [(name, SERVICES[name].main().build_service()) for name in names]
        try:
            # The projection tables must be the code's: wiped on an older schema, the refill fails on
            # a column not there yet, and on none the first statement fails.
            for name, svc in built:
                if svc.consumers and (current := await current_revision(svc.db.engine)) != (
                    head := head_revision(name)
                ):
                    typer.echo(
                        f"cannot rebuild {name}: its database's schema is at {current or 'none yet'}, "
                        f"not {head}; run `frontdoor migrate` first; nothing was changed",
                        err=True,
                    )
                    return False
            # Every upstream must answer before any projection is wiped.
            for name, svc in built:
                for consumer in svc.consumers:
                    try:
                        await consumer.probe()
                    except UpstreamError as exc:
                        typer.echo(f"cannot rebuild {name}: {exc}; nothing was changed", err=True)
                        return False
            for name, svc in built:
                for consumer in svc.consumers:
                    try:
                        applied = await consumer.rebuild()
                    except UpstreamError as exc:
                        # Each batch committed with its position: the service's consumer goes on from there.
                        typer.echo(
                            f"rebuild of {name} stopped: {exc}; {consumer.feed} is replayed up to position "
                            f"{consumer.status.position}, and the service's consumer goes on from there "
                            "(or run the rebuild again)",
                            err=True,
                        )
                        return False
                    typer.echo(
                        json.dumps(
                            {
                                "service": name,
                                "feed": consumer.feed,
                                "applied": applied,
                                "position": consumer.status.position,
                            }
                        )
                    )
            return True
        finally:
            for _, svc in built:
                for consumer in svc.consumers:
                    await consumer.close()
                await svc.db.dispose()

    with reported(names[0] if len(names) == 1 else "rebuild"):
        done = asyncio.run(run())
    if not done:
        raise typer.Exit(1)


@app.command()
def revision(
    service: Annotated[str, typer.Argument(help="Service whose schema changed.")],
    message: Annotated[str, typer.Option("-m", help="What the change is.")],
) -> None:
    """(Development) autogenerate a migration for one service against a scratch database."""
    import tempfile

    from alembic import command

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/scratch.db"

        async def prepare() -> None:
            db = Database(url)
            await upgrade(service, db.engine)
            await db.dispose()

        asyncio.run(prepare())
        cfg = alembic_config(service, url)
        command.revision(cfg, message=message, autogenerate=True)


# `frontdoor seed` lives in frontdoor/seed.py (a synthetic year through the services).
from frontdoor.seed import seed_command  # noqa: E402

app.command(name="seed")(seed_command)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
