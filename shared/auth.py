"""Bearer JWT authentication and role checks shared by every service."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from shared.errors import Forbidden, ServiceUnavailable, Unauthorized
from shared.settings import Environment, ServiceSettings, SettingsError

# The subject is stored as the actor of audit rows, journey events and idempotency records (120
# characters each), and subject and team are compared in queries: PostgreSQL refuses NUL in text.
# A blank one names no one: it is who recorded a contact (a partner reads "its own" by it), and who
# decided (the authoriser must be someone else).
SUBJECT_MAX_LENGTH = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def recordable_subject(subject: str) -> bool:
    return bool(subject.strip()) and len(subject) <= SUBJECT_MAX_LENGTH and not _CONTROL.search(subject)


def recordable_team(team: str) -> bool:
    return not _CONTROL.search(team)


class Role(StrEnum):
    practitioner = "practitioner"
    manager = "manager"
    analyst = "analyst"
    partner = "partner"  # an external system submitting contacts
    service = "service"  # an internal feed reader
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a pseudonymous staff or system id, their team and roles."""

    subject: str
    team: str | None
    roles: frozenset[Role] = field(default_factory=frozenset)

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


class TokenVerifier:
    # Tokens verified, by their exact text. A client sends one token for hours, and decoding it and
    # checking its signature and claims again took a tenth of the worker's CPU per contact. Only
    # successes are kept; the claims that depend on the time are checked again at every use, and an
    # entry lives no longer than the key set is trusted (`jwt_jwks_cache_seconds`), so a key the
    # issuer withdraws still stops working within that time.
    KEPT = 1024

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        # token -> (principal, valid from, expires, verified at), oldest first
        self._verified: dict[str, tuple[Principal, float, float, float]] = {}
        self._keeping = threading.Lock()  # verification may run in the thread pool (JWKS)
        # The key set is cached for `jwt_jwks_cache_seconds`; no per-key cache (PyJWT's never expires,
        # so a key the issuer withdrew would be accepted for the life of the process).
        self._jwks: jwt.PyJWKClient | None = (
            jwt.PyJWKClient(
                settings.jwt_jwks_url, cache_keys=False, lifespan=settings.jwt_jwks_cache_seconds, timeout=10
            )
            if settings.jwt_jwks_url
            else None
        )

    @property
    def blocks(self) -> bool:
        """True when verifying may fetch over the network (JWKS): run it off the event loop."""
        return self._jwks is not None

    def _key(self, token: str) -> Any:
        s = self.settings
        if s.jwt_algorithm.startswith("HS"):
            return s.jwt_secret
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key
        if s.jwt_public_key_pem:
            return s.jwt_public_key_pem
        raise Unauthorized("No verification key is configured.")

    def recall(self, token: str) -> Principal | None:
        """The principal of a token verified moments ago whose times still hold; None: verify it."""
        kept = self._verified.get(token)
        if kept is None:
            return None
        principal, valid_from, expires, verified_at = kept
        now, leeway = time.time(), self.settings.jwt_leeway_seconds
        fresh = now - verified_at < self.settings.jwt_jwks_cache_seconds
        if fresh and valid_from <= now + leeway and now - leeway < expires:  # PyJWT's nbf, iat and exp
            return principal
        with self._keeping:
            self._verified.pop(token, None)
        return None

    def verify(self, token: str) -> Principal:
        if (known := self.recall(token)) is not None:
            return known
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=[s.jwt_algorithm],
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.jwt_leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError:
            # Our key source is down, not the caller's token at fault: retryable.
            raise ServiceUnavailable(
                "The token signing keys cannot be fetched; retry later.",
                code="jwks_unavailable",
                headers={"Retry-After": "5"},
            ) from None
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("The token is not valid yet.") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise Unauthorized(f"The token is invalid: {type(exc).__name__}.") from None
        raw_roles = claims.get("roles", [])
        if isinstance(raw_roles, str):
            raw_roles = raw_roles.split()
        team = claims.get("team")
        # Signed but not shaped as a principal: the roles are names and the team is one (a team
        # that is not text would reach the database's comparisons as a server error).
        if (
            not isinstance(raw_roles, list)
            or not all(isinstance(r, str) for r in raw_roles)
            or not (team is None or isinstance(team, str))
        ):
            raise Unauthorized("The token is invalid: its roles or team claim is malformed.")
        subject = str(claims["sub"])
        if not recordable_subject(subject) or (team is not None and not recordable_team(team)):
            raise Unauthorized("The token is invalid: its sub or team claim cannot be recorded.")
        roles = frozenset(Role(r) for r in raw_roles if r in Role.__members__)
        principal = Principal(subject=subject, team=team, roles=roles)
        # PyJWT has checked that these are integers.
        valid_from = max(int(claims.get("nbf", 0)), int(claims.get("iat", 0)))
        with self._keeping:
            if len(self._verified) >= self.KEPT:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (principal, valid_from, int(claims["exp"]), time.time())
        return principal


