"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://frontdoor.example/problems/"
log = logging.getLogger("frontdoor.errors")


class InvalidParam(BaseModel):
    """One field at fault: where it is (body/query/path/header) and why."""

    name: str = Field(description="Dotted path of the field, e.g. `referrer.email`.")
    location: str = Field(description="body, query, path or header.")
    reason: str = Field(description="Why it is refused (never the value sent).")


class Problem(BaseModel):
    """An RFC 9457 problem document. Some problems carry extension members (RFC 9457 section 3.2),
    named in their route's description."""

    type: str = Field(description="URI identifying the kind of problem.")
    title: str = Field(description="The HTTP status's reason phrase.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong, for a person to read.")
    instance: str | None = Field(default=None, description="The request path that produced the problem.")
    invalid_params: list[InvalidParam] | None = Field(
        default=None, alias="invalid-params", description="Each invalid field (422)."
    )
    code: str | None = Field(default=None, description="A stable machine code for the rule broken.")

    model_config = {"populate_by_name": True}


class ProblemError(Exception):
    """Raise from domain code; the handler turns it into problem+json. Never commits anything."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        invalid_params: Sequence[InvalidParam] | None = None,
        headers: dict[str, str] | None = None,
        members: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.members = members
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.invalid_params = list(invalid_params) if invalid_params else None
        self.headers = headers


class NotFound(ProblemError):
    status, code = 404, "not_found"


class Conflict(ProblemError):
    status, code = 409, "conflict"


class Unprocessable(ProblemError):
    status, code = 422, "unprocessable"

    def __init__(
        self, detail: str, *, field: str | None = None, location: str = "body", code: str | None = None
    ):
        params = [InvalidParam(name=field, location=location, reason=detail)] if field else None
        super().__init__(detail, code=code, invalid_params=params)


class NotAcceptable(ProblemError):
    """None of the forms the route answers in is acceptable to the client (its Accept header)."""

    status, code = 406, "not_acceptable"

    def __init__(self, detail: str) -> None:
        super().__init__(
            detail, invalid_params=[InvalidParam(name="Accept", location="header", reason=detail)]
        )


class PreconditionFailed(ProblemError):
    status, code = 412, "precondition_failed"


class PreconditionRequired(ProblemError):
    status, code = 428, "precondition_required"


class Unauthorized(ProblemError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        # RFC 6750 section 3.1: a request without credentials gets a bare challenge (error=None).
        challenge = f'Bearer error="{error}"' if error else "Bearer"
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ProblemError):
    status, code = 403, "forbidden"


class ServiceUnavailable(ProblemError):
    status, code = 503, "unavailable"


# Database failures a client should retry, rather than bugs: SQLite primary result codes and
# PostgreSQL SQLSTATEs (class 08 connection, 53 resources, 57P shutdown/startup, 3D000 no database,
# 40001/40P01 serialization/deadlock, 55P03 lock timeout, 57014 statement timeout, 25006 read-only).
_SQLITE_UNAVAILABLE = frozenset(
    {
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_CANTOPEN",
        "SQLITE_IOERR",
        "SQLITE_FULL",
        "SQLITE_READONLY",
        "SQLITE_NOMEM",
        "SQLITE_PROTOCOL",
    }
)
_SQLSTATE_UNAVAILABLE_PREFIXES = ("08", "53", "57P", "3D000", "40001", "40P01", "55P03", "57014", "25006")


def _sqlstate(orig: Any) -> str | None:
    """The SQLSTATE of a driver's error (asyncpg's `sqlstate`, psycopg's `pgcode`), if it has one."""
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return sqlstate if isinstance(sqlstate, str) else None


