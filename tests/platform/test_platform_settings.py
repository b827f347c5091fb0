"""Issue 2, item 1: settings per service (env prefix, SQLite default) and production refusals."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from frontdoor.registry import SERVICES
from frontdoor.run import settings_problems
from shared.auth import service_token_provider
from shared.observability import configure_logging
from shared.settings import DEV_JWT_SECRET, Environment

STRONG_SECRET = "s" * 48
PG_URL = "postgresql+asyncpg://app@db.internal:5432/frontdoor"


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No inherited settings: a clean environment and a working directory without a .env file."""
    for name in SERVICES:
        for var in ("DATABASE_URL", "PORT", "SERVICE_TOKEN", "MAX_BODY_BYTES"):
            monkeypatch.delenv(f"{name.upper()}_{var}", raising=False)
    for var in ("ENVIRONMENT", "JWT_SECRET", "JWT_ALGORITHM", "JWT_JWKS_URL", "JWT_PUBLIC_KEY_PEM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def test_each_service_reads_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SERVICES:
        monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", f"postgresql+asyncpg://u@h/{name}_db")
        monkeypatch.setenv(f"{name.upper()}_MAX_BODY_BYTES", str(1000 + len(name)))
    for name, entry in SERVICES.items():
        settings = entry.settings()
        assert settings.service_name == name
        assert settings.database_url == f"postgresql+asyncpg://u@h/{name}_db"
        assert settings.max_body_bytes == 1000 + len(name)


def test_another_services_prefix_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISION_DATABASE_URL", "postgresql+asyncpg://u@h/supervision_db")
    monkeypatch.setenv("SUPERVISION_PORT", "9999")
    referrals = SERVICES["referrals"].settings()
    assert referrals.database_url != "postgresql+asyncpg://u@h/supervision_db"
    assert referrals.port == 8001


@pytest.mark.parametrize("url", ["postgresql+asyncpg://u@h", "postgresql+asyncpg://u@h:5432/"])
def test_a_postgresql_url_naming_no_database_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL would pick the role's default database, which another service may be using too."""
    monkeypatch.setenv("REFERRALS_DATABASE_URL", url)
    with pytest.raises(ValidationError, match="names no database"):
        SERVICES["referrals"].settings()


def test_sqlite_file_under_var_by_default(tmp_path) -> None:
    for name, entry in SERVICES.items():
        settings = entry.settings()
        url = make_url(settings.database_url)
        assert url.get_backend_name() == "sqlite"
        assert url.get_driver_name() == "aiosqlite"
        assert url.database == f"var/{name}.db"  # relative: ./var/<service>.db under the working dir
        assert settings.is_sqlite


def test_development_is_the_default_environment() -> None:
    settings = SERVICES["referrals"].settings()
    assert settings.environment is Environment.development
    assert settings.jwt_secret == DEV_JWT_SECRET


@pytest.mark.parametrize("secret", [DEV_JWT_SECRET, "short-secret"])
def test_production_refuses_the_development_or_a_weak_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("REFERRALS_DATABASE_URL", PG_URL)
    monkeypatch.setenv("JWT_SECRET", secret)
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        SERVICES["referrals"].settings()


def test_production_refuses_the_default_secret_when_none_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("REFERRALS_DATABASE_URL", PG_URL)
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        SERVICES["referrals"].settings()


def test_production_refuses_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("REFERRALS_DATABASE_URL", "sqlite+aiosqlite:///var/referrals.db")
    with pytest.raises(ValidationError, match="SQLite"):
        SERVICES["referrals"].settings()


def test_production_refuses_the_implicit_sqlite_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """No <SERVICE>_DATABASE_URL in production must not quietly fall back to the SQLite file."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    for entry in SERVICES.values():
        with pytest.raises(ValidationError, match="SQLite"):
            entry.settings()


def test_production_accepts_a_strong_secret_and_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("REFERRALS_DATABASE_URL", PG_URL)
    settings = SERVICES["referrals"].settings()
    assert settings.environment is Environment.production
    assert not settings.is_sqlite


def test_production_rs256_needs_a_key_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("REFERRALS_DATABASE_URL", PG_URL)
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    with pytest.raises(ValidationError, match="JWKS"):
        SERVICES["referrals"].settings()
    monkeypatch.setenv("JWT_JWKS_URL", "https://idp.example/jwks.json")
    assert SERVICES["referrals"].settings().jwt_jwks_url == "https://idp.example/jwks.json"


def test_production_consumers_need_a_configured_service_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("REPORTING_DATABASE_URL", PG_URL)
    settings = SERVICES["reporting"].settings()
    with pytest.raises(ValueError, match="SERVICE_TOKEN"):
        service_token_provider(settings)
    monkeypatch.setenv("REPORTING_SERVICE_TOKEN", "issued-by-the-idp")
    assert service_token_provider(SERVICES["reporting"].settings())() == "issued-by-the-idp"


@pytest.mark.parametrize("name", list(SERVICES))
@pytest.mark.parametrize("port", ["0", "-5", "65536", "70000"])
def test_a_port_no_socket_can_have_is_refused(name: str, port: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` and `serve` bound it as given: outside 1-65535 that was a traceback (OverflowError), and 0 a
    port picked at random that the banner printed as 0."""
    monkeypatch.setenv(f"{name.upper()}_PORT", port)
    with pytest.raises(ValidationError, match="port"):
        SERVICES[name].settings()


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("REFERRALS_MAX_BODY_BYTES", "0", "max_body_bytes"),  # every body refused with 413
        ("REFERRALS_MAX_BODY_BYTES", "-1", "max_body_bytes"),
        ("SUPERVISION_MAX_BODY_BYTES", "0", "max_body_bytes"),  # its own, larger default: bounded alike
        ("REFERRALS_RATE_LIMIT_PER_MINUTE", "-5", "rate_limit_per_minute"),  # silently no limit at all
        ("REFERRALS_JWT_LEEWAY_SECONDS", "-100000", "jwt_leeway_seconds"),  # every token refused with 401
    ],
)
def test_a_limit_that_refuses_every_request_or_none_is_refused(
    variable: str, value: str, field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each was taken, and the service reported itself ready while it answered every request 413 or
    401 (or, for a negative rate, limited nothing, where only 0 is documented to turn it off)."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=field):
        SERVICES[variable.split("_")[0].lower()].settings()


def test_reporting_refuses_a_supervision_interval_for_no_service_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the supervision service refuses SUPERVISION_FREQUENCY_WORKING_DAYS for a type it does not
    know: a misspelt one was kept and never matched, so that type's journeys took the default
    interval in the report while the supervision service used the one meant."""
    monkeypatch.setenv("REPORTING_SUPERVISION_INTERVAL_WORKING_DAYS", '{"asessment": 15}')
    with pytest.raises(ValidationError, match="supervision_interval_working_days"):
        SERVICES["reporting"].settings()
    monkeypatch.setenv("REPORTING_SUPERVISION_INTERVAL_WORKING_DAYS", '{"assessment": 15}')
    settings = SERVICES["reporting"].settings()
    assert settings.supervision_interval(service_type="assessment") == 15  # type: ignore[attr-defined]
    # A map changes only the types it names: front_door keeps the policy's 20.
    assert settings.supervision_interval(service_type="front_door") == 20  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("supervision", "SUPERVISION_REFERRALS_URL"),
        ("reporting", "REPORTING_REFERRALS_URL"),
        ("reporting", "REPORTING_SUPERVISION_URL"),
    ],
)
@pytest.mark.parametrize("url", ["referrals:8001", "not a url", "ftp://referrals", "http://", "http://[::1"])
def test_an_upstream_feed_url_no_request_can_be_sent_to_is_refused(
    service: str, variable: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service started and said it was ready while its consumer failed every poll
    (UnsupportedProtocol), and `frontdoor rebuild` ended in a traceback (InvalidURL)."""
    monkeypatch.setenv(variable, url)
    with pytest.raises(ValidationError, match=variable.split("_", 1)[1].lower()):
        SERVICES[service].settings()


@pytest.mark.parametrize(
    "url", ["http://referrals:8001", "https://feeds.example.org/referrals", "http://[::1]:9101"]
)
def test_an_upstream_feed_url_over_http_is_taken(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTING_REFERRALS_URL", url)
    assert SERVICES["reporting"].settings().referrals_url == url  # type: ignore[attr-defined]


@pytest.mark.parametrize(("given", "level"), [("debug", "DEBUG"), ("Warning", "WARNING"), (" INFO ", "INFO")])
def test_a_log_level_is_taken_in_any_case(given: str, level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`REFERRALS_LOG_LEVEL=debug` reached logging as "debug", which it does not know: every service
    failed to start with a traceback."""
    monkeypatch.setenv("REFERRALS_LOG_LEVEL", given)
    settings = SERVICES["referrals"].settings()
    assert settings.log_level == level
    root = logging.getLogger()
    before = root.level
    try:
        configure_logging(settings.log_level)  # what create_app does first
        assert root.level == getattr(logging, level)
    finally:
        root.setLevel(before)


def test_an_unknown_log_level_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRALS_LOG_LEVEL", "verbose")
    with pytest.raises(ValidationError, match="log_level"):
        SERVICES["referrals"].settings()


@pytest.mark.parametrize("algorithm", ["none", "HS999", "RS265", ""])
def test_a_jwt_algorithm_no_token_can_be_verified_with_is_refused(
    algorithm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted before, it failed every request instead (401 for every token, 500 for one claiming
    "none", as PyJWT refuses a key with it), while the service reported itself ready."""
    monkeypatch.setenv("JWT_ALGORITHM", algorithm)
    monkeypatch.setenv("JWT_PUBLIC_KEY_PEM", "-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ValidationError, match="JWT_ALGORITHM"):
        SERVICES["referrals"].settings()


def test_a_jwt_algorithm_is_taken_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "hs512")
    assert SERVICES["referrals"].settings().jwt_algorithm == "HS512"
    monkeypatch.setenv("JWT_ALGORITHM", "eddsa")
    monkeypatch.setenv("JWT_JWKS_URL", "https://idp.example/jwks.json")
    assert SERVICES["referrals"].settings().jwt_algorithm == "EdDSA"


@pytest.mark.parametrize("algorithm", ["ES256", "PS256", "EdDSA"])
def test_every_public_key_algorithm_needs_a_key_source(
    algorithm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only RS* was checked: ES256 without JWKS or PEM started, then refused every token."""
    monkeypatch.setenv("JWT_ALGORITHM", algorithm)
    with pytest.raises(ValidationError, match="JWT_JWKS_URL or JWT_PUBLIC_KEY_PEM"):
        SERVICES["referrals"].settings()
    monkeypatch.setenv("JWT_JWKS_URL", "https://idp.example/jwks.json")
    assert SERVICES["referrals"].settings().jwt_algorithm == algorithm


def test_consumers_under_an_identity_provider_need_a_configured_service_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With RS256 there is no secret to mint a service token with: the consumers polled for ever,
    logging InvalidKeyError, while the service said it was ready."""
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_JWKS_URL", "https://idp.example/jwks.json")
    for name in ("supervision", "reporting"):
        with pytest.raises(ValueError, match=f"{name.upper()}_SERVICE_TOKEN"):
            service_token_provider(SERVICES[name].settings())
        monkeypatch.setenv(f"{name.upper()}_SERVICE_TOKEN", "issued-by-the-idp")
        assert service_token_provider(SERVICES[name].settings())() == "issued-by-the-idp"


@pytest.mark.parametrize("service", ["reporting", "referrals"])
@pytest.mark.parametrize(("start", "end"), [("17:00", "09:00"), ("09:00", "09:00"), ("09:00+01:00", "17:00")])
def test_office_hours_that_are_no_day_are_refused(
    service: str, start: str, end: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The working calendar refuses them, but only when the service was built: `serve reporting` and
    `rebuild` ended in a traceback while `migrate` said nothing. Referrals closes its T1 day with them
    too (set as reporting's are)."""
    prefix = service.upper()
    monkeypatch.setenv(f"{prefix}_OFFICE_START", start)
    monkeypatch.setenv(f"{prefix}_OFFICE_END", end)
    with pytest.raises(ValidationError, match="office"):
        SERVICES[service].settings()


@pytest.mark.parametrize("name", ["referrals", "supervision"])
@pytest.mark.parametrize("seconds", ["86401", "100000000000000", "-1"])
def test_a_future_tolerance_beyond_a_day_is_refused(
    name: str, seconds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unbounded, a huge tolerance overflowed `now + tolerance` (or timedelta itself): every request
    that checks a time against the future answered 500 while the service reported itself ready."""
    monkeypatch.setenv(f"{name.upper()}_FUTURE_TOLERANCE_SECONDS", seconds)
    with pytest.raises(ValidationError) as refused:
        SERVICES[name].settings()
    assert settings_problems(refused.value).startswith("future_tolerance_seconds: ")
    monkeypatch.setenv(f"{name.upper()}_FUTURE_TOLERANCE_SECONDS", "86400")
    assert SERVICES[name].settings().future_tolerance_seconds == 86400  # type: ignore[attr-defined]


def test_referrals_takes_the_decision_timescales_reporting_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision on the day of receipt is 0 working days after it under day_0 counting, as
    REPORTING_DECISION_WITHIN_WORKING_DAYS may say; day_1 counting has no day 0."""
    monkeypatch.setenv("REFERRALS_DECISION_DEADLINE_WORKING_DAYS", "0")
    assert SERVICES["referrals"].settings().decision_deadline_working_days == 0
    monkeypatch.setenv("REFERRALS_COUNTING", "day_1")
    with pytest.raises(ValidationError, match="at least 1 working day"):
        SERVICES["referrals"].settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REFERRALS_BACKDATING_THRESHOLD_HOURS", "inf"),  # every contact's intake a 500 (timedelta)
        ("REFERRALS_BACKDATING_THRESHOLD_HOURS", "1e300"),
        ("REFERRALS_DECISION_DEADLINE_WORKING_DAYS", "3000000"),  # every due time past year 9999
        ("REFERRALS_DECISION_DEADLINE_WORKING_DAYS", "261"),
    ],
)
def test_referrals_refuses_a_threshold_no_duration_or_calendar_can_hold(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As reporting refuses its own: bounded at a hundred years of hours and 260 working days."""
    monkeypatch.setenv(variable, value)
    field = variable.removeprefix("REFERRALS_").lower()
    with pytest.raises(ValidationError, match=field):
        SERVICES["referrals"].settings()


def test_referrals_takes_its_longest_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRALS_BACKDATING_THRESHOLD_HOURS", str(24 * 365 * 100))
    monkeypatch.setenv("REFERRALS_DECISION_DEADLINE_WORKING_DAYS", "260")
    settings = SERVICES["referrals"].settings()
    assert settings.decision_due_at(datetime(9998, 12, 31, 12, tzinfo=UTC)).year == 9999  # type: ignore[attr-defined]


@pytest.mark.parametrize("hours", ["0", "-1", "8785", "inf", "nan", "1e300", "soon"])
def test_referrals_refuses_a_due_soon_window_of_nothing_or_beyond_a_year(
    hours: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work list's due-soon window: a window of nothing is no queue, and beyond a leap year of
    hours `now + window` is past any T1 timescale (inf or 1e300 no timedelta can hold)."""
    monkeypatch.setenv("REFERRALS_DUE_SOON_HOURS", hours)
    with pytest.raises(ValidationError) as refused:
        SERVICES["referrals"].settings()
    assert settings_problems(refused.value).startswith("due_soon_hours: ")


def test_referrals_takes_a_due_soon_window_of_minutes_to_a_year(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SERVICES["referrals"].settings().due_soon_hours == 4  # type: ignore[attr-defined]
    now = datetime(2026, 9, 1, 12, tzinfo=UTC)  # Tuesday 13:00 BST, after the summer bank holiday
    monkeypatch.setenv("REFERRALS_DUE_SOON_HOURS", "0.25")
    settings = SERVICES["referrals"].settings()
    assert settings.due_soon_until(now) == datetime(2026, 9, 1, 12, 15, tzinfo=UTC)  # type: ignore[attr-defined]
    # Due by 13:15 BST today: none is; due at or after it is due at today's close or later, as is
    # every contact received from Thursday's close (17:00 BST) on.
    cutoff = settings.decision_due_cutoff(datetime(2026, 9, 1, 12, 15, tzinfo=UTC))  # type: ignore[attr-defined]
    assert cutoff == datetime(2026, 8, 27, 16, tzinfo=UTC)
    monkeypatch.setenv("REFERRALS_DUE_SOON_HOURS", str(24 * 366))
    settings = SERVICES["referrals"].settings()
    assert settings.due_soon_until(now) == datetime(2027, 9, 2, 12, tzinfo=UTC)  # type: ignore[attr-defined]
    assert settings.decision_due_cutoff(settings.due_soon_until(now)) > now  # type: ignore[attr-defined]
