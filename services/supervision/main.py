"""The supervision service: management supervision of each child's journey."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.supervision.db import platform
from services.supervision.events import catalogue
from services.supervision.journeys.projection import JourneyProjection
from services.supervision.settings import Settings
from services.supervision.supervisions.routes import router as supervisions_router
from services.supervision.supervisions.service import journey_heads
from services.supervision.workers.routes import router as workers_router
from services.supervision.workers.service import register_heads
from shared.app import Service, create_app
from shared.auth import service_token_provider
from shared.events.consumer import FeedConsumer
from shared.events.verify import HeadBatches


async def stream_heads(session: AsyncSession, stream: uuid.UUID | None) -> HeadBatches:
    """What this service's records say each of its streams is at: the journeys' (supervisions and
    their actions), then the register entries'."""
    for heads in (journey_heads, register_heads):
        async for batch in heads(session, stream):
            yield batch


def build_service(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    service = Service(
        name="supervision",
        settings=settings,
        tables=platform,
        catalogue=catalogue,
        policy=settings.policy(),
        stream_heads=stream_heads,
    )
    assert platform.positions is not None
    # The referrals feed tells us every journey: open or closed, its child, team and worker.
    service.consumers.append(
        FeedConsumer(
            feed="referrals",
            base_url=settings.referrals_url,
            db=service.db,
            positions=platform.positions,
            projection=JourneyProjection(),
            token=service_token_provider(settings),
            metrics=service.metrics,
            batch_size=settings.consumer_batch_size,
            catch_up_batch_size=settings.consumer_catch_up_batch_size,
            rebuild_batch_size=settings.consumer_rebuild_batch_size,
        )
    )
    return service


def create(settings: Settings | None = None, *, run_consumers: bool = True) -> FastAPI:
    service = build_service(settings)
    return create_app(
        service,
        title="Front door: supervision",
        description="Management supervision of children's journeys: records, actions, due and overdue.",
        routers=[supervisions_router, workers_router],
        run_consumers=run_consumers,
    )
