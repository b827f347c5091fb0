"""The newly-qualified register: managers set it; ETag / If-Match; bad input."""

from __future__ import annotations


async def test_put_and_get_with_etags(h) -> None:
    assert (await h.client.get("/workers/w5", headers=h.manager())).status_code == 404
    created = await h.client.put(
        "/workers/w5", json={"newly_qualified_until": "2027-03-31"}, headers=h.manager()
    )
    assert created.status_code == 200
    assert created.json()["newly_qualified_until"] == "2027-03-31" and created.json()["version"] == 1
    etag = created.headers["ETag"]
    got = await h.client.get("/workers/w5", headers=h.manager())
    assert got.headers["ETag"] == etag and got.json()["updated_by"] == "m1"
    ended = await h.client.put(
        "/workers/w5", json={"newly_qualified_until": None}, headers={**h.manager(sub="m2"), "If-Match": etag}
    )
    assert ended.status_code == 200 and ended.json()["newly_qualified_until"] is None
    assert ended.json()["version"] == 2 and ended.json()["updated_by"] == "m2"
    stale = await h.client.put(
        "/workers/w5", json={"newly_qualified_until": "2027-01-01"}, headers={**h.manager(), "If-Match": etag}
    )
    assert stale.status_code == 412
    assert (await h.client.get("/workers/w5", headers=h.manager())).json()["newly_qualified_until"] is None


async def test_only_managers_and_bad_input(h) -> None:
    body = {"newly_qualified_until": "2027-03-31"}
    assert (
        await h.client.put("/workers/w5", json=body, headers=h.token("practitioner", sub="w5"))
    ).status_code == 403
    bad = await h.client.put("/workers/w5", json={"newly_qualified_until": "someday"}, headers=h.manager())
    assert bad.status_code == 422 and bad.json()["invalid-params"][0]["name"] == "newly_qualified_until"
    missing = await h.client.put("/workers/w5", json={}, headers=h.manager())
    assert (
        missing.status_code == 422 and missing.json()["invalid-params"][0]["name"] == "newly_qualified_until"
    )
    too_long = await h.client.put("/workers/" + "x" * 121, json=body, headers=h.manager())
    assert too_long.status_code == 422 and too_long.json()["invalid-params"][0]["name"] == "worker_id"


async def test_if_match_any_needs_an_entry_to_exist(h) -> None:
    """RFC 9110 13.1.1: `If-Match: *` is false when there is no current representation, so a PUT
    meant to change an existing entry does not create one (412); once it exists, `*` matches."""
    body = {"newly_qualified_until": "2027-03-31"}
    absent = await h.client.put("/workers/w6", json=body, headers={**h.manager(), "If-Match": "*"})
    assert absent.status_code == 412 and absent.headers["content-type"] == "application/problem+json"
    assert (await h.client.get("/workers/w6", headers=h.manager())).status_code == 404
    assert (await h.client.put("/workers/w6", json=body, headers=h.manager())).status_code == 200
    ended = {"newly_qualified_until": None}
    present = await h.client.put("/workers/w6", json=ended, headers={**h.manager(), "If-Match": "*"})
    assert present.status_code == 200 and present.json()["version"] == 2