def is_database_unavailable(exc: BaseException) -> bool:
    """True for failures that mean "the database cannot serve this now" (503), not a bug (500)."""
    if isinstance(exc, PoolTimeoutError):
        return True  # every pooled connection is busy
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True  # drivers raise these raw while connecting (refused, unreachable, DNS, timeout)
    if isinstance(exc, FileNotFoundError) and exc.filename is None:
        return True  # a Unix-socket connect while the server is down (no socket file); a missing
        # file opened by name carries its filename, and stays a 500
    if isinstance(exc, asyncpg.InterfaceError) and str(exc) == "connection is closed":
        return True  # the server closed a new connection while the pool was still setting it up
        # (shutting down): raised raw by asyncpg, outside SQLAlchemy's disconnect handling
    orig: Any = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        return "_".join(sqlite_name.split("_")[:2]) in _SQLITE_UNAVAILABLE
    sqlstate = _sqlstate(orig)
    return sqlstate is not None and sqlstate.startswith(_SQLSTATE_UNAVAILABLE_PREFIXES)


# A table or column this version's code expects is not there: if the database is not at this
# version's migration head (code deployed before `frontdoor migrate`), a retry will do, not a bug.
_SQLSTATE_SCHEMA_BEHIND = frozenset({"42P01", "42703"})  # undefined_table, undefined_column
_SQLITE_SCHEMA_BEHIND = ("no such table", "no such column")


def is_schema_behind(exc: BaseException) -> bool:
    """True when a statement failed for a table or column the database does not have yet."""
    orig: Any = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(getattr(orig, "sqlite_errorname", None), str):
        return str(orig).startswith(_SQLITE_SCHEMA_BEHIND)
    return _sqlstate(orig) in _SQLSTATE_SCHEMA_BEHIND


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    code: str | None = None,
    invalid_params: Sequence[InvalidParam] | None = None,
    headers: dict[str, str] | None = None,
    members: dict[str, Any] | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase
    slug = code or phrase.lower().replace(" ", "-").replace("_", "-")
    body = Problem(
        type=PROBLEM_BASE + slug.replace("_", "-"),
        title=phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        invalid_params=list(invalid_params) if invalid_params else None,
        code=code,
    ).model_dump(by_alias=True, exclude_none=True)
    # Extension members never replace the standard ones.
    body = {**(members or {}), **body}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _loc_to_field(loc: Sequence[Any]) -> tuple[str, str]:
    location = str(loc[0]) if loc else "body"
    rest = [str(p) for p in loc[1:]]
    return ".".join(rest) or location, location


def validation_params(errors: Sequence[Any]) -> list[InvalidParam]:
    params = []
    for err in errors:
        name, location = _loc_to_field(err.get("loc", ()))
        # The message, never the input: the input may hold personal data.
        params.append(InvalidParam(name=name, location=location, reason=str(err.get("msg", "invalid"))))
    return params


async def unexpected_error_response(request: Request, exc: BaseException) -> JSONResponse:
    """500 for a bug, 503 (with Retry-After) when the database is unavailable or not yet migrated to
    this version's schema. Never the message:
    exception text can carry SQL, parameters and so personal data. Logs the exception type only."""
    if is_database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem_response(
            request,
            503,
            "The database is unavailable; retry later.",
            code="database_unavailable",
            headers={"Retry-After": "2"},
        )
    # Only when the database really is behind (the app's `schema_behind` check, as readiness makes
    # it): a statement naming a table no migration makes is a bug, and stays a 500.
    schema_behind = getattr(request.app.state, "schema_behind", None)
    if is_schema_behind(exc) and schema_behind is not None and await schema_behind():
        log.error("the database schema is behind this version's: run `frontdoor migrate`")
        return problem_response(
            request,
            503,
            "The database is not yet migrated to this version of the service; retry later.",
            code="schema_not_migrated",
            headers={"Retry-After": "5"},
        )
    log.error("unhandled error: %s", type(exc).__name__, extra={"path": request.url.path}, exc_info=exc)
    return problem_response(request, 500, "An unexpected error occurred.", code="internal_error")


