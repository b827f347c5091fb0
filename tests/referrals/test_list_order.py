"""Unpaged lists of a journey's and a contact's records: records of one time come back in one order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fdhelpers import FrontDoor, ago
from sqlalchemy import Table, insert, select, update

from services.referrals.children.models import ChildCorrection
from services.referrals.contacts.models import Contact, ReferrerFeedback
from services.referrals.decisions.models import Decision
from services.referrals.journeys.models import Allocation

# Inserted after the record made through the API, in descending id order: a list ordered by its time
# alone tends to come back in the order inserted (as stored), which is then not the id order.
COPY_IDS = [uuid.UUID(int=(1 << 128) - 1), uuid.UUID(int=1 << 127), uuid.UUID(int=1)]
AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


async def _copies_at_one_time(fd: FrontDoor, table: Table, record_id: str, times: list[str]) -> list[str]:
    """Three copies of the record, then the record and its copies all at one time: their ids, in
    id order (the order a list must give them in)."""
    db = fd.client.app.state.db  # type: ignore[attr-defined]
    async with db.unit_of_work() as session:
        row = (await session.execute(select(table).where(table.c.id == uuid.UUID(record_id)))).one()
        for copy_id in COPY_IDS:
            await session.execute(insert(table).values({**row._asdict(), "id": copy_id}))
        ids = [uuid.UUID(record_id), *COPY_IDS]
        await session.execute(update(table).where(table.c.id.in_(ids)).values({t: AT for t in times}))
    return [str(i) for i in sorted(ids)]


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


async def test_records_of_one_time_are_listed_by_id(fd: FrontDoor):
    await fd.team()
    contact = await fd.contact((await fd.child())["id"], received_at=ago(minutes=40))
    journey_url = f"/journeys/{contact['journey_id']}"
    r = await fd.client.post(f"{journey_url}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr)
    assert r.status_code == 201, r.text
    allocation = r.json()
    decision = await fd.decide(contact["id"], decided_at=ago(minutes=30))
    r = await fd.client.post(
        f"/contacts/{contact['id']}/referrer-feedback",
        json={"kind": "acknowledgement", "sent_at": ago(minutes=20)},
        headers=fd.pract,
    )
    assert r.status_code == 201, r.text
    feedback = r.json()

    contacts = await _copies_at_one_time(fd, Contact.__table__, contact["id"], ["received_at", "recorded_at"])
    decisions = await _copies_at_one_time(fd, Decision.__table__, decision["id"], ["recorded_at"])
    allocations = await _copies_at_one_time(
        fd, Allocation.__table__, allocation["id"], ["started_at", "recorded_at"]
    )
    feedbacks = await _copies_at_one_time(
        fd, ReferrerFeedback.__table__, feedback["id"], ["sent_at", "recorded_at"]
    )

    journey = (await fd.client.get(journey_url, headers=fd.pract)).json()
    of_contact = await fd.client.get(f"/contacts/{contact['id']}/decisions", headers=fd.pract)
    sent = await fd.client.get(f"/contacts/{contact['id']}/referrer-feedback", headers=fd.pract)
    listed = {
        "journey contacts": _ids(journey["contacts"]),
        "journey decisions": _ids(journey["decisions"]),
        "journey allocations": _ids(journey["allocations"]),
        "contact decisions": _ids(of_contact.json()),
        "contact feedback": _ids(sent.json()),
    }
    assert listed == {
        "journey contacts": contacts,
        "journey decisions": decisions,
        "journey allocations": allocations,
        "contact decisions": decisions,
        "contact feedback": feedbacks,
    }


async def test_a_childs_allocations_page_in_one_order(fd: FrontDoor):
    """GET /children/{id}/allocations is paged: allocations of one start and one recording time must
    come back in one order (by id), else a page boundary among them repeats one and skips another."""
    await fd.team()
    contact = await fd.contact((await fd.child())["id"], received_at=ago(minutes=40))
    r = await fd.client.post(
        f"/journeys/{contact['journey_id']}/allocation", json={"team_id": "FD-WEST"}, headers=fd.mgr
    )
    assert r.status_code == 201, r.text
    allocations = await _copies_at_one_time(
        fd, Allocation.__table__, r.json()["id"], ["started_at", "recorded_at"]
    )
    url = f"/children/{contact['child_id']}/allocations"
    whole = await fd.client.get(url, headers=fd.pract)
    assert _ids(whole.json()["items"]) == allocations
    paged = []
    for offset in range(len(allocations)):
        page = await fd.client.get(url, params={"limit": 1, "offset": offset}, headers=fd.pract)
        paged += _ids(page.json()["items"])
    assert paged == allocations


async def test_a_childs_corrections_page_in_one_order(fd: FrontDoor):
    """GET /children/{id}/corrections is paged by time and field alone: corrections of one field at one
    time came back in whatever order the database read them, so pages could repeat one and skip one."""
    child = await fd.child()
    url = f"/children/{child['id']}"
    etag = (await fd.client.get(url, headers=fd.pract)).headers["ETag"]
    r = await fd.client.patch(
        url, json={"postcode": "SW1A 2AA", "reason": "Typo"}, headers={**fd.pract, "If-Match": etag}
    )
    assert r.status_code == 200, r.text
    history = await fd.client.get(f"{url}/corrections", headers=fd.pract)
    [correction] = history.json()["items"]
    corrections = await _copies_at_one_time(fd, ChildCorrection.__table__, correction["id"], ["corrected_at"])
    whole = await fd.client.get(f"{url}/corrections", headers=fd.pract)
    assert _ids(whole.json()["items"]) == corrections
    paged = []
    for offset in range(len(corrections)):
        page = await fd.client.get(
            f"{url}/corrections", params={"limit": 1, "offset": offset}, headers=fd.pract
        )
        paged += _ids(page.json()["items"])
    assert paged == corrections
