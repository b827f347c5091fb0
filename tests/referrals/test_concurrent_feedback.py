"""The referrer's acknowledgement is recorded once, also when two staff record it at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import httpx
import pytest
from fdhelpers import FrontDoor, ago, decision_body, race_held
from platform_kit import postgres_only

import services.referrals.contacts.service as contacts_service
from shared.http import make_etag


def _acknowledge(fd: FrontDoor, contact_id: str, sent_at: str, who: dict) -> Awaitable[httpx.Response]:
    return fd.client.post(
        f"/contacts/{contact_id}/referrer-feedback",
        json={"kind": "acknowledgement", "sent_at": sent_at},
        headers=who,
    )


def _assert_already_acknowledged(r: httpx.Response) -> None:
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "already_acknowledged"


async def _assert_one_acknowledgement(fd: FrontDoor, contact: dict, winner: httpx.Response) -> None:
    sent_at = winner.json()["sent_at"]
    rows = (await fd.client.get(f"/contacts/{contact['id']}/referrer-feedback", headers=fd.pract)).json()
    assert [(f["kind"], f["sent_at"]) for f in rows] == [("acknowledgement", sent_at)]
    stored = (await fd.client.get(f"/contacts/{contact['id']}", headers=fd.pract)).json()
    assert stored["acknowledged_at"] == sent_at
    sent = [e for e in await fd.events(contact["journey_id"]) if e["type"] == "ReferrerFeedbackSent"]
    assert [e["payload"]["kind"] for e in sent] == ["acknowledgement"]


async def test_two_acknowledgements_at_once_one_recorded(fd: FrontDoor):
    c = await fd.contact((await fd.child())["id"])
    results = await asyncio.gather(
        _acknowledge(fd, c["id"], ago(seconds=2), fd.pract),
        _acknowledge(fd, c["id"], ago(seconds=1), fd.pract2),
    )
    assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
    _assert_already_acknowledged(next(r for r in results if r.status_code != 201))
    await _assert_one_acknowledgement(fd, c, next(r for r in results if r.status_code == 201))


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_an_acknowledgement_queued_behind_another_rereads_the_contact(
    fd: FrontDoor, monkeypatch: pytest.MonkeyPatch
):
    """The second request read the contact before the first committed and reaches the journey's lock
    after: under READ COMMITTED it must read the contact again, not acknowledge a second time."""
    c = await fd.contact((await fd.child())["id"])
    # The first request pauses after writing (journey locked, contact updated, not committed).
    first, second = await race_held(
        fd,
        monkeypatch,
        contacts_service,
        "record_feedback",
        lambda: _acknowledge(fd, c["id"], ago(seconds=2), fd.pract),
        lambda: _acknowledge(fd, c["id"], ago(seconds=1), fd.pract2),
    )
    assert first.status_code == 201, first.text
    _assert_already_acknowledged(second)
    await _assert_one_acknowledgement(fd, c, first)


@postgres_only("SQLite's writer lock makes this interleaving impossible")
async def test_a_decision_queued_behind_an_acknowledgement_gives_the_contact_a_new_version(
    fd: FrontDoor, monkeypatch: pytest.MonkeyPatch
):
    """The decision read the contact before the acknowledgement committed and reaches the journey's
    lock after: the contact's version it bumps must be the committed one, or two different states of
    the contact would share one ETag."""
    c = await fd.contact((await fd.child())["id"])
    first, second = await race_held(
        fd,
        monkeypatch,
        contacts_service,
        "record_feedback",
        lambda: _acknowledge(fd, c["id"], ago(seconds=2), fd.pract),
        lambda: fd.client.post(
            f"/contacts/{c['id']}/decisions", json=decision_body(decided_at=ago(seconds=1)), headers=fd.pract2
        ),
    )
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    await _assert_one_acknowledgement(fd, c, first)
    r = await fd.client.get(f"/contacts/{c['id']}", headers=fd.pract)
    assert r.json()["awaiting_decision"] is False
    # One version per change: created (1), acknowledged (2), decided (3).
    assert r.headers["ETag"] == make_etag("contact", c["id"], 3)
