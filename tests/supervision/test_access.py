"""Who may record and read supervision: managers of the journey's current team; practitioners
allocated to the journey (read); analysts and partners never."""

from __future__ import annotations

import uuid

import pytest

from shared.codes import ServiceType


async def test_only_managers_of_the_current_team_record(h) -> None:
    journey_id, _ = await h.journey()
    practitioner = await h.record(journey_id, h.token("practitioner", sub="w1", team="FD-WEST"))
    assert practitioner.status_code == 403
    other_team = await h.record(journey_id, h.manager("AS-EAST"))
    assert other_team.status_code == 403 and other_team.json()["code"] == "not_your_team"
    no_team = await h.record(journey_id, h.token("manager", sub="m9"))
    assert no_team.status_code == 403
    assert await h.count("supervisions") == 0


@pytest.mark.parametrize("role", ["analyst", "partner", "service"])
async def test_analysts_partners_and_services_have_no_access(h, role: str) -> None:
    journey_id, child_id = await h.journey()
    sid = (await h.record(journey_id)).json()["id"]
    headers = h.token(role, sub="x1", team="FD-WEST")
    assert (await h.record(journey_id, headers)).status_code == 403
    for path in (
        f"/supervisions/{sid}",
        f"/children/{child_id}/supervisions",
        "/supervisions/due?team=FD-WEST",
        "/workers/w1",
    ):
        assert (await h.client.get(path, headers=headers)).status_code == 403, path


async def test_no_token_is_401(h) -> None:
    assert (await h.client.get("/supervisions/due")).status_code == 401
    assert (await h.client.post("/supervisions", json={})).status_code == 401


async def test_reads_follow_the_journey_current_team_and_worker(h) -> None:
    journey_id, child_id = await h.journey(worker="w1")
    sid = (await h.record(journey_id)).json()["id"]
    path = f"/supervisions/{sid}"
    assert (await h.client.get(path, headers=h.manager())).status_code == 200
    assert (await h.client.get(path, headers=h.token("practitioner", sub="w1"))).status_code == 200
    # Not theirs: 404, so nothing is disclosed about the child.
    assert (await h.client.get(path, headers=h.token("practitioner", sub="w7"))).status_code == 404
    assert (await h.client.get(path, headers=h.manager("AS-EAST"))).status_code == 404
    assert (await h.client.get(f"/supervisions/{uuid.uuid4()}", headers=h.manager())).status_code == 404

    # After a transfer the new team and worker read it; the old ones no longer do.
    await h.transfer(
        journey_id, child_id, to_team="AS-EAST", to_worker="w2", service_type=ServiceType.assessment
    )
    await h.sync()
    assert (await h.client.get(path, headers=h.manager())).status_code == 404
    assert (await h.client.get(path, headers=h.token("practitioner", sub="w1"))).status_code == 404
    assert (await h.client.get(path, headers=h.manager("AS-EAST"))).status_code == 200
    assert (await h.client.get(path, headers=h.token("practitioner", sub="w2"))).status_code == 200


async def test_reads_are_audited_with_the_child(h) -> None:
    journey_id, child_id = await h.journey()
    sid = (await h.record(journey_id)).json()["id"]
    await h.client.get(f"/supervisions/{sid}", headers=h.token("practitioner", sub="w1"))
    await h.client.get(f"/children/{child_id}/supervisions", headers=h.manager())
    await h.client.get("/supervisions/due", headers=h.manager())
    audit = await h.client.get(f"/audit?child_id={child_id}", headers=h.token("admin", sub="a1"))
    entries = [(e["actor"], e["action"], e["resource"]) for e in reversed(audit.json()["items"])]
    assert entries == [
        ("m1", "create", "supervision"),
        ("w1", "read", "supervision"),
        ("m1", "read", "supervision_history"),
        ("m1", "read", "supervision_due"),
    ]


async def test_child_history_shows_only_the_callers_journeys_newest_first(h) -> None:
    first, child_id = await h.journey(worker="w1")
    second, _ = await h.journey(child_id=child_id, worker="w1")
    elsewhere, _ = await h.journey(
        child_id=child_id, team="AS-EAST", service_type=ServiceType.assessment, worker="w3"
    )
    older = (await h.record(first, held_at="2026-03-10T10:00:00Z", actions=[])).json()["id"]
    newer = (await h.record(second, held_at="2026-03-20T10:00:00Z", actions=[])).json()["id"]
    hidden = await h.record(elsewhere, h.manager("AS-EAST"), actions=[])
    assert hidden.status_code == 201

    r = await h.client.get(f"/children/{child_id}/supervisions", headers=h.manager())
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["items"]] == [newer, older] and r.json()["total"] == 2
    page = await h.client.get(f"/children/{child_id}/supervisions?limit=1&offset=1", headers=h.manager())
    assert [s["id"] for s in page.json()["items"]] == [older] and page.json()["total"] == 2

    east = await h.client.get(f"/children/{child_id}/supervisions", headers=h.manager("AS-EAST"))
    assert [s["id"] for s in east.json()["items"]] == [hidden.json()["id"]]
    worker = await h.client.get(
        f"/children/{child_id}/supervisions", headers=h.token("practitioner", sub="w1")
    )
    assert [s["id"] for s in worker.json()["items"]] == [newer, older]
    stranger = await h.client.get(
        f"/children/{child_id}/supervisions", headers=h.token("practitioner", sub="w5")
    )
    assert stranger.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    bad = await h.client.get("/children/not-a-uuid/supervisions", headers=h.manager())
    assert bad.status_code == 422 and bad.json()["invalid-params"][0]["name"] == "child_id"
