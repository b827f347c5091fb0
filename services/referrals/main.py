"""The referrals service: front-door contacts, threshold decisions, allocations, transfers, closure."""

from __future__ import annotations

from fastapi import FastAPI

from services.referrals.annex_a.routes import router as annex_a_router
from services.referrals.children.routes import router as children_router
from services.referrals.contacts.routes import router as contacts_router
from services.referrals.db import platform
from services.referrals.decisions.routes import router as decisions_router
from services.referrals.events import catalogue
from services.referrals.journeys.routes import router as journeys_router
from services.referrals.journeys.service import stream_heads
from services.referrals.settings import Settings
from services.referrals.teams.routes import router as teams_router
from services.referrals.worklists.routes import router as worklists_router
from shared.app import Service, create_app


def build_service(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    return Service(
        name="referrals",
        settings=settings,
        tables=platform,
        catalogue=catalogue,
        policy=settings.policy(),
        stream_heads=stream_heads,
    )


def create(settings: Settings | None = None, *, run_consumers: bool = True) -> FastAPI:
    service = build_service(settings)
    return create_app(
        service,
        title="Front door: referrals",
        description="Contacts about children, threshold decisions, allocations, transfers and closure, and "
        "the Ofsted Annex A child-level Lists 1 (contacts) and 3 (referrals).",
        routers=[
            children_router,
            contacts_router,
            decisions_router,
            journeys_router,
            teams_router,
            worklists_router,
            annex_a_router,
        ],
        run_consumers=run_consumers,
    )
