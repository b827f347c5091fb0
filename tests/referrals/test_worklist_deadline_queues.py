"""The awaiting-decision work list's deadline queues: breached, due soon and on time (`deadline`).

Due times worked by hand (default settings: 1 working day after the clock's start day, office
09:00-17:00 London, a due-soon window of 4 hours). August-September 2026 is summer time (17:00 BST =
16:00 UTC), and Monday 31 August 2026 is the summer bank holiday:

    A  Wed 26 Aug 10:00 BST                     -> clock Wed 26 -> due Thu 27 Aug 16:00 UTC
    B  Thu 27 Aug 16:59:59.999999 BST (in hours) -> clock Thu 27 -> due Fri 28 Aug 16:00 UTC
    C  Thu 27 Aug 17:00 BST (office close: out)  -> clock Fri 28 -> due Tue  1 Sep 16:00 UTC
    D  Fri 28 Aug 10:00 BST, red                -> clock Fri 28 -> due Tue  1 Sep 16:00 UTC
    E  Sat 29 Aug 11:00 BST                     -> clock Tue  1 -> due Wed  2 Sep 16:00 UTC
    F  Tue  1 Sep 10:00 BST, FD-EAST, red, "6"   -> clock Tue  1 -> due Wed  2 Sep 16:00 UTC

B and C are a microsecond apart and due four days apart: the filters must cut received_at exactly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fdhelpers import FrontDoor, at, child_body, contact_body, decision_body, iso, now_is

URL = "/worklists/contacts-awaiting-decision"
US = timedelta(microseconds=1)

THU_DUE = at("2026-08-27T16:00:00Z")
FRI_DUE = at("2026-08-28T16:00:00Z")
TUE_DUE = at("2026-09-01T16:00:00Z")
WED_DUE = at("2026-09-02T16:00:00Z")


async def _received(fd: FrontDoor, when: datetime, headers: dict[str, str] | None = None, **over: Any) -> str:
    with now_is(when):
        body = contact_body([], received_at=iso(when), new_children=[child_body()], **over)
        r = await fd.client.post("/contacts", json=body, headers=headers or fd.pract)
    assert r.status_code == 201, r.text
    contact_id: str = r.json()["contacts"][0]["id"]
    return contact_id


async def _contacts(fd: FrontDoor) -> dict[str, str]:
    east = fd.manager_of("FD-EAST")
    return {
        "A": await _received(fd, at("2026-08-26T09:00:00Z")),
        "B": await _received(fd, at("2026-08-27T15:59:59.999999Z")),
        "C": await _received(fd, at("2026-08-27T16:00:00Z")),
        "D": await _received(fd, at("2026-08-28T09:00:00Z"), urgency="red"),
        "E": await _received(fd, at("2026-08-29T10:00:00Z")),
        "F": await _received(fd, at("2026-09-01T09:00:00Z"), headers=east, urgency="red", source="6"),
    }


async def _queue(fd: FrontDoor, now: datetime, ids: dict[str, str], **params: Any) -> tuple[list[str], int]:
    """The letters of the contacts listed at `now`, in order, and the total."""
    names = {v: k for k, v in ids.items()}
    with now_is(now):
        r = await fd.client.get(URL, params=params, headers=fd.pract)
    assert r.status_code == 200, r.text
    body = r.json()
    return [names[i["contact_id"]] for i in body["items"]], body["total"]


async def test_each_queue_holds_the_contacts_in_its_state_just_before_at_and_after_a_deadline(
    fd: FrontDoor,
) -> None:
    ids = await _contacts(fd)
    due = {
        "A": THU_DUE, "B": FRI_DUE, "C": TUE_DUE, "D": TUE_DUE, "E": WED_DUE, "F": WED_DUE,
    }  # fmt: skip
    with now_is(TUE_DUE):
        items = (await fd.client.get(URL, headers=fd.pract)).json()["items"]
    assert {i["contact_id"]: at(i["decision_due_at"]) for i in items} == {ids[k]: v for k, v in due.items()}

    cases = [
        # A microsecond before Tuesday's due time: C and D are due within 4 hours.
        (TUE_DUE - US, ["A", "B"], ["C", "D"], ["E", "F"]),
        # At it: due, not yet past it (as deadline_breached says, and a decision now is on time).
        (TUE_DUE, ["A", "B"], ["C", "D"], ["E", "F"]),
        # A microsecond after: breached, and nothing else falls due within 4 hours.
        (TUE_DUE + US, ["A", "B", "C", "D"], [], ["E", "F"]),
        # The window's end is inclusive: due at exactly now + 4 hours is due soon; a microsecond
        # after it is not.
        (WED_DUE - timedelta(hours=4) - US, ["A", "B", "C", "D"], [], ["E", "F"]),
        (WED_DUE - timedelta(hours=4), ["A", "B", "C", "D"], ["E", "F"], []),
        (WED_DUE + US, ["A", "B", "C", "D", "E", "F"], [], []),
    ]
    for now, breached, due_soon, on_time in cases:
        for state, expected in (("breached", breached), ("due_soon", due_soon), ("on_time", on_time)):
            assert await _queue(fd, now, ids, deadline=state) == (expected, len(expected)), (now, state)
        # The queues split the whole list, and each item's flag agrees with its queue.
        with now_is(now):
            items = (await fd.client.get(URL, headers=fd.pract)).json()["items"]
        assert [i["contact_id"] for i in items] == [ids[k] for k in "ABCDEF"]
        assert [k for k, i in zip("ABCDEF", items, strict=True) if i["deadline_breached"]] == breached, now
        states = {"breached": breached, "due_soon": due_soon, "on_time": on_time}
        assert {k: i["deadline_state"] for k, i in zip("ABCDEF", items, strict=True)} == {
            k: state for state, keys in states.items() for k in keys
        }, now
    # Friday's due time, a microsecond apart: B (received a microsecond before office close on
    # Thursday) is breached while C (received at it) waits for Tuesday.
    assert await _queue(fd, FRI_DUE + US, ids, deadline="breached") == (["A", "B"], 2)
    assert await _queue(fd, FRI_DUE, ids, deadline="breached") == (["A"], 1)
    assert await _queue(fd, FRI_DUE, ids, deadline="due_soon") == (["B"], 1)


async def test_the_queues_page_and_count_in_sql_and_combine_with_the_other_filters(fd: FrontDoor) -> None:
    ids = await _contacts(fd)
    now = WED_DUE - timedelta(hours=1)  # A-D breached; E and F due within the hour
    assert await _queue(fd, now, ids, deadline="breached", limit=2) == (["A", "B"], 4)
    assert await _queue(fd, now, ids, deadline="breached", limit=2, offset=2) == (["C", "D"], 4)
    assert await _queue(fd, now, ids, deadline="breached", limit=2, offset=4) == ([], 4)
    assert await _queue(fd, now, ids, deadline="due_soon", limit=1, offset=1) == (["F"], 2)
    assert await _queue(fd, now, ids, deadline="breached", urgency="red") == (["D"], 1)
    assert await _queue(fd, now, ids, deadline="due_soon", urgency="red") == (["F"], 1)
    assert await _queue(fd, now, ids, deadline="due_soon", team_id="FD-WEST") == (["E"], 1)
    assert await _queue(fd, now, ids, deadline="due_soon", team_id="FD-EAST", source="6") == (["F"], 1)
    assert await _queue(fd, now, ids, deadline="breached", team_id="FD-EAST") == ([], 0)
    assert await _queue(fd, now, ids, deadline="on_time", urgency="red") == ([], 0)
    # A decided contact leaves its queue.
    with now_is(now):
        r = await fd.client.post(
            f"/contacts/{ids['E']}/decisions", json=decision_body(decided_at=iso(now)), headers=fd.pract
        )
    assert r.status_code == 201, r.text
    assert await _queue(fd, now, ids, deadline="due_soon") == (["F"], 1)


async def test_the_due_soon_window_is_a_setting(app_client: Any, token: Any) -> None:
    fd = FrontDoor(await app_client("referrals", due_soon_hours=24.5), token)
    ids = await _contacts(fd)
    # Tuesday 15:30 UTC: C and D are due in half an hour, E and F in 24.5 hours: all due soon.
    now = TUE_DUE - timedelta(minutes=30)
    assert await _queue(fd, now, ids, deadline="due_soon") == (["C", "D", "E", "F"], 4)
    assert await _queue(fd, now + US, ids, deadline="due_soon") == (["C", "D", "E", "F"], 4)
    assert await _queue(fd, now - US, ids, deadline="due_soon") == (["C", "D"], 2)
    assert await _queue(fd, now - US, ids, deadline="on_time") == (["E", "F"], 2)


async def test_the_queues_follow_the_counting_convention(app_client: Any, token: Any) -> None:
    # day_1 with 2 working days is the same due time as day_0 with 1 (the clock's start day is day 1).
    fd = FrontDoor(await app_client("referrals", counting="day_1", decision_deadline_working_days=2), token)
    ids = await _contacts(fd)
    assert await _queue(fd, TUE_DUE, ids, deadline="breached") == (["A", "B"], 2)
    assert await _queue(fd, TUE_DUE, ids, deadline="due_soon") == (["C", "D"], 2)
    assert await _queue(fd, TUE_DUE + US, ids, deadline="breached") == (["A", "B", "C", "D"], 4)


async def test_the_queues_follow_the_day_of_the_clock_start_under_day_1(app_client: Any, token: Any) -> None:
    # day_1 with 1 working day: due at office close on the clock's start day. C's and D's clock starts
    # on Friday 28 August, E's and F's on Tuesday 1 September.
    fd = FrontDoor(await app_client("referrals", counting="day_1"), token)
    ids = await _contacts(fd)
    assert await _queue(fd, FRI_DUE, ids, deadline="breached") == (["A", "B"], 2)
    assert await _queue(fd, FRI_DUE, ids, deadline="due_soon") == (["C", "D"], 2)
    assert await _queue(fd, TUE_DUE - US, ids, deadline="breached") == (["A", "B", "C", "D"], 4)
    assert await _queue(fd, TUE_DUE - US, ids, deadline="due_soon") == (["E", "F"], 2)
    assert await _queue(fd, TUE_DUE + US, ids, deadline="breached") == (["A", "B", "C", "D", "E", "F"], 6)


async def test_an_unknown_deadline_state_is_a_problem_naming_the_parameter(fd: FrontDoor) -> None:
    for value in ("late", "BREACHED", ""):
        r = await fd.client.get(URL, params={"deadline": value}, headers=fd.pract)
        assert r.status_code == 422, value
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [(p["name"], p["location"]) for p in r.json()["invalid-params"]] == [("deadline", "query")]
