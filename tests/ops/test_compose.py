"""docker-compose.yml and the Dockerfile agree with the code: services, ports, settings, health, order.

No Docker engine runs here, so the file is checked against the settings classes and the CLI instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import AliasChoices, TypeAdapter

from frontdoor import run as running
from frontdoor.cli import app as cli_app
from frontdoor.registry import SERVICES
from shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
APP_SERVICES = list(SERVICES)
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def resolved(value: object) -> str:
    """A value as compose would see it with no overrides in the environment: ${VAR:-default} -> default."""
    return INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))


def env_names(cls: type[ServiceSettings]) -> set[str]:
    """Every environment variable a settings class reads (pydantic-settings: prefix + field, or alias)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def upstream_fields(name: str) -> dict[str, str]:
    """{upstream service: env var} for each upstream feed URL a service's settings ask for."""
    cls = running.settings_class(name)
    prefix = running.env_prefix(name)
    return {other: f"{prefix}{other}_URL".upper() for other in SERVICES if f"{other}_url" in cls.model_fields}


def environment(service: str) -> dict[str, str]:
    env = COMPOSE["services"][service].get("environment", {})
    assert isinstance(env, dict), f"{service}: write environment as a mapping"
    return {str(k): resolved(v) for k, v in env.items()}


def default_port(name: str) -> int:
    return int(running.settings_class(name).model_fields["port"].default)


