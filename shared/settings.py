"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

import inspect
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import httpx
import jwt
from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.db import MAX_OVERFLOW, POOL_SIZE

# Well-known development secret: convenient locally, refused in production.
DEV_JWT_SECRET = "frontdoor-development-secret-change-me-0123456789"
VAR_DIR = Path("var")
# The algorithms PyJWT verifies, by their upper-case names ("none" is no signature at all).
JWT_ALGORITHMS = {name.upper(): name for name in jwt.algorithms.get_default_algorithms() if name != "none"}
# A port a socket can bind and a client can name (0 would be one picked at random, printed as 0).
# Subclasses set their default port with this type: a plain `int` there would drop the bounds.
Port = Annotated[int, Field(ge=1, le=65535)]
# Allowance for clock skew between a client's "now" and ours before a time it gives counts as future
# (REFERRALS_ and SUPERVISION_FUTURE_TOLERANCE_SECONDS). At most a day, which is generous: unbounded, a
# huge value overflowed `now + tolerance` and every request checking a time answered 500.
FutureToleranceSeconds = Annotated[int, Field(ge=0, le=86_400)]


class SettingsError(ValueError):
    """A setting the operator must fix, found only when a service is built from its settings (e.g. a
    consumer's token): reported as an invalid setting, not a traceback."""


# The drivers the services are written for (asyncio's; shared/db.py sends some statements straight
# to asyncpg), by backend.
DATABASE_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
# What SQLAlchemy's asyncpg dialect takes from a URL's query besides asyncpg.connect's own arguments.
_ASYNCPG_DIALECT_OPTIONS = {"prepared_statement_cache_size", "prepared_statement_name_func"}


def database_url_problem(value: str) -> str | None:
    """Why a database URL cannot be used by the services, or None: unparsable, a database or driver
    they do not use, a port no socket can have, or a query option asyncpg does not take (libpq's
    `sslmode` is asyncpg's `ssl`): each of those failed only when a connection was made."""
    try:
        url = make_url(value)
        port = url.port
    except ArgumentError as exc:
        return str(exc)
    except ValueError:
        # Not the message: it quotes what stood where the port was looked for, which is part of the
        # password when that holds an unencoded @ and :.
        return "what follows the host is no port number; percent-encode any @, : or / in a password"
    backend = url.get_backend_name()
    if backend not in DATABASE_DRIVERS:
        return f"{backend} is not a database the services use"
    if (wanted := f"{backend}+{DATABASE_DRIVERS[backend]}") != url.drivername:
        return f"the services reach {backend} through {wanted}, not {url.drivername}"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} is not one from 1 to 65535"
    if backend == "postgresql":
        import asyncpg

        known = set(inspect.signature(asyncpg.connect).parameters) | _ASYNCPG_DIALECT_OPTIONS
        if unknown := sorted(set(url.query) - known):
            return f"asyncpg takes no option {', '.join(unknown)} (TLS is ?ssl=require, not sslmode)"
    return None


