"""`frontdoor up` and `frontdoor serve` as a user runs them: real processes, real ports, real signals."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import threading
from pathlib import Path

import httpx
import jwt
import pytest
from ops_helpers import BACKEND, free_port, pg_database_exists, pid_gone, port_is_free, wait_for
from typer.testing import CliRunner

from frontdoor import run as running
from frontdoor.cli import app as cli_app
from frontdoor.registry import SERVICES, shared_database
from shared.auth import Role

ROLES = ["practitioner", "manager", "analyst", "partner", "service", "admin"]
SERVICE_LINE = re.compile(r"^\s+(referrals|supervision|reporting)\s+(http://\S+)\s+docs (\S+)\s+pid (\d+)$")
TOKEN_LINE = re.compile(r"^\s+(" + "|".join(ROLES) + r")\s+(ey\S+)$")


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_up_runs_all_three_then_stops_cleanly_on_ctrl_c(frontdoor, fresh_db_urls):
    ports = {name: free_port() for name in SERVICES}
    up = frontdoor(
        "up",
        "--referrals-port",
        str(ports["referrals"]),
        "--supervision-port",
        str(ports["supervision"]),
        "--reporting-port",
        str(ports["reporting"]),
    )
    up.wait_output("Press Ctrl-C to stop.")

    services = {m[1]: m for line in up.out if (m := SERVICE_LINE.match(line))}
    assert sorted(services) == ["referrals", "reporting", "supervision"]
    pids = {}
    for name, port in ports.items():
        _, _, url, docs, pid = services[name].group(0, 1, 2, 3, 4)
        assert url == f"http://127.0.0.1:{port}"
        assert docs == f"http://127.0.0.1:{port}/docs"
        pids[name] = int(pid)
    tokens = {m[1]: m[2] for line in up.out if (m := TOKEN_LINE.match(line))}
    assert sorted(tokens) == sorted(ROLES)
    for role, token in tokens.items():
        assert jwt.decode(token, options={"verify_signature": False})["roles"] == [role]

    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    for name, url in urls.items():
        wait_for(lambda url=url: ready(url), 30, f"{name} ready")
        body = httpx.get(f"{url}/health/ready").json()
        assert body["migrations"]["current"] == body["migrations"]["head"] is not None
        assert httpx.get(f"{url}/docs").status_code == 200
        assert httpx.get(f"{url}/openapi.json").status_code == 200

    # Every consumer reaches its upstream feed, so its URL points at the port actually used.
    def consumers_connected(url: str) -> bool:
        consumers = httpx.get(f"{url}/health/ready").json()["consumers"]
        return all(c["upstream_ok"] for c in consumers)

    for name, url in urls.items():
        wait_for(lambda url=url: consumers_connected(url), 30, f"{name}'s consumers reaching upstream")

    # The printed tokens are accepted by the running services, with their roles honoured.
    audit = f"{urls['referrals']}/audit"
    assert httpx.get(audit, headers=bearer(tokens["admin"])).status_code == 200
    assert httpx.get(audit, headers=bearer(tokens["practitioner"])).status_code == 403
    assert httpx.get(audit).status_code == 401
    feed = httpx.get(f"{urls['supervision']}/events", headers=bearer(tokens["service"]))
    assert feed.status_code == 200 and feed.json()["events"] == []

    # Migrations ran before anything started: each service's own database exists at head.
    if BACKEND == "sqlite":
        for name, url in fresh_db_urls.items():
            assert Path(url.split("///", 1)[1]).exists(), name

    # A service killed outright is restarted on the same port; the others keep serving.
    os.kill(pids["reporting"], signal.SIGKILL)
    up.wait_output("reporting restarted (pid", stream="err")
    restarted = next(line for line in up.err if "reporting restarted (pid" in line)
    pids["reporting (restarted)"] = int(re.findall(r"pid (\d+)", restarted)[0])
    assert pids["reporting (restarted)"] != pids["reporting"]
    wait_for(lambda: ready(urls["reporting"]), 60, "reporting ready again")
    assert ready(urls["referrals"])

    # A request in flight when Ctrl-C arrives is answered in full (uvicorn's graceful shutdown).
    answer: dict[str, httpx.Response | Exception] = {}

    def long_poll() -> None:
        try:
            answer["r"] = httpx.get(
                f"{urls['referrals']}/events",
                params={"after": 0, "wait": 2},
                headers=bearer(tokens["service"]),
                timeout=30,
            )
        except Exception as exc:
            answer["r"] = exc

    poller = threading.Thread(target=long_poll)
    poller.start()
    # Give the long poll time to reach the server (it then waits 2 s for events that never come).
    wait_for(lambda: poller.is_alive(), 5, "long poll started")
    threading.Event().wait(1.0)
    up.proc.send_signal(signal.SIGINT)
    assert up.wait_exit(timeout=60) == 0, up.stderr[-3000:]
    poller.join(timeout=30)
    response = answer["r"]
    assert isinstance(response, httpx.Response), f"in-flight request was cut off: {response!r}"
    assert response.status_code == 200 and response.json()["events"] == []

    assert "frontdoor: stopped" in up.stdout
    for name, pid in pids.items():
        wait_for(lambda pid=pid: pid_gone(pid), 10, f"{name} process gone")
    for port in ports.values():
        assert port_is_free(port)


def test_up_says_which_services_are_live_but_not_ready(frontdoor, fresh_db_urls):
    """`up --no-migrate` on a database never migrated said "frontdoor is up" as soon as the service
    answered /health/live, though /health/ready was 503 (no schema) and every request would fail.
    The banner now names each service that is live but not ready, and why."""
    import asyncio

    from shared.migrations import ensure_database

    asyncio.run(ensure_database(fresh_db_urls["referrals"]))  # there, but never migrated
    port = free_port()
    up = frontdoor("up", "--no-migrate", "--only", "referrals", "--referrals-port", str(port))
    up.wait_output("Press Ctrl-C to stop.")
    url = f"http://127.0.0.1:{port}"
    assert not ready(url)
    banner = "\n".join(up.out)
    assert "frontdoor is up" not in banner
    assert "frontdoor is live (development) but not ready: referrals" in banner
    line = next(line for line in up.out if SERVICE_LINE.match(line.split("  NOT READY")[0]))
    assert line.startswith("  referrals") and "NOT READY" in line
    assert "frontdoor migrate" in banner
    up.proc.send_signal(signal.SIGINT)
    assert up.wait_exit(timeout=60) == 0, up.stderr[-3000:]


def test_up_refuses_a_taken_port_before_starting_anything(frontdoor, fresh_db_urls):
    ports = {name: free_port() for name in SERVICES}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["supervision"]))
        squatter.listen(1)
        up = frontdoor(
            "up",
            "--referrals-port",
            str(ports["referrals"]),
            "--supervision-port",
            str(ports["supervision"]),
            "--reporting-port",
            str(ports["reporting"]),
        )
        code = up.wait_exit(timeout=120)
    assert code != 0
    assert (
        f"cannot start supervision: port {ports['supervision']} on 127.0.0.1 is already in use" in up.stderr
    )
    assert "Press Ctrl-C" not in up.stdout
    # Nothing was started or migrated, and no port is left held.
    assert port_is_free(ports["referrals"]) and port_is_free(ports["reporting"])
    for url in fresh_db_urls.values():
        if BACKEND == "sqlite":
            assert not Path(url.split("///", 1)[1]).exists()
        else:
            assert not pg_database_exists(url.rsplit("/", 1)[1])


def test_serve_runs_one_service_alone_and_stops_on_sigterm(frontdoor, tmp_path):
    port = free_port()
    # On SQLite, with no database URL at all: the embedded default ./var/reporting.db, no setup.
    unset = ("REPORTING_DATABASE_URL",) if BACKEND == "sqlite" else ()
    serve = frontdoor("serve", "reporting", "--port", str(port), unset=unset)
    url = f"http://127.0.0.1:{port}"
    serve.wait_output(f"reporting on {url}")

    def is_ready() -> bool:
        if serve.proc.poll() is not None:
            raise AssertionError(f"serve exited early:\n{serve.stderr[-3000:]}")
        return ready(url)

    wait_for(is_ready, 120, "reporting ready")
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.wait_exit(timeout=60) == 0, serve.stderr[-3000:]
    assert port_is_free(port)
    if unset:
        assert (tmp_path / "var" / "reporting.db").exists()


def test_serve_names_the_taken_port(capsys):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        assert running.serve("referrals", host="127.0.0.1", port=port, migrate=None) == 1
    err = capsys.readouterr().err
    assert f"cannot start referrals: port {port} on 127.0.0.1 is already in use" in err
    # serve's own option: --referrals-port is up's, which serve refuses.
    assert "(--port or REFERRALS_PORT)" in err and "--referrals-port" not in err


def test_up_names_its_own_port_option(capsys):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        problem = running.port_problem("supervision", "127.0.0.1", port, OSError(errno.EADDRINUSE, "in use"))
    assert problem.endswith("(--supervision-port or SUPERVISION_PORT).")


# -- the pieces, in-process -----------------------------------------------------------------------
def test_consumers_upstream_urls_point_at_the_ports_in_use():
    env = running.upstream_env(
        {"referrals": ("127.0.0.1", 9101), "supervision": ("0.0.0.0", 9102), "reporting": ("::", 9103)}
    )
    assert env["SUPERVISION_REFERRALS_URL"] == "http://127.0.0.1:9101"
    assert env["REPORTING_REFERRALS_URL"] == "http://127.0.0.1:9101"
    # A wildcard bind is reached on loopback.
    assert env["REPORTING_SUPERVISION_URL"] == "http://127.0.0.1:9102"
    assert env["REPORTING_PORT"] == "9103" and env["REPORTING_HOST"] == "::"
    assert "REFERRALS_REFERRALS_URL" not in env and "SUPERVISION_SUPERVISION_URL" not in env


def test_upstream_urls_are_left_alone_for_services_not_run_here():
    env = running.upstream_env({"reporting": ("127.0.0.1", 9103)})
    assert not any(key.endswith("_URL") for key in env)


def test_upstream_env_names_are_real_settings_fields(monkeypatch):
    env = running.upstream_env(
        {
            "referrals": ("127.0.0.1", 9201),
            "supervision": ("127.0.0.1", 9202),
            "reporting": ("127.0.0.1", 9203),
        }
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert SERVICES["supervision"].settings().referrals_url == "http://127.0.0.1:9201"  # type: ignore[attr-defined]
    reporting = SERVICES["reporting"].settings()
    assert reporting.supervision_url == "http://127.0.0.1:9202"  # type: ignore[attr-defined]
    assert reporting.port == 9203


def test_a_token_for_every_role_in_development_and_none_in_production():
    dev = SERVICES["referrals"].settings(environment="development")
    tokens = running.dev_tokens(dev)
    assert tokens is not None and sorted(tokens) == sorted(r.value for r in Role)
    prod = SERVICES["referrals"].settings(
        environment="production",
        jwt_secret="a-production-secret-that-is-long-enough-0123456789",
        database_url="postgresql+asyncpg://u@db/referrals",
    )
    assert running.dev_tokens(prod) is None


def test_two_services_on_one_port_is_refused(capsys):
    code = running.up(
        ["referrals", "supervision"],
        host="127.0.0.1",
        ports={"referrals": 9301, "supervision": 9301},
        migrate=None,
    )
    assert code == 2
    assert "port 9301" in capsys.readouterr().err


@pytest.mark.parametrize(
    "referrals_url,supervision_url",
    [
        ("sqlite+aiosqlite:///var/one.db", "sqlite+aiosqlite:///./var/../var/one.db"),
        ("postgresql+asyncpg://a@db/frontdoor", "postgresql+asyncpg://b:pw@db/frontdoor"),
    ],
)
def test_two_services_on_one_database_is_refused(referrals_url, supervision_url, monkeypatch, capsys):
    """Their tables share names and each keeps its own migration history (Alembic failed half-way)."""
    monkeypatch.setenv("REFERRALS_DATABASE_URL", referrals_url)
    monkeypatch.setenv("SUPERVISION_DATABASE_URL", supervision_url)
    code = running.up(["referrals", "supervision"], host="127.0.0.1", ports={}, migrate=None)
    assert code == 2
    assert "referrals and supervision are set to the same database" in capsys.readouterr().err
    # Another database on the same server, or another file, is each service's own.
    monkeypatch.setenv(
        "SUPERVISION_DATABASE_URL", supervision_url.replace("one", "two").replace("/frontdoor", "/sv")
    )
    settings = {name: SERVICES[name].settings() for name in ("referrals", "supervision")}
    assert shared_database(settings) is None


@pytest.mark.parametrize("host,expected", [("0.0.0.0", "http://127.0.0.1:80"), ("::", "http://[::1]:80")])
def test_printed_urls_for_wildcard_hosts_are_reachable_addresses(host, expected):
    assert running.base_url(host, 80) == expected


def test_up_and_serve_reject_unknown_services():
    runner = CliRunner()
    result = runner.invoke(cli_app, ["up", "--only", "payments"])
    assert result.exit_code == 2 and "payments" in result.output
    result = runner.invoke(cli_app, ["serve", "payments"])
    assert result.exit_code == 2 and "payments" in result.output


def test_the_banner_in_production_mints_no_tokens(capsys):
    prod = SERVICES["referrals"].settings(
        environment="production",
        jwt_secret="a-production-secret-that-is-long-enough-0123456789",
        database_url="postgresql+asyncpg://u@db/referrals",
    )
    with socket.socket() as sock:
        running._banner([running.Child("referrals", "0.0.0.0", 8001, sock)], {"referrals": prod})
    out = capsys.readouterr().out
    assert "  referrals    postgresql+asyncpg://u@db/referrals" in out
    assert "http://127.0.0.1:8001   docs http://127.0.0.1:8001/docs" in out
    assert "not minted in production" in out
    assert not any(TOKEN_LINE.match(line) for line in out.splitlines())


def test_the_banner_mints_no_tokens_when_an_identity_provider_signs_them(capsys):
    """With RS256 there is no secret to sign development tokens with: `up` ended with a traceback
    after its services had started."""
    rs256 = SERVICES["referrals"].settings(jwt_algorithm="RS256", jwt_jwks_url="https://idp.example/jwks")
    assert running.dev_tokens(rs256) is None
    with socket.socket() as sock:
        running._banner([running.Child("referrals", "127.0.0.1", 8001, sock)], {"referrals": rs256})
    out = capsys.readouterr().out
    assert "RS256" in out and "identity provider" in out
    assert not any(TOKEN_LINE.match(line) for line in out.splitlines())


def test_ports_come_from_the_option_else_the_environment_else_the_default(monkeypatch):
    monkeypatch.setenv("SUPERVISION_PORT", "9402")
    monkeypatch.setenv("REPORTING_HOST", "0.0.0.0")
    settings = {name: SERVICES[name].settings() for name in SERVICES}
    assert running.plan(settings, None, {"referrals": 9401}) == {
        "referrals": ("127.0.0.1", 9401),
        "supervision": ("127.0.0.1", 9402),
        "reporting": ("0.0.0.0", 8003),
    }
    assert running.plan(settings, "::", {})["reporting"] == ("::", 8003)


def test_the_banner_hides_database_passwords(capsys):
    secret = SERVICES["reporting"].settings(database_url="postgresql+asyncpg://fd:s3cret@db/reporting")
    with socket.socket() as sock:
        running._banner([running.Child("reporting", "127.0.0.1", 8003, sock)], {"reporting": secret})
    out = capsys.readouterr().out
    assert "s3cret" not in out and "postgresql+asyncpg://fd:***@db/reporting" in out


@pytest.mark.parametrize("command", ["up", "serve"])
def test_a_failed_migration_is_reported_and_nothing_is_served(command, monkeypatch, capsys):
    async def broken(names: list[str]) -> None:
        raise RuntimeError("database refused the upgrade")

    port = free_port()
    if command == "up":
        code = running.up(["referrals"], host="127.0.0.1", ports={"referrals": port}, migrate=broken)
    else:
        code = running.serve("referrals", host="127.0.0.1", port=port, migrate=broken)
    assert code == 1
    assert "migrations failed: RuntimeError: database refused the upgrade" in capsys.readouterr().err
    assert port_is_free(port)


@pytest.mark.parametrize("command", ["up", "serve"])
def test_a_failed_migration_is_reported_without_its_sql_or_parameters(command, capsys):
    """A database error's text holds the statement and its parameters (a data migration's may be a
    child's details): `migrate` printed the driver's first line only, `up` and `serve` all of it."""
    from sqlalchemy.exc import IntegrityError

    async def broken(names: list[str]) -> None:
        raise IntegrityError(
            "UPDATE children SET family_name = ? WHERE id = ?",
            ("Testington-00001", "c1"),
            Exception("UNIQUE constraint failed: children.nhs_number\nDETAIL: Key (nhs_number)=(9434765919)"),
        )

    port = free_port()
    if command == "up":
        code = running.up(["referrals"], host="127.0.0.1", ports={"referrals": port}, migrate=broken)
    else:
        code = running.serve("referrals", host="127.0.0.1", port=port, migrate=broken)
    assert code == 1
    err = capsys.readouterr().err
    assert "migrations failed: IntegrityError: UNIQUE constraint failed: children.nhs_number" in err
    for leaked in ("UPDATE children", "Testington", "9434765919", "sqlalche.me"):
        assert leaked not in err


@pytest.mark.parametrize("command", ["up", "serve"])
def test_a_port_out_of_range_is_named_not_a_traceback(command, monkeypatch):
    monkeypatch.setenv("REFERRALS_PORT", "70000")
    args = ["up", "--only", "referrals"] if command == "up" else ["serve", "referrals"]
    result = CliRunner().invoke(cli_app, [*args, "--no-migrate"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "port" in result.output


@pytest.mark.parametrize("command", ["up", "serve"])
def test_a_consumer_without_its_service_token_is_named_not_a_traceback(command, monkeypatch, tmp_path):
    """Where no token can be minted (production, or RS256 as here) a consumer needs its configured
    one: `serve` ended in a traceback, and `up` only said its child exited while starting."""
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_JWKS_URL", "https://idp.example/jwks.json")
    monkeypatch.delenv("REPORTING_SERVICE_TOKEN", raising=False)
    monkeypatch.setenv("REPORTING_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}")
    port = free_port()
    if command == "up":
        args = ["up", "--only", "reporting", "--reporting-port", str(port)]

        def spawn(self: running.Supervisor, child: running.Child) -> None:
            raise AssertionError(f"{child.name} was started")  # it would have run (and polled) for ever

        monkeypatch.setattr(running.Supervisor, "spawn", spawn)
    else:
        args = ["serve", "reporting", "--port", str(port)]
    result = CliRunner().invoke(cli_app, [*args, "--no-migrate"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "REPORTING_SERVICE_TOKEN" in result.output
    assert port_is_free(port)


@pytest.mark.parametrize("command", ["up", "serve", "token", "seed"])
def test_invalid_settings_are_named_without_the_values_given(command, monkeypatch):
    """pydantic's message repeats the input, secrets included: `serve` (each container's command),
    `up`, `token` and `seed` printed JWT_SECRET and the database password to stderr (container logs)."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "short-s3cr3t")
    monkeypatch.setenv("REFERRALS_DATABASE_URL", "postgresql+asyncpg://fd:dbpa55word@127.0.0.1/referrals")
    args = {
        "up": ["up", "--only", "referrals", "--no-migrate"],
        "serve": ["serve", "referrals", "--no-migrate"],
        "token": ["token", "--role", "admin"],
        "seed": ["seed", "--contacts", "10"],
    }[command]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 2, result.output
    assert "JWT_SECRET is the development secret (or too short)" in result.output
    assert "s3cr3t" not in result.output and "dbpa55word" not in result.output


