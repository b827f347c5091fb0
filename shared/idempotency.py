"""Idempotency-Key for creating POSTs: a retry replays the first answer and creates nothing.

The key record is written in the same transaction as the write it guards. It keeps the first answer's
status, body and the headers a client acts on (Location, ETag), and which records the first request
audited: a replay hands those records out again, so it is audited as a read of each. A concurrent retry
is refused with 409: across processes by a transaction-scoped advisory lock on PostgreSQL, within a
process by an in-flight set (SQLite runs in one process).
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    bindparam,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import Audited, audited_in, auditor_of
from shared.auth import Principal
from shared.db import advisory_key, defer_insert, driver_rows, on_postgresql
from shared.errors import Conflict, Forbidden, InvalidParam, Unprocessable
from shared.types import UTCDateTime, utcnow

HEADER = "Idempotency-Key"
# The first answer's headers a retry must see again (where the record is, and its version).
REPLAYED_HEADERS = ("Location", "ETag")
# Set on a retry's answer: it is the first answer again, nothing was written.
REPLAYED = "Idempotent-Replayed"


def idempotency_keys_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("caller", String(120), nullable=False),
        Column("key", String(200), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response_body", JSON, nullable=False),
        Column("response_headers", JSON, nullable=True),
        # [[resource, resource_id, child_id], ...] the first request audited; null on older rows.
        Column("audited", JSON, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        PrimaryKeyConstraint("caller", "key"),
    )


def _request_hash(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


# Built once (per table): building a statement costs about as much CPU as executing it (its cache key).
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(1, :k)")


@functools.cache
def _lookup(table: Table) -> Select[Any]:
    c = table.c
    return select(c.request_hash, c.status_code, c.response_body, c.response_headers, c.audited).where(
        c.caller == bindparam("caller"), c.key == bindparam("key")
    )


def lock_key(caller: str, key: str) -> int:
    """The advisory lock's second key for one caller's Idempotency-Key."""
    return advisory_key(f"{caller}\x00{key}")


def key_record(
    caller: str,
    key: str,
    request_hash: str,
    status_code: int,
    body: Any,
    headers: dict[str, str] | None,
    audited: Sequence[tuple[str, str | None, uuid.UUID | None]],
) -> dict[str, Any]:
    """The idempotency record of a first answer: its status, body (as JSON values), the headers to
    replay, and the records it audited, once each in order."""
    return {
        "caller": caller,
        "key": key,
        "request_hash": request_hash,
        "status_code": status_code,
        # A model straight to JSON values: jsonable_encoder would dump it, then walk the result.
        "response_body": body.model_dump(mode="json", by_alias=True)
        if isinstance(body, BaseModel)
        else jsonable_encoder(body),
        "response_headers": headers or None,
        "audited": [
            [resource, resource_id, str(child_id) if child_id else None]
            for resource, resource_id, child_id in dict.fromkeys(audited)
        ]
        or None,
        "created_at": utcnow(),
    }


class Idempotency:
    def __init__(self, request: Request, key: str | None) -> None:
        self.request = request
        self.key = key
        self.caller = ""
        self._hash = ""
        self._holding = False

    @property
    def table(self) -> Table:
        table: Table = self.request.app.state.idempotency_table
        return table

    async def replay(
        self,
        session: AsyncSession,
        principal: Principal,
        readable: Callable[[Any], Awaitable[bool]] | None = None,
    ) -> JSONResponse | None:
        """Call first in the route: the stored answer for a retry (audited as a read of the records it
        returns), or None to go ahead. `readable`, given the stored body of a success, says whether
        the caller may still read what it holds: where read rights follow a team, the caller or the
        record may have moved since the first answer (403 then, and nothing is handed out)."""
        if self.key is None:
            return None
        caller = principal.subject
        self.caller = caller
        self._hash = _request_hash(self.request.method, self.request.url.path, await self.request.body())
        inflight: set[tuple[str, str]] = self.request.app.state.idempotency_inflight
        marker = (caller, self.key)
        if marker in inflight:
            raise Conflict(
                "A request with this Idempotency-Key is still in progress.", code="idempotency_in_flight"
            )
        inflight.add(marker)
        self._holding = True
        if on_postgresql(session):
            got = (await driver_rows(session, _TRY_LOCK, {"k": lock_key(caller, self.key)}))[0][0]
            if not got:
                raise Conflict(
                    "A request with this Idempotency-Key is still in progress.", code="idempotency_in_flight"
                )
        rows = await driver_rows(session, _lookup(self.table), {"caller": caller, "key": self.key})
        if not rows:
            return None
        request_hash, status_code, response_body, response_headers, audited = rows[0]
        if request_hash != self._hash:
            raise Unprocessable(
                "This Idempotency-Key was used with a different request body.",
                field=HEADER,
                location="header",
                code="idempotency_key_reused",
            )
        if readable is not None and status_code < 300 and not await readable(response_body):
            raise Forbidden(
                "The first answer to this Idempotency-Key holds records you may no longer read.",
                code="idempotency_replay_not_readable",
            )
        await auditor_of(self.request).record_all(
            session,
            principal,
            [
                Audited(
                    "read", resource, resource_id, uuid.UUID(child) if child else None, "idempotent replay"
                )
                for resource, resource_id, child in audited or ()
            ],
        )
        return JSONResponse(
            response_body,
            status_code=status_code,
            headers={**(response_headers or {}), REPLAYED: "true"},
        )

    async def remember(
        self, session: AsyncSession, status_code: int, body: Any, response: Response | None = None
    ) -> None:
        """Call in the same transaction as the write, after its audit rows, with the answer the client
        will get: its status, body and (set them first) the Location and ETag headers of `response`."""
        if self.key is None:
            return
        headers = {}
        if response is not None:
            headers = {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers}
        # Sent with the transaction's next statement: the write's own event append, as a rule.
        record = key_record(
            self.caller, self.key, self._hash, status_code, body, headers, audited_in(session)
        )
        defer_insert(session, self.table, [record])

    def release(self) -> None:
        if self._holding:
            self.request.app.state.idempotency_inflight.discard((self.caller, self.key))
            self._holding = False


async def _idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description=(
                "A client-chosen key (e.g. a UUID) making this POST safe to retry: a retry with the same"
                " body gets the first answer again (Idempotent-Replayed: true) and writes nothing. The"
                " same key with another body is 422 (code idempotency_key_reused); a retry while the"
                " first is still in progress is 409 (code idempotency_in_flight)."
            ),
        ),
    ] = None,
) -> AsyncIterator[Idempotency]:
    handle = Idempotency(request, idempotency_key)
    try:
        yield handle
    finally:
        handle.release()


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency, scope="request")]


def document_replays(doc: dict[str, Any]) -> dict[str, Any]:
    """Documents the Idempotent-Replayed header on the success answer of each route taking the key
    (the header is set on the replay's response, which FastAPI cannot see)."""
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            params = operation.get("parameters", [])
            if not any(p.get("in") == "header" and p.get("name") == HEADER for p in params):
                continue
            responses = operation.get("responses", {})
            for status in [s for s in responses if s.startswith("2")]:
                responses[status].setdefault("headers", {})[REPLAYED] = {
                    "description": "`true` when this is the first answer to this Idempotency-Key, replayed.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
    return doc


__all__ = [
    "HEADER",
    "REPLAYED",
    "Idempotency",
    "IdempotencyDep",
    "InvalidParam",
    "document_replays",
    "idempotency_keys_table",
]