def test_the_stack_is_postgres_a_migration_step_and_the_three_services():
    assert set(COMPOSE["services"]) == {"postgres", "migrate", *APP_SERVICES}
    postgres = COMPOSE["services"]["postgres"]
    assert str(postgres["image"]).startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "pgdata" in COMPOSE.get("volumes", {})


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_sets_only_variables_its_settings_read(name):
    env = environment(name)
    valid = env_names(running.settings_class(name))
    unknown = sorted(set(env) - valid)
    assert not unknown, f"{name}: {unknown} are not settings of {name} (valid: {sorted(valid)})"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_has_its_own_postgres_database(name):
    prefix = running.env_prefix(name)
    url = environment(name)[f"{prefix}DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
    assert url.rsplit("/", 1)[1] == name
    # The migration step upgrades exactly the database the service then uses.
    assert environment("migrate")[f"{prefix}DATABASE_URL"] == url


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_each_database_url_logs_in_as_the_postgres_containers_user(name):
    """A user or password the postgres container was not given fails every connection at start-up."""
    from sqlalchemy.engine import make_url

    server = environment("postgres")
    for var, value in environment(name).items():
        if var.endswith("_DATABASE_URL"):
            url = make_url(value)
            assert (url.username, url.password) == (server["POSTGRES_USER"], server["POSTGRES_PASSWORD"]), var
            assert (url.host, url.port) == ("postgres", 5432), var


@pytest.mark.parametrize("name", APP_SERVICES)
def test_consumers_read_their_upstreams_at_the_compose_addresses(name):
    env = environment(name)
    for upstream, var in upstream_fields(name).items():
        assert env.get(var) == f"http://{upstream}:{default_port(upstream)}", f"{name}: {var}"
    for var in env:
        if (
            var.endswith("_URL")
            and var != f"{running.env_prefix(name)}DATABASE_URL"
            and var != "JWT_JWKS_URL"
        ):
            assert var in upstream_fields(name).values(), f"{name}: unexpected {var}"


def test_supervision_and_reporting_are_the_consumers():
    # Guards the previous test against passing vacuously if upstream settings were renamed.
    assert set(upstream_fields("supervision")) == {"referrals"}
    assert set(upstream_fields("reporting")) == {"referrals", "supervision"}
    assert upstream_fields("referrals") == {}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_listens_on_all_interfaces_at_its_port(name):
    service = COMPOSE["services"][name]
    port = default_port(name)
    prefix = running.env_prefix(name)
    env = environment(name)
    assert env[f"{prefix}HOST"] == "0.0.0.0"
    assert int(env.get(f"{prefix}PORT", port)) == port
    assert f"{port}:{port}" in [str(p) for p in service["ports"]]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_is_health_checked_on_readiness(name):
    check = COMPOSE["services"][name]["healthcheck"]
    command = " ".join(str(part) for part in check["test"])
    assert f"127.0.0.1:{default_port(name)}/health/ready" in command
    assert check["test"][0] in ("CMD", "CMD-SHELL") and int(check["retries"]) >= 1


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_service_starts_after_postgres_is_healthy_and_migrations_succeeded(name):
    depends = COMPOSE["services"][name]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_migrations_run_once_after_postgres_is_healthy():
    migrate = COMPOSE["services"]["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert str(migrate.get("restart", "no")) == "no"
    assert migrate["command"][:2] == ["frontdoor", "migrate"]
    env = environment("migrate")
    valid = set().union(*(env_names(running.settings_class(n)) for n in APP_SERVICES))
    assert not sorted(set(env) - valid)
    for name in APP_SERVICES:
        assert f"{running.env_prefix(name)}DATABASE_URL" in env


def identity_variables() -> set[str]:
    """The settings every service reads under one name, without its prefix: mode and token checks."""
    return {
        info.validation_alias
        for info in ServiceSettings.model_fields.values()
        if isinstance(info.validation_alias, str)
    }


def test_all_services_share_one_identity_configuration():
    # A token minted for one service must verify at the others, and all run in the same mode.
    assert {"ENVIRONMENT", "JWT_SECRET", "JWT_ALGORITHM", "JWT_JWKS_URL"} <= identity_variables()
    for var in identity_variables():
        values = {environment(s).get(var) for s in ["migrate", *APP_SERVICES]}
        assert len(values) == 1 and None not in values, var


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_identity_configuration_comes_from_the_hosts_environment(name):
    """As the file's header says: production sets ENVIRONMENT, JWT_SECRET or a JWKS, on the host;
    a variable the file does not pass on never reaches the containers."""
    env = COMPOSE["services"][name]["environment"]
    for var in identity_variables():
        assert re.fullmatch(rf"\$\{{{var}(:?-[^}}]*)?\}}", str(env.get(var))), f"{name}: {var}"
    resolved_env = environment(name)
    for info in ServiceSettings.model_fields.values():
        if isinstance(var := info.validation_alias, str):
            # With nothing set on the host, each is the settings' own default (an empty one is none).
            value = resolved_env[var]
            given = None if value == "" else TypeAdapter(info.annotation).validate_python(value)
            assert given == info.default, var


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_each_container_runs_a_real_frontdoor_command(name):
    service = COMPOSE["services"][name]
    assert service["build"] in (".", {"context": "."})
    argv = [str(a) for a in service["command"]]
    assert argv[0] == "frontdoor"
    group = typer.main.get_command(cli_app)
    sub = group.commands[argv[1]]  # type: ignore[attr-defined]
    context = sub.make_context(argv[1], argv[2:])  # raises on an unknown option or service argument
    if name != "migrate":
        assert argv[1:3] == ["serve", name]
        # The migration step has already run; concurrent replicas must not race to migrate.
        assert "--no-migrate" in argv
        # A --port or --host on the command line wins over <SERVICE>_PORT and <SERVICE>_HOST: the
        # service would listen where neither its published port nor its health check looks.
        assert context.params["port"] in (None, default_port(name)), f"{name}: --port"
        assert context.params["host"] in (None, "0.0.0.0"), f"{name}: --host"


def test_dockerfile_installs_from_the_lock_file():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert dockerfile.count("uv sync --locked") == 2
    for package in ("frontdoor", "shared", "services", "migrations"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "USER frontdoor" in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "var" in ignored


def test_the_images_default_command_is_a_real_frontdoor_command_on_the_exposed_ports():
    dockerfile = (REPO / "Dockerfile").read_text()
    [cmd] = re.findall(r"^CMD (\[.*\])\s*$", dockerfile, re.M)
    argv = [str(a) for a in yaml.safe_load(cmd)]
    assert argv[0] == "frontdoor"
    group = typer.main.get_command(cli_app)
    sub = group.commands[argv[1]]  # type: ignore[attr-defined]
    sub.make_context(argv[1], argv[2:])  # raises on an unknown option
    [expose] = re.findall(r"^EXPOSE (.*)$", dockerfile, re.M)
    assert sorted(int(p) for p in expose.split()) == sorted(default_port(n) for n in APP_SERVICES)
