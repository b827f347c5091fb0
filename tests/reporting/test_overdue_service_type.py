"""The supervision report's overdue list labels each journey with the service type whose interval its
due date uses: an unallocated journey has none (null) and takes the default interval, not front_door's."""

from __future__ import annotations

from reporting_kit import contact, uid, utc

from services.referrals import events as rev

J, K, C = uid("journey-unallocated"), uid("child-unallocated"), uid("contact-unallocated")
JA, KA, CA = uid("journey-allocated"), uid("child-allocated"), uid("contact-allocated")
DAY = {"from": "2026-06-01", "to": "2026-06-01", "group_by": "team"}


async def test_unallocated_overdue_journey_is_not_labelled_front_door(world_factory, token) -> None:
    w = await world_factory()
    # Both received Mon 30 Mar 2026 10:00 BST; JA is allocated to a front-door team the same day.
    await w.ref(J, contact(C, K, utc(2026, 3, 30, 9), "6"), utc(2026, 3, 30, 9))
    await w.ref(JA, contact(CA, KA, utc(2026, 3, 30, 9), "6"), utc(2026, 3, 30, 9))
    allocated = rev.JourneyAllocated(
        allocation_id=uid("allocation-a"),
        child_id=KA,
        team_id="FD-WEST",
        area="West",
        service_type="front_door",
        worker_id="w1",
        effective_at=utc(2026, 3, 30, 10),
    )
    await w.ref(JA, allocated, utc(2026, 3, 30, 10))
    await w.catch_up("supervision", "referrals")

    r = await w.reporting.get("/reports/supervision", params=DAY, headers=token("analyst"))
    assert r.status_code == 200, r.text
    listed = {o["journey_id"]: (o["service_type"], o["due_on"]) for o in r.json()["overdue"]}
    # 20 working days (front_door) after Mon 30 Mar 2026, skipping Good Friday 3 Apr and Easter Monday
    # 6 Apr: Wed 29 Apr. 30 (the default, no service type): Thu 14 May (May Day 4 May skipped).
    assert listed == {
        str(JA): ("front_door", "2026-04-29"),
        str(J): (None, "2026-05-14"),
    }
