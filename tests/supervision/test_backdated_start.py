"""A backdated repeat contact moves the journey's start back (referrals: the journey began when the
earliest of its contacts arrived), and supervision's clock and held_at check follow it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import col

from services.supervision.journeys.models import Journey

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Mon 2 Mar 2026, the harness default
EARLIER = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)  # Mon 2 Feb 2026
LATER = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


async def _started_at(h, journey_id: uuid.UUID) -> datetime:
    async with h.service.db.sessionmaker() as session:
        query = select(col(Journey.started_at)).where(col(Journey.journey_id) == journey_id)
        started_at: datetime = (await session.execute(query)).scalar_one()
        return started_at


async def test_backdated_repeat_contact_moves_the_start_back_and_the_due_date_with_it(h) -> None:
    journey_id, child_id = await h.journey()  # opened at START, allocated to w1 in FD-WEST
    await h.repeat_contact(journey_id, child_id, EARLIER)
    await h.repeat_contact(journey_id, child_id, LATER)  # a later one leaves the start alone
    await h.sync()
    assert await _started_at(h, journey_id) == EARLIER

    r = await h.client.get("/supervisions/due", headers=h.manager())
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    # Front door, 20 working days from Mon 2 Feb 2026 (no holidays): Mon 2 Mar 2026.
    assert (item["started_at"], item["due_on"], item["basis"]) == (
        "2026-02-02T10:00:00Z",
        "2026-03-02",
        "journey_start",
    )

    # Held after the journey began (by its earliest contact), before the opening contact: accepted.
    held = await h.record(journey_id, held_at="2026-02-16T10:00:00Z", actions=[])
    assert held.status_code == 201, held.text
    assert await h.count("supervisions") == 1
    # Before the earliest contact: still refused.
    before = await h.record(journey_id, held_at="2026-02-01T10:00:00Z", actions=[])
    assert before.status_code == 422 and before.json()["code"] == "held_before_journey_start"
    assert before.headers["content-type"].startswith("application/problem+json")
    assert await h.count("supervisions") == 1


async def test_rebuild_keeps_the_earliest_start(h) -> None:
    journey_id, child_id = await h.journey()
    await h.repeat_contact(journey_id, child_id, EARLIER)
    await h.sync()
    await h.consumer.rebuild()
    assert await _started_at(h, journey_id) == EARLIER
