"""The intake benchmark's peer: a bare FastAPI endpoint doing one raw asyncpg INSERT of a contact-like row.

No auth, no idempotency, no event, no audit, no ORM: the floor a full front-door intake is compared to.
It parses the same JSON body as `POST /contacts` into a plain pydantic model so that the comparison
isolates what the front door adds (auth, validation rules, Idempotency-Key, state row, event, audit).
Run by bench.intake as `uvicorn --factory bench.baseline_app:create` with BENCH_BASELINE_DSN set.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

DDL = """
CREATE TABLE IF NOT EXISTS baseline_contacts (
    id uuid PRIMARY KEY,
    child_id uuid,
    received_at timestamptz NOT NULL,
    source text,
    channel text,
    urgency text,
    consent text,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


class ContactIn(BaseModel):
    """The same JSON as `POST /contacts`, parsed loosely (plain types, no domain rules)."""

    model_config = ConfigDict(extra="allow")

    new_children: list[dict[str, Any]] = []
    child_ids: list[uuid.UUID] = []
    received_at: datetime
    source: str
    channel: str
    referrer: dict[str, Any] | None = None
    concerns_summary: str
    consent: dict[str, Any]
    urgency: str


def create() -> FastAPI:
    dsn = os.environ["BENCH_BASELINE_DSN"]
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The same pool size as a service's SQLAlchemy pool (10 + overflow).
        state["pool"] = await asyncpg.create_pool(dsn, min_size=10, max_size=30)
        async with state["pool"].acquire() as conn:
            await conn.execute(DDL)
        yield
        await state["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.post("/contacts", status_code=201)
    async def create_contact(body: ContactIn) -> dict[str, str]:
        contact_id = uuid.uuid4()
        child = body.child_ids[0] if body.child_ids else uuid.uuid4()
        await state["pool"].execute(
            "INSERT INTO baseline_contacts"
            " (id, child_id, received_at, source, channel, urgency, consent, body)"
            " VALUES ($1, $2, coalesce($3, now()), $4, $5, $6, $7, $8)",
            contact_id,
            child,
            body.received_at,
            body.source,
            body.channel,
            body.urgency,
            body.consent.get("status"),
            body.model_dump_json(),
        )
        return {"id": str(contact_id)}

    return app
