"""The child's history at the point of decision: earlier contacts and referrals in the 12 months before
a contact, re-referral and repeated contacts without a referral, on the contact and in the queue.
History is recorded through the API at simulated times. Synthetic data only."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fdhelpers import (
    FrontDoor,
    at,
    child_body,
    contact_at,
    decision_body,
    post_at,
    refer_at,
    referral_closed,
)
from platform_kit import postgres_only
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals.contacts.history import histories
from services.referrals.contacts.models import Contact


async def history(fd: FrontDoor, contact: dict, headers: dict | None = None) -> dict[str, Any]:
    r = await fd.client.get(f"/contacts/{contact['id']}/child-history", headers=headers or fd.pract)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_a_first_contact_has_no_history(fd: FrontDoor) -> None:
    (contact,) = await contact_at(fd, at("2026-03-02T10:00:00Z"), new_children=[child_body()])
    assert await history(fd, contact) == {
        "since": "2025-03-02",
        "earlier_contacts": 0,
        "earlier_referrals": 0,
        "last_referral_received_at": None,
        "re_referral_if_referred": False,
        "contacts_since_last_referral": 1,
        "repeated_contacts_without_referral": False,
    }


async def test_referrals_in_other_journeys_make_a_referral_now_a_re_referral(fd: FrontDoor) -> None:
    child = await fd.child()
    # Referred, and the journey closed, twice: 14 and 5 months before the contact decided on now.
    await referral_closed(fd, child["id"], at("2025-01-10T09:00:00Z"))
    await referral_closed(fd, child["id"], at("2025-10-01T09:00:00Z"))
    (contact,) = await contact_at(fd, at("2026-03-02T10:00:00Z"), [child["id"]])
    found = await history(fd, contact)
    assert found["earlier_contacts"] == 1 and found["earlier_referrals"] == 1
    assert found["last_referral_received_at"] == "2025-10-01T09:00:00Z"
    assert found["re_referral_if_referred"] is True
    # Only this contact since that referral.
    assert (found["contacts_since_last_referral"], found["repeated_contacts_without_referral"]) == (1, False)


async def test_the_12_months_are_london_dates_back_to_the_same_date(fd: FrontDoor) -> None:
    """2025-06-15 23:30 UTC is 16 June in London (summer time): within the 12 months of a contact on
    16 June 2026, where 2025-06-15 22:30 UTC (15 June in London) is not."""
    child = await fd.child()
    await referral_closed(fd, child["id"], at("2025-06-15T22:30:00Z"))
    (later,) = await contact_at(fd, at("2026-06-16T08:00:00Z"), [child["id"]])
    found = await history(fd, later)
    assert found["since"] == "2025-06-16"
    assert (found["earlier_contacts"], found["re_referral_if_referred"]) == (0, False)

    other = await fd.child(given_name="Bea")
    await referral_closed(fd, other["id"], at("2025-06-15T23:30:00Z"))
    (later,) = await contact_at(fd, at("2026-06-16T08:00:00Z"), [other["id"]])
    found = await history(fd, later)
    assert (found["earlier_contacts"], found["re_referral_if_referred"]) == (1, True)


async def test_a_29_february_looks_back_to_28_february(fd: FrontDoor) -> None:
    child = await fd.child()
    await referral_closed(fd, child["id"], at("2027-02-28T10:00:00Z"))
    (later,) = await contact_at(fd, at("2028-02-29T10:00:00Z"), [child["id"]])
    found = await history(fd, later)
    assert found["since"] == "2027-02-28" and found["re_referral_if_referred"] is True


async def test_repeated_contacts_without_referral_and_what_counts_as_a_referral(fd: FrontDoor) -> None:
    child = await fd.child()
    (referred,) = await contact_at(fd, at("2026-01-05T09:00:00Z"), [child["id"]])
    referral = await refer_at(fd, referred, at("2026-01-05T10:00:00Z"), authorise=False)
    (advised,) = await contact_at(fd, at("2026-02-05T09:00:00Z"), [child["id"]])
    await post_at(
        fd,
        at("2026-02-05T10:00:00Z"),
        f"/contacts/{advised['id']}/decisions",
        decision_body(outcome="INFO_ADVICE", decided_at="2026-02-05T10:00:00Z"),
        fd.pract,
    )
    (undecided,) = await contact_at(fd, at("2026-03-05T09:00:00Z"), [child["id"]])
    (now,) = await contact_at(fd, at("2026-04-05T09:00:00Z"), [child["id"]])
    # A contact received after it, and another child's, are not its history.
    await contact_at(fd, at("2026-04-06T09:00:00Z"), [child["id"]])
    await contact_at(fd, at("2026-03-05T09:00:00Z"), new_children=[child_body(given_name="Cy")])

    # A referral still awaiting a manager's authorisation counts, as reporting counts it.
    found = await history(fd, now)
    assert (found["earlier_contacts"], found["earlier_referrals"]) == (3, 1)
    assert found["last_referral_received_at"] == "2026-01-05T09:00:00Z"
    assert found["re_referral_if_referred"] is True
    # Advised, undecided, and this one since the referral; referred in the 12 months, not flagged.
    assert (found["contacts_since_last_referral"], found["repeated_contacts_without_referral"]) == (3, False)
    assert (await history(fd, undecided))["contacts_since_last_referral"] == 2

    # Superseded by no further action, it was never a referral: four worries and none referred.
    await post_at(
        fd,
        at("2026-04-05T12:00:00Z"),
        f"/decisions/{referral['id']}/supersede",
        {
            "decision": decision_body(decided_at="2026-04-05T12:00:00Z"),
            "reason": "new_information",
            "note": "Synthetic note.",
        },
        fd.pract,
    )
    found = await history(fd, now)
    assert (found["earlier_referrals"], found["last_referral_received_at"]) == (0, None)
    assert found["re_referral_if_referred"] is False
    assert (found["contacts_since_last_referral"], found["repeated_contacts_without_referral"]) == (4, True)
    # The third contact without a referral is the first flagged.
    assert (await history(fd, undecided))["repeated_contacts_without_referral"] is True
    assert (await history(fd, advised))["repeated_contacts_without_referral"] is False


async def test_contacts_at_the_same_instant_are_ordered_by_id(fd: FrontDoor) -> None:
    """One approach about a child named twice is impossible, so two approaches at one instant: the one
    with the lower id is the earlier, as reporting orders them."""
    child = await fd.child()
    when = at("2026-05-01T09:00:00Z")
    first, second = sorted(
        [(await contact_at(fd, when, [child["id"]]))[0] for _ in range(2)], key=lambda c: c["id"]
    )
    assert (await history(fd, first))["earlier_contacts"] == 0
    assert (await history(fd, second))["earlier_contacts"] == 1


async def test_staff_only_audited_and_404_for_an_unknown_contact(fd: FrontDoor) -> None:
    (contact,) = await contact_at(fd, at("2026-03-02T10:00:00Z"), new_children=[child_body()])
    url = f"/contacts/{contact['id']}/child-history"
    for headers in (fd.partner, fd.analyst):
        r = await fd.client.get(url, headers=headers)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert (await fd.client.get(url)).status_code == 401
    r = await fd.client.get("/contacts/00000000-0000-0000-0000-000000000000/child-history", headers=fd.pract)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await fd.client.get("/contacts/not-an-id/child-history", headers=fd.pract)
    assert r.status_code == 422 and [p["name"] for p in r.json()["invalid-params"]] == ["contact_id"]

    await history(fd, contact, fd.mgr)
    audit = (await fd.client.get("/audit", params={"child_id": contact["child_id"]}, headers=fd.admin)).json()
    reads = [a for a in audit["items"] if a["resource"] == "child_history"]
    assert [(a["action"], a["actor"], a["resource_id"]) for a in reads] == [("read", "m1", contact["id"])]


async def test_the_queue_shows_each_contacts_history_in_statements_not_growing_with_rows(
    fd: FrontDoor,
) -> None:
    child = await fd.child()
    await referral_closed(fd, child["id"], at("2026-01-05T09:00:00Z"))
    (waiting,) = await contact_at(fd, at("2026-02-05T09:00:00Z"), [child["id"]])
    url = "/worklists/contacts-awaiting-decision"
    engine = fd.client.app.state.db.engine.sync_engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def queue() -> tuple[list[dict], int]:
        statements.clear()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            r = await fd.client.get(url, headers=fd.pract)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert r.status_code == 200, r.text
        return r.json()["items"], len(statements)

    (item,), one = await queue()
    assert len([s for s in statements if "FROM contacts" in s and "EXISTS" in s.upper()]) == 1
    assert item["contact_id"] == waiting["id"]
    assert item["child_history"] == await history(fd, waiting)
    assert item["child_history"]["re_referral_if_referred"] is True
    for n in range(4):
        when = at("2026-02-06T09:00:00Z") + timedelta(hours=n)
        await contact_at(fd, when, new_children=[child_body(given_name=f"Kid{n}")])
    items, five = await queue()
    assert len(items) == 5 and all(not i["child_history"]["re_referral_if_referred"] for i in items[1:])
    # The history is read once for the whole page: only the audit grows with the rows.
    reads = [s for s in statements if "FROM contacts" in s and "EXISTS" in s.upper()]
    assert len(reads) == 1, reads
    assert five <= one + 4, (one, five)  # at most an audit write per row more


@postgres_only("plan_cache_mode and prepared statements are PostgreSQL's")
async def test_the_history_is_planned_with_its_values_however_often_it_runs(fd: FrontDoor) -> None:
    """The driver prepares each statement once per connection, and from a statement's sixth run
    PostgreSQL may plan it without its values (a generic plan). For the history that plan chose the
    received_at index over the children's ids: on 300,000 contacts it read every contact received in
    the page's year (52,000) where the children's index reads their few, 120 ms instead of 0.5 ms for a
    page of the queue, every time from then on. Here the connection is told to plan generically, as
    PostgreSQL decides to: the history is still planned with its values."""
    child = await fd.child()
    await referral_closed(fd, child["id"], at("2026-01-05T09:00:00Z"))
    (waiting,) = await contact_at(fd, at("2026-02-05T09:00:00Z"), [child["id"]])
    engine = fd.client.app.state.db.engine  # type: ignore[attr-defined]
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await session.execute(text("SET plan_cache_mode = force_generic_plan"))
        await session.commit()
        contact = await session.get(Contact, uuid.UUID(waiting["id"]))
        assert contact is not None
        for _ in range(7):
            found = await histories(session, [contact])
            assert found[contact.id].re_referral_if_referred is True
            await session.commit()
        plans = (
            await session.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%EXISTS (SELECT decisions.id%' "
                    "AND statement NOT LIKE '%pg_prepared_statements%'"
                )
            )
        ).all()
        await session.execute(text("RESET plan_cache_mode"))
        await session.commit()
    assert plans and all(generic == 0 and custom > 0 for generic, custom in plans), plans
