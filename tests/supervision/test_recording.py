"""POST /supervisions: the record, its actions, its events, its audit, and every rejection."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.types import utcnow
from tests.dbutil import statements_sent
from tests.platform_kit import postgres_only


async def test_records_supervision_with_actions_events_and_audit(h) -> None:
    journey_id, child_id = await h.journey()
    r = await h.record(journey_id)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["ETag"] and r.headers["Location"] == f"/supervisions/{body['id']}"
    assert body["journey_id"] == str(journey_id) and body["child_id"] == str(child_id)
    assert body["team_id"] == "FD-WEST" and body["supervisee_id"] == "w1" and body["recorded_by"] == "m1"
    # Held Mon 16 Mar 2026; front door every 20 working days: 20 weekdays on is Mon 13 Apr, but Good
    # Friday (3 Apr) and Easter Monday (6 Apr) are bank holidays, so Wed 15 Apr.
    assert body["next_due_on"] == body["policy_due_on"] == "2026-04-15"
    assert [(a["owner_id"], a["due_on"], a["status"]) for a in body["actions"]] == [
        ("w1", "2026-03-20", "open"),
        ("m1", "2026-03-16", "open"),
    ]

    events = await h.own_events()
    assert [e["type"] for e in events] == [
        "SupervisionRecorded",
        "SupervisionActionSet",
        "SupervisionActionSet",
    ]
    assert {e["journey_id"] for e in events} == {str(journey_id)}
    assert [e["stream_version"] for e in events] == [1, 2, 3]
    recorded = events[0]["payload"]
    assert recorded["supervision_id"] == body["id"] and recorded["child_id"] == str(child_id)
    assert (
        recorded["actions"] == 2
        and recorded["next_due_on"] == "2026-04-15"
        and recorded["kind"] == "individual"
    )
    # Coded and pseudonymous: the free text never leaves the service.
    text = str(events)
    assert "Synthetic" not in text and "school" not in text and "Strategy" not in text

    audit = await h.client.get(f"/audit?child_id={child_id}", headers=h.token("admin", sub="a1"))
    assert [(e["action"], e["resource"]) for e in audit.json()["items"]] == [("create", "supervision")]

    got = await h.client.get(f"/supervisions/{body['id']}", headers=h.manager())
    assert got.status_code == 200 and got.json() == body and got.headers["ETag"] == r.headers["ETag"]


async def test_second_supervision_continues_the_journey_stream(h) -> None:
    journey_id, _ = await h.journey()
    assert (await h.record(journey_id, actions=[])).status_code == 201
    assert (await h.record(journey_id, actions=[], held_at="2026-04-01T10:00:00Z")).status_code == 201
    assert [e["stream_version"] for e in await h.own_events()] == [1, 2]


async def test_idempotency_key_replays_and_refuses_a_different_body(h) -> None:
    journey_id, child_id = await h.journey()
    # "k-2" with caller m1: its crc32 fits PostgreSQL's int4 advisory-lock key. Keys that don't fail on
    # PostgreSQL until the shared/idempotency.py signed-int fix (in the platform worktree) lands.
    headers = {**h.manager(), "Idempotency-Key": "k-2"}
    first = await h.record(journey_id, headers)
    again = await h.record(journey_id, headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    # The first answer's headers too: where the record is and which version it was.
    assert again.headers["Location"] == first.headers["Location"] == f"/supervisions/{first.json()['id']}"
    assert again.headers["ETag"] == first.headers["ETag"]
    assert await h.count("supervisions") == 1 and len(await h.own_events()) == 3
    # The replay handed the child's record out again: audited as a read.
    audit = await h.client.get(f"/audit?child_id={child_id}", headers=h.token("admin", sub="a1"))
    assert sorted(
        (e["action"], e["resource"], e["resource_id"], e["actor"], e["reason"]) for e in audit.json()["items"]
    ) == [
        ("create", "supervision", first.json()["id"], "m1", None),
        ("read", "supervision", first.json()["id"], "m1", "idempotent replay"),
    ]
    other = await h.record(journey_id, headers, decisions="Something else.")
    assert other.status_code == 422
    assert other.json()["invalid-params"][0]["name"] == "Idempotency-Key"
    assert await h.count("supervisions") == 1


async def test_a_replay_is_refused_once_the_manager_may_no_longer_read_the_journey(h) -> None:
    """The stored answer holds the supervision's discussion and decisions. A retry after the manager
    or the journey moved team is checked as a read would be now, not as it was when first recorded."""
    journey_id, child_id = await h.journey()
    key = {"Idempotency-Key": "k-moved"}
    first = await h.record(journey_id, {**h.manager(), **key})
    assert first.status_code == 201, first.text

    async def replays_audited() -> int:
        audit = await h.client.get(f"/audit?child_id={child_id}", headers=h.token("admin", sub="a1"))
        return sum((e["action"], e["resource"]) == ("read", "supervision") for e in audit.json()["items"])

    # The same manager (m1), now in another team: the key is theirs, the journey no longer is.
    moved = await h.record(journey_id, {**h.manager(team="AS-EAST"), **key})
    assert moved.status_code == 403, moved.text
    assert moved.json()["code"] == "idempotency_replay_not_readable"
    assert "Idempotent-Replayed" not in moved.headers and "discussion" not in moved.text
    assert await replays_audited() == 0
    # The journey follows them to AS-EAST: their retry reads it again.
    await h.transfer(journey_id, child_id, to_team="AS-EAST")
    await h.sync()
    followed = await h.record(journey_id, {**h.manager(team="AS-EAST"), **key})
    assert followed.status_code == 201 and followed.json() == first.json()
    assert followed.headers["Idempotent-Replayed"] == "true"
    # And in their old team they may no longer: the journey moved away from it.
    stayed = await h.record(journey_id, {**h.manager(), **key})
    assert stayed.status_code == 403 and stayed.json()["code"] == "idempotency_replay_not_readable"
    assert await replays_audited() == 1  # only the replay that handed the record out
    assert await h.count("supervisions") == 1 and len(await h.own_events()) == 3


@postgres_only("the event append holds the log's append lock until commit")
async def test_with_an_idempotency_key_nothing_is_sent_after_the_event_append(h) -> None:
    """The append takes the lock every appender of the database queues on and holds it to commit
    (shared/events/log.py: append as the last step). The idempotency record was inserted after it, a
    round trip more under that lock on every supervision recorded with a key; now it is sent before."""
    journey_id, _ = await h.journey()
    with statements_sent(h.service.db.engine) as sent:
        r = await h.record(journey_id, {**h.manager(), "Idempotency-Key": "k-2"})
    assert r.status_code == 201, r.text
    assert "INSERT INTO journey_events " in sent[-1], sent[-1]
    assert any("INSERT INTO idempotency_keys " in statement for statement in sent), sent
    again = await h.record(journey_id, {**h.manager(), "Idempotency-Key": "k-2"})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == r.json()
    assert again.headers["ETag"] == r.headers["ETag"] and again.headers["Location"] == r.headers["Location"]


async def test_next_due_may_be_sooner_than_policy_but_not_later(h) -> None:
    journey_id, _ = await h.journey()
    sooner = await h.record(journey_id, next_due_on="2026-03-30")
    assert sooner.status_code == 201 and sooner.json()["next_due_on"] == "2026-03-30"
    assert sooner.json()["policy_due_on"] == "2026-04-15"
    later = await h.record(journey_id, next_due_on="2026-04-16")
    assert later.status_code == 422 and later.json()["code"] == "next_due_after_policy"
    assert later.json()["invalid-params"][0]["name"] == "next_due_on"
    same_day = await h.record(journey_id, next_due_on="2026-03-16")
    assert same_day.status_code == 422 and same_day.json()["invalid-params"][0]["name"] == "next_due_on"


async def test_newly_qualified_supervisee_gets_the_shorter_interval(h) -> None:
    journey_id, _ = await h.journey()
    put = await h.client.put("/workers/w1", json={"newly_qualified_until": "2026-12-31"}, headers=h.manager())
    assert put.status_code == 201, put.text
    r = await h.record(journey_id)
    # 10 working days after Mon 16 Mar 2026 (no holidays): Mon 30 Mar.
    assert r.status_code == 201 and r.json()["next_due_on"] == "2026-03-30"
    # After their newly-qualified period the team interval applies again.
    await h.client.put("/workers/w1", json={"newly_qualified_until": "2026-03-13"}, headers=h.manager())
    assert (await h.record(journey_id)).json()["next_due_on"] == "2026-04-15"


async def test_unknown_journey_is_422_naming_journey_id(h) -> None:
    import uuid

    r = await h.record(uuid.uuid4())
    assert r.status_code == 422 and r.json()["code"] == "unknown_journey"
    assert r.json()["invalid-params"][0]["name"] == "journey_id"


async def test_closed_journey_is_409(h) -> None:
    journey_id, child_id = await h.journey()
    await h.close(journey_id, child_id)
    await h.sync()
    r = await h.record(journey_id)
    assert r.status_code == 409 and r.json()["code"] == "journey_closed"
    assert await h.count("supervisions") == 0 and await h.own_events() == []


async def test_held_in_the_future_is_422(h) -> None:
    journey_id, _ = await h.journey()
    future = (utcnow() + timedelta(hours=2)).isoformat()
    r = await h.record(journey_id, held_at=future, actions=[])
    assert r.status_code == 422 and r.json()["code"] == "held_in_future"
    assert r.json()["invalid-params"][0]["name"] == "held_at"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("held_at", 1773655200),
        ("held_at", "1773655200"),
        ("next_due_on", 1776211200),
        ("next_due_on", "20260415"),
    ],
)
async def test_a_time_or_date_not_written_in_iso_8601_is_refused(h, field: str, value: object) -> None:
    """pydantic reads seconds since 1970 from a number or from text of digits (was accepted)."""
    journey_id, _ = await h.journey()
    r = await h.record(journey_id, **{field: value})
    assert r.status_code == 422, r.text
    assert [p["name"] for p in r.json()["invalid-params"]] == [field]


async def test_held_a_moment_ahead_of_our_clock_is_accepted_as_referrals_does(h) -> None:
    # A client's clock a little ahead of ours (within the 120 s allowed, as referrals allows) says
    # "held just now", not "held in the future".
    journey_id, _ = await h.journey()
    ahead = (utcnow() + timedelta(seconds=30)).isoformat()
    r = await h.record(journey_id, held_at=ahead, actions=[])
    assert r.status_code == 201, r.text
    beyond = (utcnow() + timedelta(minutes=10)).isoformat()
    assert (await h.record(journey_id, held_at=beyond, actions=[])).json()["code"] == "held_in_future"


async def test_held_before_the_journey_started_is_422(h) -> None:
    journey_id, _ = await h.journey()
    r = await h.record(journey_id, held_at="2026-03-02T09:59:59Z", actions=[])
    assert r.status_code == 422 and r.json()["code"] == "held_before_journey_start"
    assert r.json()["invalid-params"][0]["name"] == "held_at"


async def test_action_due_before_the_london_day_it_was_held_is_422(h) -> None:
    journey_id, _ = await h.journey()
    # 23:30 UTC on 20 April is 00:30 on 21 April in London (BST): an action due on the 20th is too early.
    r = await h.record(
        journey_id,
        held_at="2026-04-20T23:30:00Z",
        actions=[
            {"description": "Fine.", "owner_id": "w1", "due_on": "2026-04-21"},
            {"description": "Too early.", "owner_id": "w1", "due_on": "2026-04-20"},
        ],
    )
    assert r.status_code == 422 and r.json()["code"] == "action_due_before_held"
    assert r.json()["invalid-params"][0]["name"] == "actions.1.due_on"
    assert await h.count("supervisions") == 0 and await h.count("supervision_actions") == 0


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"held_at": "2026-03-16T10:00:00"}, "held_at"),  # naive: no time zone
        ({"kind": "chat"}, "kind"),
        ({"discussion": ""}, "discussion"),
        ({"supervisee_id": ""}, "supervisee_id"),
        ({"journey_id": "not-a-uuid"}, "journey_id"),
        ({"actions": [{"description": "x", "owner_id": "w1"}]}, "actions.0.due_on"),
        ({"actions": [{"description": "x", "owner_id": "w1", "due_on": "soon"}]}, "actions.0.due_on"),
        ({"next_due_on": "2026-02-30"}, "next_due_on"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_input_is_422_naming_the_field(h, override: dict, field: str) -> None:
    journey_id, _ = await h.journey()
    r = await h.record(journey_id, **override)
    assert r.status_code == 422, r.text
    assert field in [p["name"] for p in r.json()["invalid-params"]]
    assert await h.count("supervisions") == 0


async def test_missing_required_field_and_malformed_json(h) -> None:
    journey_id, _ = await h.journey()
    r = await h.client.post("/supervisions", json={"journey_id": str(journey_id)}, headers=h.manager())
    assert r.status_code == 422
    assert {"supervisee_id", "held_at", "kind", "discussion", "decisions"} <= {
        p["name"] for p in r.json()["invalid-params"]
    }
    bad = await h.client.post(
        "/supervisions", content=b"{", headers={**h.manager(), "Content-Type": "application/json"}
    )
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"discussion": "a\x00b"}, "discussion"),
        ({"supervisee_id": "w 1"}, "supervisee_id"),
        ({"held_at": "0001-01-01T00:00:00+01:00"}, "held_at"),
        ({"held_at": "9999-12-31T23:59:59-14:00"}, "held_at"),  # past year 9999 in UTC
        ({"held_at": "1850-01-01T00:00:00Z"}, "held_at"),
    ],
)
async def test_values_the_database_cannot_hold_are_422(h, override: dict, field: str) -> None:
    journey_id, _ = await h.journey()
    r = await h.record(journey_id, **override)
    assert r.status_code == 422, r.text
    assert [p["name"] for p in r.json()["invalid-params"]] == [field]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        (
            {"actions": [{"description": "Review.", "owner_id": "w1", "due_on": "9999-12-31"}]},
            "actions.0.due_on",
        ),
        ({"next_due_on": "9999-12-31"}, "next_due_on"),
    ],
)
async def test_a_date_the_calendar_cannot_count_from_is_422(h, override: dict, field: str) -> None:
    """An action due in year 9999 was stored and published, and reporting's reader skips it (the
    working-day calendar cannot count on from that year), so reporting never knew the action. Now 422
    naming the field, as a next due date there is (it is later than the policy allows, too)."""
    journey_id, _ = await h.journey()
    r = await h.record(journey_id, **override)
    assert r.status_code == 422, r.text
    assert [p["name"] for p in r.json()["invalid-params"]] == [field]
    assert await h.count("supervisions") == 0


async def test_odd_query_and_path_values_are_422(h) -> None:
    r = await h.client.get("/supervisions/due?team=FD%00WEST", headers=h.manager())
    assert r.status_code == 422 and r.json()["invalid-params"][0]["name"] == "team"
    w = await h.client.put("/workers/w%00", json={"newly_qualified_until": None}, headers=h.manager())
    assert w.status_code == 422 and w.json()["invalid-params"][0]["name"] == "worker_id"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"discussion": "   \n\t "}, "discussion"),
        ({"decisions": " "}, "decisions"),
        ({"discussion": "Escape \x1b[31m codes"}, "discussion"),
        ({"decisions": "Bell \x07"}, "decisions"),
        (
            {"actions": [{"description": "\x0c", "owner_id": "w1", "due_on": "2026-03-20"}]},
            "actions.0.description",
        ),
        (
            {"actions": [{"description": "  ", "owner_id": "w1", "due_on": "2026-03-20"}]},
            "actions.0.description",
        ),
    ],
)
async def test_blank_free_text_or_control_characters_are_422(h, override: dict, field: str) -> None:
    """Was accepted: a discussion of spaces only, or text carrying terminal escapes (referrals refuses
    both)."""
    journey_id, _ = await h.journey()
    r = await h.record(journey_id, **override)
    assert r.status_code == 422, r.text
    assert [p["name"] for p in r.json()["invalid-params"]] == [field]
    assert await h.count("supervisions") == 0


async def test_free_text_keeps_tabs_and_line_breaks_and_loses_surrounding_blanks(h) -> None:
    journey_id, _ = await h.journey()
    r = await h.record(journey_id, discussion="  First point.\r\n\tSecond point.  ", actions=[])
    assert r.status_code == 201, r.text
    assert r.json()["discussion"] == "First point.\r\n\tSecond point."


async def test_a_free_text_request_id_never_reaches_the_event_envelope(h) -> None:
    # The envelope's correlation_id is the request id, and reporting reads this feed: a free-text
    # X-Request-ID (a name, an address) is replaced by a generated one; an id-shaped one is kept.
    journey_id, _ = await h.journey()
    free = await h.record(journey_id, {**h.manager(), "X-Request-ID": "Jane Smith 12 Acacia Ave"})
    assert free.status_code == 201, free.text
    assert free.headers["x-request-id"] != "Jane Smith 12 Acacia Ave"
    kept = await h.record(journey_id, {**h.manager(), "X-Request-ID": "sup-0f9e8d7c"})
    assert kept.status_code == 201, kept.text
    assert kept.headers["x-request-id"] == "sup-0f9e8d7c"
    events = await h.own_events()
    assert "Acacia" not in str(events)
    assert [e["correlation_id"] for e in events] == [free.headers["x-request-id"]] * 3 + ["sup-0f9e8d7c"] * 3
