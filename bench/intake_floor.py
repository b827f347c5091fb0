"""A floor for the intake benchmark: `POST /contacts` written by hand on asyncpg (never for production).

The same rows as the real route (child, journey, contact, two audit rows, the idempotency record
and the ContactReceived event, hash-chained and under the append lock), the same body model, the
same auth, middleware and response model, but no SQLAlchemy session, ORM or dependency for the
database: one pooled asyncpg connection, BEGIN, one read (try-lock, key look-up, team area), one
INSERT carrying every row, COMMIT. Only the benchmark's shape of contact (new children only): a
measurement of how fast this stack could go, not a route.

    python -m bench.intake --name intake-floor --factory bench.intake_floor:create
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
import zlib
from typing import Annotated

import asyncpg
from fastapi import APIRouter, FastAPI, Header, Request

from services.referrals import main
from services.referrals.children.models import Child
from services.referrals.children.service import new_child
from services.referrals.common import ContactWriter, settings_of, team_claim
from services.referrals.contacts.models import Contact, ContactIn, ContactOut, ContactsCreated
from services.referrals.contacts.service import _check_contact, contact_received, new_contact
from services.referrals.db import platform
from services.referrals.events import ContactReceived
from services.referrals.journeys.models import Journey
from services.referrals.settings import Settings
from shared.app import create_app
from shared.auth import Role
from shared.db import new_record
from shared.events.log import APPEND_LOCK_KEY, envelope_hash
from shared.idempotency import _int4, _request_hash
from shared.observability import request_id_var
from shared.types import utcnow


def create(settings: Settings | None = None) -> FastAPI:
    tables = {
        "children": [c.name for c in Child.__table__.columns],
        "journeys": [c.name for c in Journey.__table__.columns],
        "contacts": [c.name for c in Contact.__table__.columns],
    }
    # Every column but the serial ids, which the database draws.
    audit = [c.name for c in platform.audit.columns if c.name != "id"]
    idem = [c.name for c in platform.idempotency.columns]
    assert platform.events is not None
    events = [c.name for c in platform.events.columns if c.name != "position"]
    n = 0

    def values(count: int) -> str:
        nonlocal n
        n += count
        return "(" + ", ".join(f"${i}" for i in range(n - count + 1, n + 1)) + ")"

    # BENCH_FLOOR_NO_LOCK=1: without the append lock, to see whether the lock or the worker bounds it.
    take = (
        "SELECT 1"
        if os.environ.get("BENCH_FLOOR_NO_LOCK")
        else f"SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY})"
    )
    ctes = [f"lock AS MATERIALIZED ({take})"]
    for name, columns in tables.items():
        ctes.append(
            f"{name}_row AS (INSERT INTO {name} ({', '.join(columns)}) VALUES {values(len(columns))})"
        )
    ctes.append(
        f"audit_rows AS (INSERT INTO audit_log ({', '.join(audit)}) VALUES {values(len(audit))}, "
        f"{values(len(audit))})"
    )
    ctes.append(f"idem_row AS (INSERT INTO idempotency_keys ({', '.join(idem)}) VALUES {values(len(idem))})")
    first = n + 1
    n += len(events)
    insert_sql = (
        f"WITH {', '.join(ctes)} INSERT INTO journey_events ({', '.join(events)}) SELECT "
        + ", ".join(f"${i}" for i in range(first, n + 1))
        + " FROM lock RETURNING position"
    )
    read_sql = (
        "SELECT pg_try_advisory_xact_lock(1, $1),"
        " (SELECT request_hash FROM idempotency_keys WHERE caller = $2 AND key = $3),"
        " (SELECT area FROM teams WHERE id = $4)"
    )
    router = APIRouter()
    pool: list[asyncpg.Pool] = []
    pool_lock = asyncio.Lock()

    @router.post("/contacts", status_code=201, response_model=ContactsCreated)
    async def create_contacts_floor(
        request: Request,
        data: ContactIn,
        principal: ContactWriter,
        key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> object:
        async with pool_lock:  # the first requests arrive together: one pool, not one each
            if not pool:
                url = settings_of(request).database_url.replace("postgresql+asyncpg", "postgresql")
                pool.append(await asyncpg.create_pool(url, min_size=20, max_size=20))
        assert key and data.new_children and not data.child_ids and principal.has(Role.practitioner)
        settings = settings_of(request)
        now = utcnow()
        backdated = _check_contact(data, settings, now)
        request_hash = _request_hash(request.method, request.url.path, await request.body())
        team_id = team_claim(principal)
        child = new_child(data.new_children[0], principal)
        journey = new_record(Journey, child_id=child.id, opened_at=data.received_at, stream_version=1)
        contact = new_contact(
            data,
            child_id=child.id,
            journey_id=journey.id,
            group_id=None,
            now=now,
            backdated=backdated,
            opens=True,
            principal=principal,
            partner=False,
            team_id=team_id,
        )
        body = ContactsCreated(contact_group_id=None, contacts=[ContactOut.of(contact)])
        body_json = body.model_dump(mode="json", by_alias=True)
        async with pool[0].acquire() as conn, conn.transaction():
            lock = _int4(zlib.crc32(f"{principal.subject}\x00{key}".encode()))
            got, seen, area = await conn.fetchrow(read_sql, lock, principal.subject, key, team_id)
            assert got and seen is None
            event = contact_received(contact, data, area)
            payload = event.model_dump(mode="json")
            ContactReceived.model_validate_json(json.dumps(payload))
            fields = {
                "event_id": uuid.uuid4(),
                "type": event.event_type,
                "schema_version": event.schema_version,
                "journey_id": journey.id,
                "stream_version": 1,
                "occurred_at": data.received_at,
                "recorded_at": utcnow(),
                "producer": "referrals",
                "actor": principal.subject,
                "correlation_id": request_id_var.get(),
                "payload": payload,
            }
            fields["prev_hash"] = None
            fields["hash"] = envelope_hash(fields, None)
            fields["payload"] = json.dumps(payload)
            roles = ",".join(sorted(principal.roles))
            args: list[object] = []
            for record in (child, journey, contact):
                args.extend(getattr(record, c) for c in tables[record.__tablename__])
            for resource, rid in (("child", child.id), ("contact", contact.id)):
                row = {
                    "at": now,
                    "actor": principal.subject,
                    "roles": roles,
                    "action": "create",
                    "resource": resource,
                    "resource_id": str(rid),
                    "child_id": child.id,
                    "reason": None,
                    "request_id": request_id_var.get(),
                }
                args.extend(row[c] for c in audit)
            audited = [["child", str(child.id), str(child.id)], ["contact", str(contact.id), str(child.id)]]
            remembered = {
                "caller": principal.subject,
                "key": key,
                "request_hash": request_hash,
                "status_code": 201,
                "response_body": json.dumps(body_json),
                "response_headers": None,
                "audited": json.dumps(audited),
                "created_at": now,
            }
            args.extend(remembered[c] for c in idem)
            args.extend(fields[name] for name in events)
            await conn.fetch(insert_sql, *args)
        return body

    service = main.build_service(settings)
    app = create_app(service, title="floor", description="floor", routers=[router])
    app.state.floor_pool = pool  # for a test to close; the benchmark's process just ends
    return app
