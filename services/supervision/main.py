"""The supervision service: management supervision of each child's journey."""

from __future__ import annotations

from fastapi import FastAPI

from services.supervision.db import platform
from services.supervision.events import catalogue
from services.supervision.settings import Settings
from shared.app import Service, create_app


def build_service(settings: Settings | None = None) -> Service:
    return Service(name="supervision", settings=settings or Settings(), tables=platform, catalogue=catalogue)


def create(settings: Settings | None = None, *, run_consumers: bool = True) -> FastAPI:
    service = build_service(settings)
    return create_app(
        service,
        title="Front door: supervision",
        description="Management supervision of children's journeys: records, actions, due and overdue.",
        routers=[],
        run_consumers=run_consumers,
    )
