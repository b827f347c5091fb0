"""Reporting notices when its timescale settings disagree with the producers' (`GET /policy`).

Each producer serves the settings reporting must apply alike; reporting reads them when its consumers
start and every few minutes, and shows the comparison per feed in `/health/ready`, in the
`frontdoor_policy_mismatches` gauge and, once per change, in a log warning. A disagreement does not
make reporting unready (its reports still serve), and a policy it cannot read is `unknown`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.events.consumer import FeedConsumer
from shared.policy import PolicyDifference, ReferralsPolicy, policy_differences

# Reporting's settings made to agree with the producers' defaults: its backdating threshold defaults
# to 24 hours, referrals' to 2 (see the README's settings notes).
AGREEING: dict[str, Any] = {}  # the defaults agree (test_the_default_settings_agree)


class Apps:
    def __init__(
        self, referrals: httpx.AsyncClient, supervision: httpx.AsyncClient, reporting: httpx.AsyncClient
    ):
        self.referrals, self.supervision, self.reporting = referrals, supervision, reporting

    def consumer(self, feed: str) -> FeedConsumer:
        consumers = self.reporting.app.state.service.consumers  # type: ignore[attr-defined]
        return next(c for c in consumers if c.feed == feed)

    async def ready(self) -> dict[str, Any]:
        r = await self.reporting.get("/health/ready")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert body["status"] == "ready"  # a disagreement, or an unknown policy, never makes it unready
        return {c["feed"]: c["policy"] for c in body["consumers"]}

    async def mismatches(self) -> dict[str, float]:
        text = (await self.reporting.get("/metrics")).text
        return {
            sample.labels["feed"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "frontdoor_policy_mismatches"
            for sample in family.samples
        }


@pytest.fixture
async def apps(app_client: Callable[..., Awaitable[httpx.AsyncClient]]) -> Callable[..., Awaitable[Apps]]:
    async def make(
        *,
        referrals: dict[str, Any] | None = None,
        supervision: dict[str, Any] | None = None,
        **reporting: Any,
    ) -> Apps:
        a = Apps(
            await app_client("referrals", **(referrals or {})),
            await app_client("supervision", **(supervision or {})),
            await app_client("reporting", **reporting),
        )
        a.consumer("referrals").transport = httpx.ASGITransport(app=a.referrals.app)  # type: ignore[attr-defined]
        a.consumer("supervision").transport = httpx.ASGITransport(app=a.supervision.app)  # type: ignore[attr-defined]
        return a

    return make


@contextmanager
def warnings_logged() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("frontdoor.consumer")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


async def test_producers_serve_their_policy_to_the_feeds_readers(apps, token) -> None:
    a = await apps(
        referrals={"decision_deadline_working_days": 2, "counting": "day_1", "backdating_threshold_hours": 3},
        supervision={
            "frequency_working_days": {"front_door": 15},
            "local_closure_days": ["2026-12-29", "2026-12-24"],
        },
    )
    r = await a.referrals.get("/policy", headers=token("service"))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "decision_deadline_working_days": 2,
        "counting": "day_1",
        "office_start": "09:00:00",
        "office_end": "17:00:00",
        "backdating_threshold_hours": 3.0,
    }
    r = await a.supervision.get("/policy", headers=token("analyst"))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "interval_working_days": {"front_door": 15, "assessment": 20},
        "default_interval_working_days": 30,
        "newly_qualified_interval_working_days": 10,
        "counting": "day_0",
        "local_closure_days": ["2026-12-24", "2026-12-29"],
    }
    # Not partners' (an external system), and not without a token.
    assert (await a.referrals.get("/policy", headers=token("partner"))).status_code == 403
    assert (await a.supervision.get("/policy")).status_code == 401


async def test_equal_settings_agree(apps) -> None:
    a = await apps(**AGREEING)
    # Before the first check: nothing known yet, and no gauge sample.
    assert {feed: p["status"] for feed, p in (await a.ready()).items()} == {
        "referrals": "unknown",
        "supervision": "unknown",
    }
    assert await a.mismatches() == {}
    with warnings_logged() as warned:
        for feed in ("referrals", "supervision"):
            await a.consumer(feed).check_policy()
    policies = await a.ready()
    for feed in ("referrals", "supervision"):
        assert policies[feed]["status"] == "agrees"
        assert policies[feed]["differences"] == []
        assert policies[feed]["checked_at"] is not None and policies[feed]["last_error"] is None
    assert await a.mismatches() == {"referrals": 0.0, "supervision": 0.0}
    assert warned == []


async def test_a_longer_decision_deadline_in_referrals_is_listed_with_both_values(apps) -> None:
    a = await apps(
        referrals={"decision_deadline_working_days": 2}, decision_within_working_days=1, **AGREEING
    )
    consumer = a.consumer("referrals")
    with warnings_logged() as warned:
        await consumer.check_policy()
        await consumer.check_policy()  # a later check finding the same: not warned again
    policies = await a.ready()
    assert policies["referrals"]["status"] == "disagrees"
    assert policies["referrals"]["differences"] == [
        {"setting": "decision_deadline_working_days", "producer": 2, "consumer": 1}
    ]
    assert (await a.mismatches())["referrals"] == 1.0
    assert len(warned) == 1
    assert warned[0].getMessage() == (
        "the referrals feed's policy disagrees with this service's settings: "
        "decision_deadline_working_days is 2 there, 1 here"
    )


async def test_the_default_settings_agree(apps) -> None:
    """Out of the box the backdating thresholds differed (referrals 2 hours, reporting 24), so every
    install reported a disagreement and counted as backdated fewer contacts than had to say why they
    were late. Reporting's default is now referrals' 2 hours: the defaults agree on both feeds."""
    a = await apps()
    for feed in ("referrals", "supervision"):
        await a.consumer(feed).check_policy()
    assert {feed: (p["status"], p["differences"]) for feed, p in (await a.ready()).items()} == {
        "referrals": ("agrees", []),
        "supervision": ("agrees", []),
    }


async def test_a_supervision_interval_differing_is_listed_by_service_type(apps) -> None:
    a = await apps(
        supervision={"frequency_working_days": {"front_door": 15}, "counting": "day_1"},
        supervision_newly_qualified_interval_working_days=5,
        **AGREEING,
    )
    with warnings_logged() as warned:
        await a.consumer("supervision").check_policy()
    policies = await a.ready()
    assert policies["supervision"]["status"] == "disagrees"
    assert policies["supervision"]["differences"] == [
        {"setting": "interval_working_days.front_door", "producer": 15, "consumer": 20},
        {"setting": "newly_qualified_interval_working_days", "producer": 10, "consumer": 5},
        {"setting": "counting", "producer": "day_1", "consumer": "day_0"},
    ]
    assert (await a.mismatches())["supervision"] == 3.0
    assert (
        len(warned) == 1 and "interval_working_days.front_door is 15 there, 20 here" in warned[0].getMessage()
    )


async def test_an_unreachable_or_older_producer_leaves_the_policy_unknown(apps) -> None:
    a = await apps(**AGREEING)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    a.consumer("referrals").transport = httpx.MockTransport(refuse)
    # A producer from before `GET /policy`: 404.
    a.consumer("supervision").transport = httpx.MockTransport(lambda request: httpx.Response(404))
    with warnings_logged() as warned:
        for _ in range(2):
            for feed in ("referrals", "supervision"):
                await a.consumer(feed).check_policy()
    policies = await a.ready()
    assert policies["referrals"] == {
        "status": "unknown",
        "differences": [],
        "checked_at": None,
        "last_error": "ConnectError reaching referrals (GET /policy)",
    }
    assert policies["supervision"]["status"] == "unknown"
    assert policies["supervision"]["last_error"] == "supervision answered 404 to GET /policy"
    assert all(math.isnan(v) for v in (await a.mismatches()).values())
    assert len(warned) == 2  # once per feed, not per check


async def test_the_policy_is_read_again_once_the_producer_is_back(apps) -> None:
    a = await apps(referrals={"decision_deadline_working_days": 2}, **AGREEING)
    consumer = a.consumer("referrals")
    consumer.transport = httpx.MockTransport(lambda request: httpx.Response(503))
    await consumer.check_policy()
    assert (await a.ready())["referrals"]["status"] == "unknown"
    await consumer.close()  # the client is made again with the producer's transport
    consumer.transport = httpx.ASGITransport(app=a.referrals.app)  # type: ignore[attr-defined]
    await consumer.check_policy()
    policies = await a.ready()
    assert policies["referrals"]["status"] == "disagrees" and policies["referrals"]["last_error"] is None
    assert (await a.mismatches())["referrals"] == 1.0


async def test_an_unreadable_policy_keeps_the_differences_last_found(apps) -> None:
    """A disagreement found, then the producer unreachable: the status said unknown with no
    differences, as if the disagreement had gone. It keeps them (and when they were found) beside the
    error, and the producer back with the same policy is not warned of a second time."""
    a = await apps(referrals={"decision_deadline_working_days": 2}, **AGREEING)
    consumer = a.consumer("referrals")
    with warnings_logged() as warned:
        await consumer.check_policy()
        found = (await a.ready())["referrals"]
        await consumer.close()
        consumer.transport = httpx.MockTransport(lambda request: httpx.Response(503))
        await consumer.check_policy()
        unknown = (await a.ready())["referrals"]
        await consumer.close()
        consumer.transport = httpx.ASGITransport(app=a.referrals.app)  # type: ignore[attr-defined]
        await consumer.check_policy()
    assert found["status"] == "disagrees" and len(found["differences"]) == 1
    assert unknown == {
        **found,
        "status": "unknown",
        "last_error": "referrals answered 503 to GET /policy",
    }
    assert (await a.ready())["referrals"]["differences"] == found["differences"]
    assert [r.getMessage().startswith("policy unknown") for r in warned] == [False, True]


async def test_a_running_consumer_checks_the_policy_when_it_starts(apps) -> None:
    a = await apps(referrals={"counting": "day_1"}, **AGREEING)
    consumer = a.consumer("referrals")
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        for _ in range(500):  # until the first check is in (it is made at once; bounded, not timed)
            if consumer.status.policy is not None and consumer.status.policy.status != "unknown":
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert consumer.status.policy is not None
    assert [d.setting for d in consumer.status.policy.differences] == ["counting"]


def test_differences_are_compared_by_value() -> None:
    ours = ReferralsPolicy(
        decision_deadline_working_days=1,
        counting="day_0",  # type: ignore[arg-type]
        office_start="09:00",  # type: ignore[arg-type]
        office_end="17:00",  # type: ignore[arg-type]
        backdating_threshold_hours=2,
    )
    theirs = ours.model_copy(update={"office_end": ours.office_end.replace(hour=16, minute=30)})
    assert policy_differences(ours, ours.model_copy()) == []
    assert policy_differences(theirs, ours) == [
        PolicyDifference(setting="office_end", producer="16:30:00", consumer="17:00:00")
    ]
