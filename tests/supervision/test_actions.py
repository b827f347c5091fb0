"""Completing and cancelling supervision actions: nothing deleted, only open actions change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.types import utcnow
from tests.dbutil import statements_sent
from tests.platform_kit import postgres_only


async def recorded(h) -> tuple[dict, str]:
    journey_id, _ = await h.journey()
    r = await h.record(journey_id)
    assert r.status_code == 201
    return r.json(), r.headers["ETag"]


async def test_complete_then_cannot_complete_or_cancel_again(h) -> None:
    sup, etag = await recorded(h)
    action = sup["actions"][0]["id"]
    path = f"/supervisions/{sup['id']}/actions/{action}"
    done = await h.client.post(
        f"{path}/complete",
        json={"completed_at": "2026-03-18T12:00:00Z"},
        headers={**h.manager(), "If-Match": etag},
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["version"] == 2 and done.headers["ETag"] != etag
    first = body["actions"][0]
    assert (first["status"], first["completed_at"], first["changed_by"]) == (
        "completed",
        "2026-03-18T12:00:00Z",
        "m1",
    )
    assert body["actions"][1]["status"] == "open"

    again = await h.client.post(f"{path}/complete", headers=h.manager())
    assert again.status_code == 409 and again.json()["code"] == "action_not_open"
    cancel = await h.client.post(f"{path}/cancel", json={"reason": "No longer needed."}, headers=h.manager())
    assert cancel.status_code == 409

    events = await h.own_events()
    assert events[-1]["type"] == "SupervisionActionCompleted"
    assert events[-1]["payload"] == {
        "action_id": action,
        "supervision_id": sup["id"],
        "completed_at": "2026-03-18T12:00:00Z",
    }
    assert events[-1]["stream_version"] == 4


async def test_cancel_with_reason_then_cannot_complete(h) -> None:
    sup, _ = await recorded(h)
    action = sup["actions"][1]["id"]
    path = f"/supervisions/{sup['id']}/actions/{action}"
    no_reason = await h.client.post(f"{path}/cancel", json={}, headers=h.manager())
    assert no_reason.status_code == 422 and no_reason.json()["invalid-params"][0]["name"] == "reason"
    empty = await h.client.post(f"{path}/cancel", json={"reason": ""}, headers=h.manager())
    assert empty.status_code == 422
    # A reason of blanks, or carrying control characters, is no reason (was accepted).
    for reason in ("   ", "\t\n", "Done\x1b[2J"):
        blank = await h.client.post(f"{path}/cancel", json={"reason": reason}, headers=h.manager())
        assert blank.status_code == 422, blank.text
        assert blank.json()["invalid-params"][0]["name"] == "reason"
    cancelled = await h.client.post(
        f"{path}/cancel", json={"reason": "Overtaken by events."}, headers=h.manager()
    )
    assert cancelled.status_code == 200
    a = cancelled.json()["actions"][1]
    assert a["status"] == "cancelled" and a["cancel_reason"] == "Overtaken by events." and a["cancelled_at"]
    assert (await h.client.post(f"{path}/complete", headers=h.manager())).status_code == 409
    assert (
        await h.client.post(f"{path}/cancel", json={"reason": "x"}, headers=h.manager())
    ).status_code == 409
    # Nothing is deleted: both actions are still there.
    got = await h.client.get(f"/supervisions/{sup['id']}", headers=h.manager())
    assert [x["status"] for x in got.json()["actions"]] == ["open", "cancelled"]
    events = await h.own_events()
    assert events[-1]["type"] == "SupervisionActionCancelled"
    assert "Overtaken" not in str(events)


@postgres_only("the event append holds the log's append lock until commit")
@pytest.mark.parametrize(("verb", "body"), [("complete", None), ("cancel", {"reason": "Not needed."})])
async def test_a_change_sends_nothing_after_the_event_append(h, verb: str, body: dict | None) -> None:
    """The append takes the lock every appender of the database queues on and holds it to commit
    (shared/events/log.py: append as the last step). The answer's actions were read after it, a round
    trip more under that lock on every action completed or cancelled; now they are read before."""
    sup, _ = await recorded(h)
    path = f"/supervisions/{sup['id']}/actions/{sup['actions'][0]['id']}/{verb}"
    with statements_sent(h.service.db.engine) as sent:
        r = await h.client.post(path, json=body, headers=h.manager())
    assert r.status_code == 200, r.text
    assert "INSERT INTO journey_events " in sent[-1], sent[-1]
    expected = "completed" if verb == "complete" else "cancelled"
    assert [a["status"] for a in r.json()["actions"]] == [expected, "open"]
    assert r.json()["version"] == 2


async def test_stale_if_match_is_412_and_changes_nothing(h) -> None:
    sup, etag = await recorded(h)
    path = f"/supervisions/{sup['id']}/actions/{sup['actions'][0]['id']}"
    assert (await h.client.post(f"{path}/complete", headers=h.manager())).status_code == 200
    stale = await h.client.post(
        f"/supervisions/{sup['id']}/actions/{sup['actions'][1]['id']}/complete",
        headers={**h.manager(), "If-Match": etag},
    )
    assert stale.status_code == 412
    got = await h.client.get(f"/supervisions/{sup['id']}", headers=h.manager())
    assert got.json()["actions"][1]["status"] == "open" and got.json()["version"] == 2


async def test_completed_at_in_the_future_or_before_held_is_422(h) -> None:
    sup, _ = await recorded(h)
    path = f"/supervisions/{sup['id']}/actions/{sup['actions'][0]['id']}/complete"
    early = await h.client.post(path, json={"completed_at": "2026-03-15T10:00:00Z"}, headers=h.manager())
    assert early.status_code == 422 and early.json()["invalid-params"][0]["name"] == "completed_at"
    late = await h.client.post(path, json={"completed_at": "2099-01-01T10:00:00Z"}, headers=h.manager())
    assert late.status_code == 422 and late.json()["invalid-params"][0]["name"] == "completed_at"
    # A client's clock a little ahead of ours is within the clock skew allowed.
    ahead = (utcnow() + timedelta(seconds=30)).isoformat()
    done = await h.client.post(path, json={"completed_at": ahead}, headers=h.manager())
    assert done.status_code == 200, done.text
    naive = await h.client.post(path, json={"completed_at": "2026-03-18T10:00:00"}, headers=h.manager())
    assert naive.status_code == 422
    extra = await h.client.post(path, json={"note": "x"}, headers=h.manager())
    assert extra.status_code == 422 and extra.json()["invalid-params"][0]["name"] == "note"


async def test_who_may_change_an_action(h) -> None:
    sup, _ = await recorded(h)  # action 0 owned by w1 (the allocated worker), action 1 by m1
    base = f"/supervisions/{sup['id']}/actions"
    a0, a1 = sup["actions"][0]["id"], sup["actions"][1]["id"]
    # The allocated worker can read but not change the manager's action: 403.
    w1 = h.token("practitioner", sub="w1")
    assert (await h.client.post(f"{base}/{a1}/complete", headers=w1)).status_code == 403
    # A stranger can neither see nor change: 404.
    stranger = h.token("practitioner", sub="w8")
    assert (await h.client.post(f"{base}/{a0}/complete", headers=stranger)).status_code == 404
    assert (await h.client.post(f"{base}/{a0}/complete", headers=h.manager("AS-EAST"))).status_code == 404
    assert (
        await h.client.post(f"{base}/{a0}/complete", headers=h.token("analyst", sub="x"))
    ).status_code == 403
    # The owner can.
    assert (await h.client.post(f"{base}/{a0}/complete", headers=w1)).status_code == 200


async def test_unknown_action_or_supervision_is_404(h) -> None:
    sup, _ = await recorded(h)
    assert (
        await h.client.post(f"/supervisions/{sup['id']}/actions/{uuid.uuid4()}/complete", headers=h.manager())
    ).status_code == 404
    assert (
        await h.client.post(
            f"/supervisions/{uuid.uuid4()}/actions/{sup['actions'][0]['id']}/complete", headers=h.manager()
        )
    ).status_code == 404
    bad = await h.client.post(f"/supervisions/{sup['id']}/actions/nope/complete", headers=h.manager())
    assert bad.status_code == 422 and bad.json()["invalid-params"][0]["name"] == "action_id"


async def test_an_action_not_on_a_supervision_the_caller_reads_is_404_not_403(h) -> None:
    """The allocated worker reads the supervision but owns no action id they made up: that action does
    not exist (404), rather than being one they may not change (was 403)."""
    sup, _ = await recorded(h)
    w1 = h.token("practitioner", sub="w1")
    for verb, body in (("complete", None), ("cancel", {"reason": "Not needed."})):
        r = await h.client.post(
            f"/supervisions/{sup['id']}/actions/{uuid.uuid4()}/{verb}", json=body, headers=w1
        )
        assert r.status_code == 404, r.text
    other = (
        await h.record(
            uuid.UUID(sup["journey_id"]),
            actions=[{"description": "Elsewhere.", "owner_id": "m1", "due_on": "2026-03-20"}],
        )
    ).json()
    # An action of another supervision is not on this one either.
    r = await h.client.post(
        f"/supervisions/{sup['id']}/actions/{other['actions'][0]['id']}/complete", headers=w1
    )
    assert r.status_code == 404, r.text


async def test_a_hidden_supervision_is_answered_as_one_that_does_not_exist(h) -> None:
    sup, _ = await recorded(h)
    action = sup["actions"][0]["id"]
    for who in (h.token("practitioner", sub="w8"), h.manager("AS-EAST", sub="m9")):
        hidden = await h.client.post(f"/supervisions/{sup['id']}/actions/{action}/complete", headers=who)
        missing = await h.client.post(f"/supervisions/{uuid.uuid4()}/actions/{action}/complete", headers=who)
        assert hidden.status_code == missing.status_code == 404
        # Nothing in the answer tells the two apart (existence is not disclosed).
        assert {k: v for k, v in hidden.json().items() if k != "instance"} == {
            k: v for k, v in missing.json().items() if k != "instance"
        }


async def test_an_owner_who_may_not_read_the_supervision_gets_back_only_their_own_action(h) -> None:
    """The journey moved on to another team and worker: w1 and m1 still own their actions and may
    close them, but may no longer read the supervision (GET is 404). The change's answer handed them
    the whole record, discussion, decisions and everyone's actions; now it withholds what they may
    not read."""
    journey_id, child_id = await h.journey()
    sup = (await h.record(journey_id)).json()  # action 0 owned by w1, action 1 by m1
    await h.transfer(journey_id, child_id, effective_at=datetime(2026, 3, 17, 10, tzinfo=UTC))
    await h.sync()
    w1, m1 = h.token("practitioner", sub="w1"), h.manager()
    assert (await h.client.get(f"/supervisions/{sup['id']}", headers=w1)).status_code == 404
    base = f"/supervisions/{sup['id']}/actions"
    done = await h.client.post(f"{base}/{sup['actions'][0]['id']}/complete", headers=w1)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["discussion"] is None and body["decisions"] is None
    assert [(a["owner_id"], a["status"]) for a in body["actions"]] == [("w1", "completed")]
    assert "Synthetic" not in done.text and "Strategy" not in done.text
    cancelled = await h.client.post(
        f"{base}/{sup['actions'][1]['id']}/cancel",
        json={"reason": "Handed over."},
        headers={**m1, "If-Match": done.headers["ETag"]},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["discussion"] is None
    assert [(a["owner_id"], a["status"]) for a in cancelled.json()["actions"]] == [("m1", "cancelled")]
    # The new team's manager, who may read it, still gets the whole record.
    full = await h.client.get(f"/supervisions/{sup['id']}", headers=h.manager("AS-EAST", sub="m2"))
    assert full.status_code == 200 and full.json()["discussion"] == "Synthetic discussion text."
    assert [a["status"] for a in full.json()["actions"]] == ["completed", "cancelled"]
