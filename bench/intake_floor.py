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
from typing import Annotated

import asyncpg
from fastapi import APIRouter, FastAPI, Header, Request

from services.referrals import main
from services.referrals.children.models import Child
from services.referrals.children.service import new_child
from services.referrals.common import ContactWriter, event_log, settings_of, team_claim
from services.referrals.contacts.models import Contact, ContactIn, ContactOut, ContactsCreated
from services.referrals.contacts.service import _check_contact, contact_received, new_contact
from services.referrals.db import platform
from services.referrals.journeys.models import Journey
from services.referrals.settings import Settings
from shared.app import create_app
from shared.audit import Audited, audit_rows, audited_of
from shared.auth import Role
from shared.db import new_record
from shared.events.log import APPEND_LOCK_KEY, NewEvent
from shared.idempotency import _request_hash, key_record, lock_key
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
        now = utcnow()
        backdated = _check_contact(data, settings_of(request), now)
        assert not backdated  # the route would give its audit row a reason
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
        created = [
            Audited("create", "child", child.id, child.id),
            Audited("create", "contact", contact.id, child.id),
        ]
        audits = audit_rows(principal, created)
        remembered = key_record(principal.subject, key, request_hash, 201, body, None, audited_of(audits))
        log = event_log(request)
        async with pool[0].acquire() as conn, conn.transaction():
            got, seen, area = await conn.fetchrow(
                read_sql, lock_key(principal.subject, key), principal.subject, key, team_id
            )
            assert got and seen is None
            received = [NewEvent(contact_received(contact, data, area), data.received_at)]
            (envelope,) = log.envelope_rows(
                journey.id,
                received,
                log.checked_payloads(received),
                expected_version=0,
                prev_hash=None,
                actor=principal.subject,
                correlation_id=request_id_var.get(),
            )
            args: list[object] = []
            for record in (child, journey, contact):
                args.extend(getattr(record, c) for c in tables[record.__tablename__])
            for row in audits:
                args.extend(row[c] for c in audit)
            # Raw asyncpg takes a json column's value as its text.
            for name in ("response_body", "audited"):
                remembered[name] = json.dumps(remembered[name])
            args.extend(remembered[c] for c in idem)
            envelope["payload"] = json.dumps(envelope["payload"])
            args.extend(envelope[c] for c in events)
            await conn.fetch(insert_sql, *args)
        return body

    service = main.build_service(settings)
    app = create_app(service, title="floor", description="floor", routers=[router])
    app.state.floor_pool = pool  # for a test to close; the benchmark's process just ends
    return app
