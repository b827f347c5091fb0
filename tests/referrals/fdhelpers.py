"""Helpers for the referrals tests: staff of each role, and builders of valid records.

All personal details here are synthetic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from platform_kit import until_a_backend_waits_for_a_lock

from shared.types import now_is

VALID_NHS = "9434765919"  # a published test number: weights 10..2 sum 299, 299 % 11 = 2, 11 - 2 = 9


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def ago(**kw: float) -> str:
    return iso(datetime.now(UTC) - timedelta(**kw))


def child_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "given_name": "Ada",
        "family_name": "Testchild",
        "date_of_birth": "2015-03-04",
        "sex": "F",
        "ethnicity": "WBRI",
        "postcode": "sw1a 1aa",
    }
    body.update(over)
    return body


def contact_body(child_ids: list[str] | None = None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "child_ids": child_ids or [],
        "received_at": ago(minutes=30),
        "source": "2A",
        "channel": "phone",
        "referrer": {
            "name": "Pat Referrer",
            "organisation": "Synthetic Primary School",
            "role": "DSL",
            "phone": "020 7946 0000",
            "email": "dsl@school.example",
        },
        "concerns_summary": "Synthetic concern for testing.",
        "consent": {"status": "given"},
        "urgency": "amber",
    }
    body.update(over)
    return body


def decision_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "outcome": "NFA",
        "threshold_level": 1,
        "rationale": "Synthetic rationale.",
        "decided_at": ago(minutes=5),
    }
    body.update(over)
    return body


def referral_body(**over: Any) -> dict[str, Any]:
    body = decision_body(outcome="CIN_ASSESSMENT", threshold_level=3, primary_need="N1")
    body.update(over)
    return body


class FrontDoor:
    """A referrals client with staff of each role and helpers that assert success."""

    def __init__(self, client: httpx.AsyncClient, token: Any) -> None:
        self.client = client
        self._token = token
        self.pract = token("practitioner", sub="p1", team="FD-WEST")
        self.pract2 = token("practitioner", sub="p2", team="FD-WEST")
        self.mgr = token("manager", sub="m1", team="FD-WEST")
        self.mgr2 = token("manager", sub="m2", team="FD-WEST")
        self.admin = token("admin", sub="a1")
        self.analyst = token("analyst", sub="an1")
        self.partner = token("partner", sub="police-system")
        self.partner2 = token("partner", sub="health-system")

    def manager_of(self, team: str | None, sub: str | None = None) -> dict[str, str]:
        """A manager of `team` (None: a token naming no team), who may transfer or close its journeys."""
        return dict(self._token("manager", sub=sub or f"m-{team or 'none'}".lower(), team=team))

    async def team(self, code: str = "FD-WEST", area: str = "West", service_type: str = "front_door") -> dict:
        r = await self.client.post(
            "/teams",
            json={"id": code, "name": f"Team {code}", "area": area, "service_type": service_type},
            headers=self.mgr,
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def child(self, **over: Any) -> dict:
        r = await self.client.post("/children", json=child_body(**over), headers=self.pract)
        assert r.status_code == 201, r.text
        return r.json()

    async def contact(self, child_id: str, headers: dict | None = None, **over: Any) -> dict:
        r = await self.client.post(
            "/contacts", json=contact_body([child_id], **over), headers=headers or self.pract
        )
        assert r.status_code == 201, r.text
        return r.json()["contacts"][0]

    async def decide(self, contact_id: str, headers: dict | None = None, **over: Any) -> dict:
        body = decision_body(**over)
        r = await self.client.post(
            f"/contacts/{contact_id}/decisions", json=body, headers=headers or self.pract
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def refer(self, contact_id: str, **over: Any) -> dict:
        """A CIN assessment referral by p1, authorised by m1."""
        d = await self.decide(contact_id, **{**referral_body(), **over})
        r = await self.client.post(f"/decisions/{d['id']}/authorise", headers=self.mgr)
        assert r.status_code == 200, r.text
        return r.json()

    async def events(self, journey_id: str | None = None) -> list[dict]:
        r = await self.client.get("/events", params={"limit": 5000}, headers=self.admin)
        assert r.status_code == 200, r.text
        events = r.json()["events"]
        return [e for e in events if journey_id is None or e["journey_id"] == journey_id]


# --- races held open on PostgreSQL ----------------------------------------------------------------


def hold_first_call(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str
) -> tuple[asyncio.Event, asyncio.Event]:
    """Pause the first request to call `module.name` just after the call returns (its changes flushed,
    its row locks held, not yet committed) until `release` is set; `reached` is set once it is there."""
    real: Callable[..., Awaitable[Any]] = getattr(module, name)
    reached, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def held(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        first = calls == 1
        result = await real(*args, **kwargs)
        if first:
            reached.set()
            await release.wait()
        return result

    monkeypatch.setattr(module, name, held)
    return reached, release


async def race_held(
    fd: FrontDoor,
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    first: Callable[[], Awaitable[httpx.Response]],
    second: Callable[[], Awaitable[httpx.Response]],
) -> tuple[httpx.Response, httpx.Response]:
    """`first` writes and holds its transaction open; `second` starts (with the same ETag) and queues
    behind it; then `first` commits and `second` finishes."""
    reached, release = hold_first_call(monkeypatch, module, name)
    first_task = asyncio.create_task(first())
    await asyncio.wait_for(reached.wait(), 30)
    second_task = asyncio.create_task(second())
    try:
        engine = fd.client.app.state.db.engine  # type: ignore[attr-defined]
        await until_a_backend_waits_for_a_lock(engine, "the second request")
    finally:
        release.set()
    return await first_task, await second_task


# --- History at simulated times (`shared.types.simulated_now`), as `frontdoor seed` records its year.


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def contact_at(
    fd: FrontDoor, when: datetime, child_ids: list[str] | None = None, **over: Any
) -> list[dict[str, Any]]:
    """A contact received (and recorded) at `when`; one per child."""
    with now_is(when):
        body = contact_body(child_ids or [], received_at=iso(when), **over)
        r = await fd.client.post("/contacts", json=body, headers=fd.pract)
    assert r.status_code == 201, r.text
    contacts: list[dict[str, Any]] = r.json()["contacts"]
    return contacts


async def post_at(fd: FrontDoor, when: datetime, path: str, body: dict | None, headers: dict) -> dict:
    with now_is(when):
        r = await fd.client.post(path, json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    result: dict = r.json()
    return result


async def refer_at(fd: FrontDoor, contact: dict, when: datetime, *, authorise: bool = True) -> dict:
    """A referral decided at `when` by p1 and, unless told otherwise, authorised 10 minutes later by m1."""
    body = referral_body(decided_at=iso(when))
    decision = await post_at(fd, when, f"/contacts/{contact['id']}/decisions", body, fd.pract)
    if authorise:
        later = when + timedelta(minutes=10)
        decision = await post_at(fd, later, f"/decisions/{decision['id']}/authorise", None, fd.mgr)
    return decision


async def referral_closed(fd: FrontDoor, child_id: str, received: datetime) -> None:
    """A whole referral: contact, referral, authorisation, and the journey closed (RC8) 30 minutes on."""
    (contact,) = await contact_at(fd, received, [child_id])
    await refer_at(fd, contact, received + timedelta(minutes=5))
    closed = received + timedelta(minutes=30)
    await post_at(fd, closed, f"/journeys/{contact['journey_id']}/closure", {"reason": "RC8"}, fd.mgr)