@pytest.mark.parametrize("command", ["up", "serve", "migrate"])
def test_invalid_settings_name_the_service_they_belong_to(command, monkeypatch, tmp_path):
    """Referrals and supervision both have FUTURE_TOLERANCE_SECONDS: `up` and `migrate` said only
    "invalid settings: future_tolerance_seconds: ...", not whose."""
    monkeypatch.chdir(tmp_path)  # nothing is written, but were it, not in the tree
    monkeypatch.setenv("SUPERVISION_FUTURE_TOLERANCE_SECONDS", "100000000000000")
    args = {
        "up": ["up", "--no-migrate"],
        "serve": ["serve", "supervision", "--no-migrate"],
        "migrate": ["migrate"],
    }[command]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 2, result.output
    assert "supervision: invalid settings: future_tolerance_seconds: " in result.output


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (200, {"status": "ready"}, None),
        (
            503,
            {"database": "ok", "migrations": {"current": None, "head": "abc"}},
            "its database is without a schema, not at abc; run `frontdoor migrate`",
        ),
        (
            503,
            {"database": "ok", "migrations": {"current": "old", "head": "abc"}},
            "its database is at revision old, not at abc; run `frontdoor migrate`",
        ),
        (
            503,
            {"database": "unreachable (OSError)", "migrations": {"current": None, "head": "abc"}},
            "its database is unreachable (OSError)",
        ),
        (502, "not a report", "/health/ready answered 502"),
    ],
)
def test_why_a_live_service_is_not_ready(status, body, why, capsys):
    response = httpx.Response(status, json=body)
    assert running.readiness_problem(response) == why
    if why is None:
        return
    with socket.socket() as sock:
        child = running.Child("referrals", "127.0.0.1", 8001, sock)
        running._banner([child], {"referrals": SERVICES["referrals"].settings()}, {"referrals": why})
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:8001/docs   pid -  NOT READY: {why}" in out
    assert "frontdoor is up" not in out


