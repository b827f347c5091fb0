"""Audit of every read and write of a child's records: who, what, when, and the reason given."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Uuid, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, Role, require_roles
from shared.db import Database, defer_insert
from shared.errors import problem_responses
from shared.http import Page, PageParams, page_params
from shared.observability import request_id_var
from shared.types import IsoDateTime, UTCDateTime, as_utc, utcnow


def audit_log_table(metadata: MetaData) -> Table:
    return Table(
        "audit_log",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("at", UTCDateTime, nullable=False),
        Column("actor", String(120), nullable=False),
        Column("roles", String(200), nullable=False),
        Column("action", String(40), nullable=False),
        Column("resource", String(60), nullable=False),
        Column("resource_id", String(64), nullable=True),
        Column("child_id", Uuid, nullable=True),
        Column("reason", String(500), nullable=True),
        Column("request_id", String(128), nullable=True),
        Index(None, "child_id", "at"),
        Index(None, "actor", "at"),
    )


# A time the log can be searched by: it is stored in UTC, so a time without a zone, or one its zone
# takes past the ends of the calendar, is a 422 naming the parameter, not a failed query (500).
AuditTime = Annotated[IsoDateTime, AfterValidator(as_utc)]


class AuditEntry(BaseModel):
    """One read or change of a child's records, or of a list of them, as it was done."""

    id: int = Field(description="Order of recording in this service's audit log.")
    at: datetime = Field(description="When it was done (UTC).")
    actor: str = Field(description="Pseudonymous staff or system id of whoever did it.")
    roles: str = Field(description="Their roles at the time, comma-separated, sorted.")
    action: str = Field(description="What was done, e.g. read, list, search, create, update.")
    resource: str = Field(description="The kind of record, e.g. contact, decision, child, report.")
    resource_id: str | None = Field(description="The record's id, when it has one.")
    child_id: uuid.UUID | None = Field(description="The child whose record it is, when it is one child's.")
    reason: str | None = Field(description="The reason given for it, when one was required.")
    request_id: str | None = Field(description="The request's X-Request-ID, to find its log lines.")


# session.info key: what this transaction audited, so an idempotency record can replay it as reads.
_AUDITED = "frontdoor.audited"


def audited_in(session: AsyncSession) -> list[tuple[str, str | None, uuid.UUID | None]]:
    """(resource, resource_id, child_id) of each audit row written so far in this session."""
    entries: list[tuple[str, str | None, uuid.UUID | None]] = session.info.get(_AUDITED, [])
    return entries


@dataclass(frozen=True)
class Audited:
    """One audit row's own part: what was done to which record of which child, and why."""

    action: str
    resource: str
    resource_id: object | None = None
    child_id: uuid.UUID | None = None
    reason: str | None = None


class Auditor:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def record(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        resource: str,
        *,
        resource_id: object | None = None,
        child_id: uuid.UUID | None = None,
        reason: str | None = None,
    ) -> None:
        """Written in the caller's transaction: an audited write and its audit row land together."""
        await self.record_all(session, principal, [Audited(action, resource, resource_id, child_id, reason)])

    async def record_all(
        self, session: AsyncSession, principal: Principal, entries: Sequence[Audited]
    ) -> None:
        """Several audit rows in one statement, in the caller's transaction."""
        if not entries:
            return
        rows = audit_rows(principal, entries)
        session.info.setdefault(_AUDITED, []).extend(audited_of(rows))
        # Sent with the transaction's next statement (nothing here reads an audit row back).
        defer_insert(session, self.table, rows)


def audited_of(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str | None, uuid.UUID | None]]:
    """(resource, resource_id, child_id) of each audit row: what an idempotency record replays."""
    return [(r["resource"], r["resource_id"], r["child_id"]) for r in rows]


def audit_rows(principal: Principal, entries: Sequence[Audited]) -> list[dict[str, Any]]:
    """The audit log's rows for `entries`, done now by `principal` in the current request."""
    at, actor, roles = utcnow(), principal.subject, ",".join(sorted(principal.roles))
    request_id = request_id_var.get()
    return [
        {
            "at": at,
            "actor": actor,
            "roles": roles,
            "action": e.action,
            "resource": e.resource,
            "resource_id": str(e.resource_id) if e.resource_id is not None else None,
            "child_id": e.child_id,
            "reason": e.reason,
            "request_id": request_id,
        }
        for e in entries
    ]


def auditor_of(request: Request) -> Auditor:
    """The auditor of the service this request reached."""
    auditor = request.app.state.service.auditor
    assert isinstance(auditor, Auditor)
    return auditor


def audit_router(db: Database, auditor: Auditor) -> APIRouter:
    router = APIRouter(tags=["audit"], responses=problem_responses(401, 403, 422, 429))

    @router.get("/audit", response_model=Page[AuditEntry], summary="Who read or changed a child's records")
    async def list_audit(
        request: Request,
        admin: Annotated[Principal, Depends(require_roles(Role.admin))],
        page: Annotated[PageParams, Depends(page_params)],
        child_id: Annotated[
            uuid.UUID | None, Query(description="Only entries about this child's records.")
        ] = None,
        # No control characters: PostgreSQL refuses NUL in text, which would otherwise be a 500.
        actor: Annotated[
            str | None, Query(max_length=120, pattern=r"^[^\x00-\x1f]*$", description="Staff or system id.")
        ] = None,
        since: Annotated[AuditTime | None, Query(description="From this time (inclusive).")] = None,
        until: Annotated[AuditTime | None, Query(description="Before this time.")] = None,
    ) -> Page[AuditEntry]:
        t = auditor.table
        conditions = []
        if child_id is not None:
            conditions.append(t.c.child_id == child_id)
        if actor is not None:
            conditions.append(t.c.actor == actor)
        if since is not None:
            conditions.append(t.c.at >= since)
        if until is not None:
            conditions.append(t.c.at < until)
        async with db.unit_of_work() as session:
            total = (
                await session.execute(select(func.count()).select_from(t).where(*conditions))
            ).scalar_one()
            rows = await session.execute(
                select(t).where(*conditions).order_by(t.c.id.desc()).limit(page.limit).offset(page.offset)
            )
            items = [AuditEntry.model_validate(dict(r._mapping)) for r in rows]
            await auditor.record(session, admin, "read", "audit", child_id=child_id)
        return Page[AuditEntry](items=items, total=total, limit=page.limit, offset=page.offset)

    return router
