"""The reporting service: projections of both journey feeds and the front-door measures."""

from __future__ import annotations

from fastapi import FastAPI

from services.reporting.db import platform
from services.reporting.settings import Settings
from shared.app import Service, create_app


def build_service(settings: Settings | None = None) -> Service:
    return Service(name="reporting", settings=settings or Settings(), tables=platform)


def create(settings: Settings | None = None, *, run_consumers: bool = True) -> FastAPI:
    service = build_service(settings)
    return create_app(
        service,
        title="Front door: reporting",
        description=(
            "Contact-to-outcome times, handovers, supervision and conversion, from journey events only."
        ),
        routers=[],
        run_consumers=run_consumers,
    )