def minting_refused(settings: ServiceSettings) -> str | None:
    """Why tokens cannot be minted here under these settings (None: they can, with the HS secret).

    In production tokens come from the identity provider; with a public-key algorithm (RS256 ...)
    the services verify with the provider's key, and there is no secret here to sign with."""
    if settings.environment is Environment.production:
        return "development tokens are not minted in production"
    if not settings.jwt_algorithm.startswith("HS"):
        return (
            f"JWT_ALGORITHM is {settings.jwt_algorithm}: tokens are signed by the identity provider, "
            "so none are minted here"
        )
    return None


def mint_token(
    settings: ServiceSettings,
    *,
    roles: list[str],
    subject: str,
    team: str | None = None,
    ttl_seconds: int = 8 * 3600,
    not_before: int | None = None,
    private_key: str | None = None,
    key_id: str | None = None,
) -> str:
    """Development tokens (HS256 with the shared secret unless a private key is given, then RS256;
    `key_id` sets the `kid` header a JWKS verifier looks the key up by)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": roles,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": not_before if not_before is not None else now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    if team:
        claims["team"] = team
    headers = {"kid": key_id} if key_id else None
    if private_key:
        return jwt.encode(claims, private_key, algorithm="RS256", headers=headers)
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm, headers=headers)


_bearer = HTTPBearer(auto_error=False, description="OAuth2 bearer JWT (see `frontdoor token`).")


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required.", error=None)
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.recall(credentials.credentials)  # no trip to the thread pool for a known token
    if principal is None:
        if verifier.blocks:
            principal = await run_in_threadpool(verifier.verify, credentials.credentials)
        else:
            principal = verifier.verify(credentials.credentials)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that admits only callers holding one of `roles` (403 otherwise)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(roles))}.")
        return principal

    return dependency


def service_token_provider(settings: ServiceSettings) -> Callable[[], str]:
    """The bearer token a consumer shows upstream: configured, else minted locally where it can be."""
    if settings.service_token:
        configured = settings.service_token
        return lambda: configured
    # Where no token can be minted here (production, or a public-key algorithm), minting one failed
    # at every poll: the consumers retried for ever while the service said it was ready.
    if (why := minting_refused(settings)) is not None:
        prefix = settings.model_config.get("env_prefix", "")
        raise SettingsError(
            f"{prefix}SERVICE_TOKEN must be set to a token with the service role for the feed consumers "
            f"({why})"
        )
    cache: dict[str, tuple[str, float]] = {}

    def provide() -> str:
        token, expires = cache.get("t", ("", 0.0))
        if time.time() > expires - 300:
            token = mint_token(settings, roles=[Role.service.value], subject=f"svc-{settings.service_name}")
            cache["t"] = (token, time.time() + 8 * 3600)
        return token

    return provide
