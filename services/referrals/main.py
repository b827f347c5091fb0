"""The referrals service: front-door contacts, threshold decisions, allocations, transfers, closure."""

from __future__ import annotations

from fastapi import FastAPI

from services.referrals.db import platform
from services.referrals.events import catalogue
from services.referrals.settings import Settings
from shared.app import Service, create_app


def build_service(settings: Settings | None = None) -> Service:
    return Service(name="referrals", settings=settings or Settings(), tables=platform, catalogue=catalogue)


def create(settings: Settings | None = None, *, run_consumers: bool = True) -> FastAPI:
    service = build_service(settings)
    return create_app(
        service,
        title="Front door: referrals",
        description="Contacts about children, threshold decisions, allocations, transfers and closure.",
        routers=[],
        run_consumers=run_consumers,
    )
