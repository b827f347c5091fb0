"""The reporting service: projections of both journey feeds and the front-door measures."""

from __future__ import annotations

from fastapi import FastAPI

from services.reporting.db import platform
from services.reporting.projections.service import (
    REFERRALS_FEED,
    SUPERVISION_FEED,
    ReferralsProjection,
    SupervisionProjection,
)
from services.reporting.reports.routes import router as reports_router
from services.reporting.settings import Settings
from shared.app import Service, create_app
from shared.auth import service_token_provider
from shared.events.consumer import FeedConsumer


def build_service(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    service = Service(name="reporting", settings=settings, tables=platform)
    assert platform.positions is not None
    token = service_token_provider(settings)
    service.consumers = [
        FeedConsumer(
            feed=REFERRALS_FEED,
            base_url=settings.referrals_url,
            db=service.db,
            positions=platform.positions,
            projection=ReferralsProjection(settings),
            token=token,
            policy=settings.referrals_policy(),
            metrics=service.metrics,
            batch_size=settings.consumer_batch_size,
            catch_up_batch_size=settings.consumer_catch_up_batch_size,
            rebuild_batch_size=settings.consumer_rebuild_batch_size,
        ),
        FeedConsumer(
            feed=SUPERVISION_FEED,
            base_url=settings.supervision_url,
            db=service.db,
            positions=platform.positions,
            projection=SupervisionProjection(settings),
            token=token,
            policy=settings.supervision_policy(),
            metrics=service.metrics,
            batch_size=settings.consumer_batch_size,
            catch_up_batch_size=settings.consumer_catch_up_batch_size,
            rebuild_batch_size=settings.consumer_rebuild_batch_size,
        ),
    ]
    return service


def create(settings: Settings | None = None, *, run_consumers: bool = True) -> FastAPI:
    service = build_service(settings)
    return create_app(
        service,
        title="Front door: reporting",
        description=(
            "Contact-to-outcome times, handovers, supervision and conversion, from journey events only. "
            "Every report takes a date range and a grouping, answers JSON or CSV (`Accept: text/csv`) "
            "and says how fresh it is. Percentiles use the nearest-rank method."
        ),
        routers=[reports_router],
        run_consumers=run_consumers,
        openapi_tags=[
            {"name": "reports", "description": "Front-door measures for analysts and managers."},
        ],
    )