def test_up_warns_when_reporting_counts_otherwise_than_a_producer(monkeypatch, capsys):
    """The comparison reporting's readiness shows once running, made before anything starts: a warning,
    not a refusal (the reports still serve). Stopped here by the port clash, after the warning."""
    monkeypatch.setenv("REFERRALS_DECISION_DEADLINE_WORKING_DAYS", "2")
    monkeypatch.setenv("REPORTING_BACKDATE_THRESHOLD_HOURS", "2")
    monkeypatch.setenv("SUPERVISION_FREQUENCY_WORKING_DAYS", '{"assessment": 25}')
    names = ["referrals", "supervision", "reporting"]
    code = running.up(names, host="127.0.0.1", ports=dict.fromkeys(names, 9301), migrate=None)
    assert code == 2
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert warnings == [
        "frontdoor: warning: reporting's settings disagree with those of referrals, so its reports will not"
        " count as referrals does: decision_deadline_working_days is 2 in referrals, 1 in reporting",
        "frontdoor: warning: reporting's settings disagree with those of supervision, so its reports will not"
        " count as supervision does: interval_working_days.assessment is 25 in supervision, 20 in reporting",
    ]
    # Set alike: no warning.
    monkeypatch.setenv("REPORTING_DECISION_WITHIN_WORKING_DAYS", "2")
    monkeypatch.setenv("REPORTING_SUPERVISION_INTERVAL_WORKING_DAYS", '{"assessment": 25}')
    assert running.up(names, host="127.0.0.1", ports=dict.fromkeys(names, 9301), migrate=None) == 2
    assert "warning:" not in capsys.readouterr().err
