"""Registering the same thing from two requests at once: one is registered, the other is told it
already exists (409), never a server error. On PostgreSQL both requests pass the look-up before
either commits, so the unique key decides."""

from __future__ import annotations

import asyncio

from fdhelpers import FrontDoor


async def test_one_team_code_registered_at_once_by_three_requests(fd: FrontDoor):
    body = {"id": "FD-RACE", "name": "Team Race", "area": "West", "service_type": "front_door"}
    results = await asyncio.gather(*[fd.client.post("/teams", json=body, headers=fd.mgr) for _ in range(3)])
    assert sorted(r.status_code for r in results) == [201, 409, 409], [r.text for r in results]
    for refused in (r for r in results if r.status_code == 409):
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "team_exists"
    listed = (await fd.client.get("/teams", headers=fd.pract)).json()["items"]
    assert [t["id"] for t in listed if t["id"] == "FD-RACE"] == ["FD-RACE"]
