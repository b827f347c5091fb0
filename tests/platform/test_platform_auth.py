"""Issue 2, item 6: bearer JWTs (HS256 in development; RS256 by PEM or JWKS) and role checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from frontdoor import cli
from frontdoor.registry import SERVICES
from shared.auth import Role, TokenVerifier, mint_token
from shared.errors import PROBLEM_JSON, Unauthorized

INVALID = 'Bearer error="invalid_token"'


def base64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def rsa_pair() -> tuple[str, str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public, key.public_key()


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, str, Any]]:
    return {"a": rsa_pair(), "b": rsa_pair()}


def assert_401(r, challenge: str = INVALID) -> dict:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.headers["www-authenticate"] == challenge
    return r.json()


def thing_url() -> str:
    return f"/things/{uuid.uuid4()}"  # 404 once authenticated and authorised


# -- HS256 (development) --------------------------------------------------------------------------
async def test_missing_or_non_bearer_credentials(producer) -> None:
    p = await producer()
    assert_401(await p.client.get(thing_url()), "Bearer")
    assert_401(await p.client.get(thing_url(), headers={"Authorization": "Basic dXNlcjpwdw=="}), "Bearer")


async def test_a_valid_token_with_the_role_is_let_in(producer) -> None:
    p = await producer()
    r = await p.client.get(thing_url(), headers=p.auth("practitioner"))
    assert r.status_code == 404  # past authentication and authorisation


async def test_bad_signature(producer) -> None:
    p = await producer()
    forged = mint_token(
        p.settings.model_copy(update={"jwt_secret": "another-secret-" * 4}), roles=["admin"], subject="x"
    )
    body = assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {forged}"}))
    assert "InvalidSignatureError" in body["detail"]


async def test_expired_and_not_yet_valid(producer) -> None:
    p = await producer()
    expired = mint_token(p.settings, roles=["manager"], subject="x", ttl_seconds=-120)
    body = assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {expired}"}))
    assert "expired" in body["detail"]
    early = mint_token(p.settings, roles=["manager"], subject="x", not_before=int(time.time()) + 3600)
    body = assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {early}"}))
    assert "not valid yet" in body["detail"]


@pytest.mark.parametrize(
    ("field", "wrong"), [("jwt_issuer", "someone-else"), ("jwt_audience", "another-api")]
)
async def test_wrong_issuer_or_audience(producer, field: str, wrong: str) -> None:
    p = await producer()
    token = mint_token(p.settings.model_copy(update={field: wrong}), roles=["manager"], subject="x")
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {token}"}))


async def test_required_claims_and_no_alg_none(producer) -> None:
    p = await producer()
    s = p.settings
    now = int(time.time())
    no_sub = jwt.encode(
        {"iss": s.jwt_issuer, "aud": s.jwt_audience, "exp": now + 60, "roles": ["admin"]}, s.jwt_secret
    )
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {no_sub}"}))
    unsigned = jwt.encode(
        {"sub": "x", "iss": s.jwt_issuer, "aud": s.jwt_audience, "exp": now + 60, "roles": ["admin"]},
        None,
        algorithm="none",
    )
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {unsigned}"}))
    assert_401(await p.client.get(thing_url(), headers={"Authorization": "Bearer not.a.jwt"}))


@pytest.mark.parametrize(
    "claims", [{"roles": 5}, {"roles": [["manager"]]}, {"roles": ["manager"], "team": ["FD-WEST"]}]
)
async def test_a_signed_token_with_malformed_roles_or_team_is_401(producer, claims: dict) -> None:
    """A roles claim that is not a list of names, or a team that is not a name, is an invalid token
    (401), not a server error (roles 5 was a TypeError, 500)."""
    p = await producer()
    s = p.settings
    now = int(time.time())
    token = jwt.encode(
        {"sub": "x", "iss": s.jwt_issuer, "aud": s.jwt_audience, "exp": now + 60, **claims}, s.jwt_secret
    )
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "x" * 121},  # longer than any actor column: a write was a 500 on PostgreSQL
        {"sub": "staff\x001"},  # PostgreSQL refuses NUL in text: a 500 on any query with it
        {"sub": "staff\n1"},
        {"sub": ""},  # no one: audit rows, events and a partner's own contacts were recorded as ""
        {"sub": "   "},
        {"sub": "x", "team": "FD\x00WEST"},
    ],
)
async def test_a_signed_token_whose_subject_or_team_cannot_be_recorded_is_401(producer, claims: dict) -> None:
    """The subject is recorded as the actor of audit rows, events and idempotency records (at most
    120 characters) and both are compared in queries: one that cannot be is an invalid token."""
    p = await producer()
    s = p.settings
    now = int(time.time())
    token = jwt.encode(
        {"roles": ["manager"], "iss": s.jwt_issuer, "aud": s.jwt_audience, "exp": now + 60, **claims},
        s.jwt_secret,
    )
    r = await p.client.post(
        "/things", json={"label": "a", "size": 1}, headers={"Authorization": f"Bearer {token}"}
    )
    assert_401(r)
    ok = p.auth("manager", sub="x" * 120)  # the longest subject that can be recorded
    assert (await p.client.post("/things", json={"label": "b", "size": 1}, headers=ok)).status_code == 201


async def test_a_valid_token_without_the_role_is_forbidden(producer) -> None:
    p = await producer()
    r = await p.client.get(thing_url(), headers=p.auth("analyst", "partner"))
    assert r.status_code == 403
    assert r.headers["content-type"] == PROBLEM_JSON
    r = await p.client.get("/events", headers=p.auth("manager"))  # the feed is for services
    assert r.status_code == 403
    assert (await p.client.get("/events", headers=p.auth("service"))).status_code == 200


async def test_unknown_roles_are_ignored() -> None:
    settings = SERVICES["referrals"].settings(environment="test", database_url="sqlite+aiosqlite://")
    principal = TokenVerifier(settings).verify(
        mint_token(settings, roles=["manager", "emperor"], subject="m1", team="t9")
    )
    assert principal.roles == frozenset({Role.manager})
    assert principal.subject == "m1" and principal.team == "t9"


# -- Tokens verified once, then recalled ----------------------------------------------------------
@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token PyJWT is asked to decode."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr("shared.auth.jwt.decode", counting)
    return seen


def verifier(**settings: Any) -> TokenVerifier:
    return TokenVerifier(
        SERVICES["referrals"].settings(environment="test", database_url="sqlite+aiosqlite://", **settings)
    )


def test_a_token_is_decoded_once_while_it_stays_valid(decodes: list[str]) -> None:
    v = verifier()
    token = mint_token(v.settings, roles=["manager"], subject="m1", team="t9")
    first = v.verify(token)
    assert v.verify(token) == first == v.recall(token)
    assert decodes == [token]
    other = mint_token(v.settings, roles=["analyst"], subject="a1")
    assert v.recall(other) is None
    assert v.verify(other).roles == frozenset({Role.analyst})
    assert decodes == [token, other]


def test_a_failed_token_is_never_kept(decodes: list[str]) -> None:
    v = verifier()
    forged = mint_token(
        v.settings.model_copy(update={"jwt_secret": "another-secret-" * 4}), roles=["admin"], subject="x"
    )
    for _ in range(2):
        with pytest.raises(Unauthorized):
            v.verify(forged)
    assert decodes == [forged, forged] and v.recall(forged) is None


def test_a_kept_token_is_checked_against_the_clock_at_every_use(monkeypatch: pytest.MonkeyPatch) -> None:
    v = verifier(jwt_leeway_seconds=30, jwt_jwks_cache_seconds=3600)
    now = time.time()
    token = mint_token(v.settings, roles=["manager"], subject="m1", ttl_seconds=600)
    assert v.verify(token).subject == "m1"
    # Still valid within the leeway after exp, as PyJWT would have it; expired past it.
    monkeypatch.setattr("shared.auth.time.time", lambda: now + 600 + 29)
    assert v.recall(token) is not None
    monkeypatch.setattr("shared.auth.time.time", lambda: now + 600 + 31)
    assert v.recall(token) is None
    # Before nbf and iat (less the leeway), it is not valid yet.
    monkeypatch.setattr("shared.auth.time.time", lambda: now)
    v.verify(token)
    monkeypatch.setattr("shared.auth.time.time", lambda: now - 29)
    assert v.recall(token) is not None
    monkeypatch.setattr("shared.auth.time.time", lambda: now - 31)
    assert v.recall(token) is None


def test_a_kept_token_is_verified_again_once_the_key_set_would_be(
    monkeypatch: pytest.MonkeyPatch, decodes: list[str]
) -> None:
    v = verifier(jwt_jwks_cache_seconds=300)
    now = time.time()
    token = mint_token(v.settings, roles=["manager"], subject="m1")
    v.verify(token)
    monkeypatch.setattr("shared.auth.time.time", lambda: now + 299)
    assert v.recall(token) is not None
    monkeypatch.setattr("shared.auth.time.time", lambda: now + 301)
    assert v.recall(token) is None
    v.verify(token)
    assert decodes == [token, token]


def test_only_the_latest_tokens_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    v = verifier()
    monkeypatch.setattr(v, "KEPT", 2)
    tokens = [mint_token(v.settings, roles=["manager"], subject=f"m{i}") for i in range(3)]
    for token in tokens:
        v.verify(token)
    assert [v.recall(t) is not None for t in tokens] == [False, True, True]


# -- RS256 by PEM ---------------------------------------------------------------------------------
async def test_rs256_with_a_pem_public_key(producer, keys) -> None:
    private, public, _ = keys["a"]
    p = await producer(jwt_algorithm="RS256", jwt_public_key_pem=public)
    token = mint_token(p.settings, roles=["manager"], subject="m1", private_key=private)
    assert (await p.client.get(thing_url(), headers={"Authorization": f"Bearer {token}"})).status_code == 404
    other_private = keys["b"][0]
    forged = mint_token(p.settings, roles=["manager"], subject="m1", private_key=other_private)
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {forged}"}))
    # Algorithm confusion: an HS256 token keyed with the public key must not pass (built by hand:
    # PyJWT itself refuses to sign one).
    claims = {
        "sub": "m1",
        "roles": ["admin"],
        "iss": p.settings.jwt_issuer,
        "aud": p.settings.jwt_audience,
        "exp": int(time.time()) + 60,
    }
    signing_input = b".".join(
        base64url(json.dumps(part).encode()) for part in ({"alg": "HS256", "typ": "JWT"}, claims)
    )
    signature = hmac.new(public.encode(), signing_input, hashlib.sha256).digest()
    confused = (signing_input + b"." + base64url(signature)).decode()
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {confused}"}))


# -- RS256 by JWKS --------------------------------------------------------------------------------
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 in a thread; `keys` can be changed while it runs."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def jwk(self, public_key: Any, kid: str) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


async def test_rs256_with_a_jwks_url(producer, keys, jwks: JwksServer) -> None:
    private_a, _, public_a = keys["a"]
    jwks.keys = [jwks.jwk(public_a, "key-a")]
    p = await producer(jwt_algorithm="RS256", jwt_jwks_url=jwks.url)
    token = mint_token(p.settings, roles=["manager"], subject="m1", private_key=private_a, key_id="key-a")
    for _ in range(3):
        r = await p.client.get(thing_url(), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404
    assert jwks.fetches == 1  # cached
    unknown_kid = mint_token(
        p.settings, roles=["manager"], subject="m1", private_key=private_a, key_id="nope"
    )
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {unknown_kid}"}))
    wrong_key = mint_token(
        p.settings, roles=["manager"], subject="m1", private_key=keys["b"][0], key_id="key-a"
    )
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {wrong_key}"}))


async def test_a_key_withdrawn_from_the_jwks_stops_working(producer, keys, jwks: JwksServer) -> None:
    private_a, _, public_a = keys["a"]
    private_b, _, public_b = keys["b"]
    jwks.keys = [jwks.jwk(public_a, "key-a")]
    # A key set trusted for a microsecond: every verification sees the issuer's current keys.
    p = await producer(jwt_algorithm="RS256", jwt_jwks_url=jwks.url, jwt_jwks_cache_seconds=1e-6)
    token_a = mint_token(p.settings, roles=["manager"], subject="m1", private_key=private_a, key_id="key-a")
    token_b = mint_token(p.settings, roles=["manager"], subject="m1", private_key=private_b, key_id="key-b")
    assert (
        await p.client.get(thing_url(), headers={"Authorization": f"Bearer {token_a}"})
    ).status_code == 404
    jwks.keys = [jwks.jwk(public_b, "key-b")]  # the issuer rotates key a out
    assert_401(await p.client.get(thing_url(), headers={"Authorization": f"Bearer {token_a}"}))
    assert (
        await p.client.get(thing_url(), headers={"Authorization": f"Bearer {token_b}"})
    ).status_code == 404


async def test_an_unreachable_jwks_is_503_not_401(producer, keys, jwks: JwksServer) -> None:
    url = jwks.url
    jwks.httpd.shutdown()
    jwks.httpd.server_close()
    p = await producer(jwt_algorithm="RS256", jwt_jwks_url=url)
    token = mint_token(p.settings, roles=["manager"], subject="m1", private_key=keys["a"][0], key_id="key-a")
    r = await p.client.get(thing_url(), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503
    assert r.headers["content-type"] == PROBLEM_JSON
    assert "retry-after" in r.headers


def test_unauthorized_challenge_format() -> None:
    assert Unauthorized("x").headers == {"WWW-Authenticate": INVALID}
    assert Unauthorized("x", error=None).headers == {"WWW-Authenticate": "Bearer"}


# -- the CLI --------------------------------------------------------------------------------------
@pytest.fixture
def dev_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("ENVIRONMENT", "JWT_SECRET", "JWT_ALGORITHM", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_cli_token_mints_a_token_that_verifies(dev_env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli.app, ["token", "--role", "manager", "--sub", "s", "--team", "t"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    for entry in SERVICES.values():  # one development secret: every service accepts it
        principal = TokenVerifier(entry.settings()).verify(token)
        assert principal.subject == "s" and principal.team == "t"
        assert principal.roles == frozenset({Role.manager})


def test_cli_token_with_several_roles(dev_env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli.app, ["token", "-r", "admin", "-r", "service"])
    assert result.exit_code == 0, result.output
    principal = TokenVerifier(SERVICES["reporting"].settings()).verify(result.output.strip())
    assert principal.roles == frozenset({Role.admin, Role.service})


def test_cli_token_refuses_an_unknown_role(dev_env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli.app, ["token", "--role", "emperor"])
    assert result.exit_code != 0


def test_cli_token_is_refused_in_production(dev_env: pytest.MonkeyPatch) -> None:
    dev_env.setenv("ENVIRONMENT", "production")
    dev_env.setenv("JWT_SECRET", "p" * 48)
    dev_env.setenv("REFERRALS_DATABASE_URL", "postgresql+asyncpg://u@h/referrals")
    result = CliRunner().invoke(cli.app, ["token", "--role", "admin"])
    assert result.exit_code == 2
    assert "refused" in result.output


def test_cli_token_is_refused_in_production_with_the_development_secret(dev_env: pytest.MonkeyPatch) -> None:
    """The settings refuse the development secret in production: a refusal, not a traceback."""
    dev_env.setenv("ENVIRONMENT", "production")
    result = CliRunner().invoke(cli.app, ["token", "--role", "admin"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "refused" in result.output


def test_cli_token_is_refused_when_an_identity_provider_signs_the_tokens(
    dev_env: pytest.MonkeyPatch, keys
) -> None:
    """With RS256 the services verify with the provider's public key: there is no secret here to sign
    a token with (it was a traceback: PyJWT cannot sign RS256 with the HS secret)."""
    dev_env.setenv("JWT_ALGORITHM", "RS256")
    dev_env.setenv("JWT_PUBLIC_KEY_PEM", keys["a"][1])
    result = CliRunner().invoke(cli.app, ["token", "--role", "admin"])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "refused" in result.output and "RS256" in result.output


@pytest.mark.parametrize(
    ("option", "value"),
    [("--hours", hours) for hours in ("0", "-1", "nan", "inf", "-inf")]  # no lifetime, or spent already
    + [("--sub", sub) for sub in ("x" * 121, "staff\n1", "", " ")]  # a subject the services cannot record
    + [("--team", team) for team in ("FD\nWEST", "FD\x00WEST")],  # a team claim every service refuses (401)
)
def test_cli_token_refuses_a_lifetime_or_subject_it_cannot_honour(
    dev_env: pytest.MonkeyPatch, option: str, value: str
) -> None:
    """Exit 2 naming the option: neither a traceback nor a token no service would accept."""
    result = CliRunner().invoke(cli.app, ["token", "--role", "manager", option, value])
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert option in result.output
