"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://frontdoor.example/problems/"
log = logging.getLogger("frontdoor.errors")


class InvalidParam(BaseModel):
    """One field at fault: where it is (body/query/path/header) and why."""

    name: str = Field(description="Dotted path of the field, e.g. `referrer.email`.")
    location: str = Field(description="body, query, path or header.")
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="URI identifying the kind of problem.")
    title: str
    status: int
    detail: str | None = None
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
    ) -> None:
        super().__init__(detail)
        self.detail = detail
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


class PreconditionFailed(ProblemError):
    status, code = 412, "precondition_failed"


class PreconditionRequired(ProblemError):
    status, code = 428, "precondition_required"


class Unauthorized(ProblemError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str, *, error: str = "invalid_token") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": f'Bearer error="{error}"'})


class Forbidden(ProblemError):
    status, code = 403, "forbidden"


class ServiceUnavailable(ProblemError):
    status, code = 503, "unavailable"


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    code: str | None = None,
    invalid_params: Sequence[InvalidParam] | None = None,
    headers: dict[str, str] | None = None,
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


def install_error_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            request,
            exc.status,
            exc.detail,
            code=exc.code,
            invalid_params=exc.invalid_params,
            headers=exc.headers,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        params = validation_params(exc.errors())
        if any(p.location == "body" and p.reason.startswith("JSON decode error") for p in params):
            return problem_response(
                request, 400, "The request body is not valid JSON.", code="malformed_json"
            )
        return problem_response(
            request, 422, "The request has invalid fields.", code="validation_failed", invalid_params=params
        )

    async def on_db_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Connection-level failures are retryable for the client; say so without leaking SQL.
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem_response(
            request,
            503,
            "The database is unavailable; retry later.",
            code="database_unavailable",
            headers={"Retry-After": "2"},
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return await on_db_unavailable(request, exc)
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(request, 500, "An unexpected error occurred.", code="internal_error")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(OperationalError, on_db_unavailable)
    app.add_exception_handler(OSError, on_db_unavailable)
    app.add_exception_handler(Exception, on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem bodies for the given statuses."""
    return {
        s: {"model": Problem, "description": HTTPStatus(s).phrase, "content": {PROBLEM_JSON: {}}}
        for s in statuses
    }