class UnhandledErrorMiddleware:
    """Turns any exception no handler took into a problem response *inside* the middleware stack.

    Starlette sends unhandled exceptions to ServerErrorMiddleware, outside every user middleware, and
    then re-raises them to the server (which logs the traceback and message). Catching them here means
    the 500/503 gets its X-Request-ID, is counted in the metrics, and nothing leaks into server logs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request = Request(scope)
            if started:  # too late for a problem document: the client sees a cut-off response
                log.error("error after the response started: %s", type(exc).__name__, exc_info=exc)
                return
            response = await unexpected_error_response(request, exc)
            await response(scope, receive, send)


def _malformed_json(request: Request) -> JSONResponse:
    return problem_response(request, 400, "The request body is not valid JSON.", code="malformed_json")


def install_error_handlers(app: FastAPI) -> None:
    """Problem+json for every error. Call before adding other middleware (its catch-all goes innermost)."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            request,
            exc.status,
            exc.detail,
            code=exc.code,
            invalid_params=exc.invalid_params,
            headers=exc.headers,
            members=exc.members,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            # FastAPI's own 400 for a JSON body it could not decode at all (not UTF-8, nested past
            # the parser's depth): the same problem as any other malformed JSON.
            return _malformed_json(request)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        code = getattr(exc, "code", None)
        return problem_response(
            request,
            exc.status_code,
            detail,
            code=code if isinstance(code, str) else None,
            headers=getattr(exc, "headers", None),
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        params = validation_params(exc.errors())
        if any(p.location == "body" and p.reason.startswith("JSON decode error") for p in params):
            return _malformed_json(request)
        if isinstance(exc.body, bytes | bytearray) and any(p.location == "body" for p in params):
            # FastAPI's strict content type leaves a non-JSON body unparsed (raw bytes) and then reports
            # the model as invalid (422); the truth is that we do not accept that media type.
            return problem_response(
                request,
                415,
                "Send the body as application/json.",
                code="unsupported_media_type",
                headers={"Accept": "application/json"},
            )
        return problem_response(
            request, 422, "The request has invalid fields.", code="validation_failed", invalid_params=params
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Last resort (errors raised by middleware outside UnhandledErrorMiddleware).
        return await unexpected_error_response(request, exc)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_middleware(UnhandledErrorMiddleware)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem bodies for the given statuses (the document
    is finished by `document_problems`)."""
    return {
        s: {"model": Problem, "description": HTTPStatus(s).phrase, "content": {PROBLEM_JSON: {}}}
        for s in statuses
    }


_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
}


def _platform_problems(operation: dict[str, Any]) -> None:
    """The statuses the platform answers for any route, documented on each one that can get them."""
    responses = operation.setdefault("responses", {})
    statuses = []
    if "requestBody" in operation:
        # Malformed JSON (400), a body over the limit (413), a body that is not JSON (415).
        statuses += [400, 413, 415]
    if "429" in responses:
        # Every rate-limited route reaches the database, which may be unavailable (503).
        statuses.append(503)
    for status, entry in problem_responses(*statuses).items():
        entry.pop("model")
        responses.setdefault(str(status), entry)
    for status in ("429", "503"):
        if status in responses:
            responses[status].setdefault("headers", {}).update(_RETRY_AFTER)
    if "412" in responses:
        # The routes read If-Match themselves (shared.http.check_if_match), so FastAPI never saw it.
        params = operation.setdefault("parameters", [])
        if not any(p.get("in") == "header" and p.get("name") == "If-Match" for p in params):
            required = "428" in responses
            params.append(
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": required,
                    "description": "The ETag of the version read"
                    + ("." if required else "; when sent, a change to another version is 412."),
                    "schema": {"type": "string"},
                }
            )


def document_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Moves each problem response's schema to application/problem+json, the one media type it is sent
    as: FastAPI files a response `model` under the route's own media type (application/json), which
    left the problem+json entry without a schema and promised an application/json body never sent.
    Adds the platform's own answers (400, 413, 415, 503) a route's `responses=` does not list, and
    the If-Match header of the routes that check it (those answering 412)."""
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            _platform_problems(operation)
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content:
                    schema = content.pop("application/json", {}).get("schema")
                    content[PROBLEM_JSON] = {"schema": schema or {"$ref": "#/components/schemas/Problem"}}
    return doc
