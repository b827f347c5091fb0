"""HTTP conventions: ETag / If-Match, pagination, and sub-resource helpers."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request, Response
from pydantic import BaseModel, Field

from shared.errors import PreconditionFailed, PreconditionRequired

T = TypeVar("T")


def make_etag(*parts: object) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:20]
    return f'"{digest}"'


def check_if_match(request: Request, current: str, *, required: bool = False, exists: bool = True) -> None:
    """412 when If-Match names another version; 428 when it is required and missing.

    `exists=False`: the resource has no current representation yet (`current` is the ETag that names
    its absence), so `*` does not match it (RFC 9110 13.1.1): "change it if it exists" creates nothing.
    """
    header = request.headers.get("if-match")
    if header is None:
        if required:
            raise PreconditionRequired("This change needs an If-Match header with the resource's ETag.")
        return
    candidates = [c.strip() for c in header.split(",")]
    # Deliberately looser than RFC 9110's strong comparison: our ETags name a record's version, not
    # its bytes, so W/"x" means the same version; a proxy that compresses marks ETags weak, and its
    # clients could otherwise never write.
    weakless = [c[2:] if c.startswith("W/") else c for c in candidates]
    if not (exists and "*" in weakless) and current not in weakless:
        raise PreconditionFailed("The resource has changed since you read it (ETag mismatch).")


def set_etag(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag


_HEADER_DOCS = {
    "ETag": "The version of the record returned: send it as If-Match to change that version only.",
    "Location": "Where the record created is read.",
}


def sets_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry for the headers a route sets on its success status (ETag, Location):
    FastAPI cannot see headers set on the response, so it would document none."""
    return {
        status: {
            "headers": {
                name: {"description": _HEADER_DOCS[name], "schema": {"type": "string"}} for name in names
            }
        }
    }


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="This page's items, in the list's order.")
    total: int = Field(description="How many items match the filters.")
    limit: int = Field(description="The most items a page holds (as asked).")
    offset: int = Field(description="How many matching items come before this page.")


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    # Bounded so a huge offset is a 422, not a database integer overflow (500).
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)