def _usable_upstream_url(value: str) -> str:
    """A feed consumer's upstream: an http(s) URL with a host. Anything else failed every poll
    (UnsupportedProtocol) while the service said it was ready, or raised where the client was made."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a URL ({exc}); e.g. http://referrals:8001") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http:// or https:// URL naming a host, e.g. http://referrals:8001")
    return value


# The base URL of an upstream service whose feed a consumer reads (e.g. SUPERVISION_REFERRALS_URL).
UpstreamUrl = Annotated[str, AfterValidator(_usable_upstream_url)]


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class ServiceSettings(BaseSettings):
    """What every service needs. Subclasses set `env_prefix` (e.g. REFERRALS_) and defaults."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "service"
    environment: Environment = Field(default=Environment.development, validation_alias="ENVIRONMENT")
    host: str = "127.0.0.1"
    port: Port = 8000
    database_url: str = ""
    db_pool_size: int = POOL_SIZE  # why this many: shared/db.py
    db_max_overflow: int = MAX_OVERFLOW

    # Authentication: HS256 with a shared secret in development, RS256 via JWKS or PEM in production.
    jwt_issuer: str = Field(default="frontdoor-dev", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field(default="frontdoor", validation_alias="JWT_AUDIENCE")
    jwt_secret: str = Field(default=DEV_JWT_SECRET, validation_alias="JWT_SECRET")
    jwt_algorithm: str = Field(default="HS256", validation_alias="JWT_ALGORITHM")
    jwt_jwks_url: str | None = Field(default=None, validation_alias="JWT_JWKS_URL")
    jwt_public_key_pem: str | None = Field(default=None, validation_alias="JWT_PUBLIC_KEY_PEM")
    # How long a fetched JWKS is trusted before it is fetched again (a removed key stops working then).
    jwt_jwks_cache_seconds: float = Field(default=300.0, gt=0, validation_alias="JWT_JWKS_CACHE_SECONDS")
    jwt_leeway_seconds: int = Field(default=30, ge=0)  # negative: every token refused

    # Feed consumers (supervision, reporting): events per page near the head, and while well behind it
    # (start-up after downtime, a rebuild), where bigger pages spread each batch's fixed cost: the
    # feed's largest page, 10-25% faster than 2,000 on a 460 k-event rebuild (bench/NOTES.md).
    consumer_batch_size: int = Field(default=500, ge=1, le=5000)
    consumer_catch_up_batch_size: int = Field(default=5000, ge=1, le=5000)
    # Events per transaction while `frontdoor rebuild` replays a feed from zero (several pages):
    # about a fifth faster than one page of 5,000 for ~150 MiB more at the peak (bench/NOTES.md).
    consumer_rebuild_batch_size: int = Field(default=20_000, ge=1, le=100_000)

    max_body_bytes: int = Field(default=256 * 1024, ge=1)  # 0: every body refused
    # Per-caller request budget per minute; 0 disables (bulk loaders, tests).
    rate_limit_per_minute: int = Field(default=600, ge=0)
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    # The token a consumer presents to upstream feeds (role `service`); minted locally when unset in dev.
    service_token: str | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        # logging knows only the upper-case names: "debug" failed every service's start-up.
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("jwt_algorithm", mode="before")
    @classmethod
    def _known_jwt_algorithm(cls, value: Any) -> Any:
        # A name PyJWT does not know failed every request (each token's `alg` is compared with it),
        # while the service reported itself ready.
        if not isinstance(value, str):
            return value
        name = JWT_ALGORITHMS.get(value.strip().upper())
        if name is None:
            raise ValueError(
                f"JWT_ALGORITHM {value!r} is not one tokens can be verified with; use one of "
                + ", ".join(sorted(JWT_ALGORITHMS.values()))
            )
        return name

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Self:
        # The default first, so that "no DATABASE_URL" in production is refused as SQLite too.
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{VAR_DIR / (self.service_name + '.db')}"
        if (problem := database_url_problem(self.database_url)) is not None:
            # Here, not where the URL is first used: building an app, an engine or a connection
            # from it ended in a traceback (in `serve --no-migrate`, what each container runs).
            variable = f"{self.model_config.get('env_prefix', '')}DATABASE_URL".upper()
            raise ValueError(
                f"{variable} cannot be used ({problem}); use postgresql+asyncpg://... or sqlite+aiosqlite:///..."
            )
        url = make_url(self.database_url)
        # With no name, PostgreSQL picks the role's default database, which other services (or
        # anything else) may use too: each service must own its database.
        if url.get_backend_name() == "postgresql" and not url.database:
            raise ValueError("the PostgreSQL URL names no database: end it with /<database>, one per service")
        # Every algorithm but HS* verifies with a public key: without one every token is refused.
        if not self.jwt_algorithm.startswith("HS") and not (self.jwt_jwks_url or self.jwt_public_key_pem):
            raise ValueError(f"{self.jwt_algorithm} needs JWT_JWKS_URL or JWT_PUBLIC_KEY_PEM")
        if self.environment is Environment.production:
            if self.jwt_algorithm.startswith("HS") and (
                self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32
            ):
                raise ValueError("JWT_SECRET is the development secret (or too short); refused in production")
            if self.database_url.startswith("sqlite"):
                raise ValueError(
                    "the embedded SQLite database is for development only: set <SERVICE>_DATABASE_URL"
                )
        return self

    def policy(self) -> BaseModel | None:
        """What a producer serves at `GET /policy` (shared/policy.py) for its feed's readers to compare
        with theirs; None: nothing."""
        return None

    def upstream_policies(self) -> dict[str, BaseModel]:
        """The producers' policies as this service applies them, by feed (compared with what each
        serves at `GET /policy`)."""
        return {}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
