"""The newly-qualified register: managers set it; ETag / If-Match; bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import text

from services.supervision.events import NewlyQualifiedRegisterSet, catalogue, register_stream
from services.supervision.main import stream_heads
from services.supervision.workers.models import Worker
from services.supervision.workers.service import publish_entry
from shared.db import Database
from shared.events.log import EventLog
from shared.events.verify import verify_log
from shared.http import make_etag
from shared.migrations import upgrade


async def test_put_and_get_with_etags(h) -> None:
    assert (await h.client.get("/workers/w5", headers=h.manager())).status_code == 404
    created = await h.client.put(
        "/workers/w5", json={"newly_qualified_until": "2027-03-31"}, headers=h.manager()
    )
    # RFC 9110 9.3.4: a PUT that creates the resource answers 201; one that replaces it, 200.
    assert created.status_code == 201, created.text
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


async def test_a_put_that_creates_answers_201_and_one_that_replaces_200(h) -> None:
    """RFC 9110 9.3.4: an origin server that creates a resource on PUT MUST answer 201 (Created); one
    that replaces it answers 200. Was 200 for both. The same PUT sent again (a retry after a lost
    answer) finds the entry already as asked: 200, and nothing changes (see the next test)."""
    body = {"newly_qualified_until": "2027-03-31"}
    created = await h.client.put("/workers/w7", json=body, headers=h.manager())
    assert created.status_code == 201 and created.json()["version"] == 1
    assert created.headers["ETag"] and created.headers["content-type"] == "application/json"
    again = await h.client.put("/workers/w7", json=body, headers=h.manager())
    assert again.status_code == 200 and again.json()["newly_qualified_until"] == "2027-03-31"
    assert again.json()["version"] == 1 and again.headers["ETag"] == created.headers["ETag"]
    # Created with If-Match naming the absent entry (version 0: "only if not there yet"): 201 too.
    only_new = {**h.manager(), "If-Match": make_etag("w8", 0)}
    assert (await h.client.put("/workers/w8", json=body, headers=only_new)).status_code == 201
    assert (await h.client.put("/workers/w8", json=body, headers=only_new)).status_code == 412
    # The register takes no Idempotency-Key: a PUT is idempotent by its method, so a retry with one
    # is a replacement like any other (no replayed answer).
    keyed = {**h.manager(), "Idempotency-Key": "nq-w9"}
    first = await h.client.put("/workers/w9", json=body, headers=keyed)
    retry = await h.client.put("/workers/w9", json=body, headers=keyed)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert "Idempotent-Replayed" not in retry.headers


async def test_a_put_of_what_the_entry_holds_changes_nothing_and_publishes_nothing(h) -> None:
    """Was a new version and a new event per retry: a partner system re-sending its register every
    night bumped every ETag (its next If-Match failed for nothing changed) and published each entry
    again. Now the entry, its version, ETag, updated_at/by and the stream stay as they were; If-Match
    is still checked first, and a real change still publishes."""
    body = {"newly_qualified_until": "2027-03-31"}
    created = await h.client.put("/workers/w5", json=body, headers=h.manager())
    etag = created.headers["ETag"]
    same = await h.client.put("/workers/w5", json=body, headers={**h.manager(sub="m2"), "If-Match": etag})
    assert same.status_code == 200 and same.headers["ETag"] == etag
    assert same.json() == created.json()  # version 1, updated_by m1, the same updated_at
    assert (await h.client.get("/workers/w5", headers=h.manager())).json() == created.json()
    stale = await h.client.put("/workers/w5", json=body, headers={**h.manager(), "If-Match": '"other"'})
    assert stale.status_code == 412
    changed = await h.client.put(
        "/workers/w5", json={"newly_qualified_until": None}, headers={**h.manager(), "If-Match": etag}
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    async with h.service.db.read_session() as session:
        stream = await h.service.event_log.read_stream(session, register_stream("w5"))
    assert [(e.stream_version, e.payload["newly_qualified_until"]) for e in stream] == [
        (1, "2027-03-31"),
        (2, None),
    ]


async def test_the_openapi_documents_201_on_create_and_200_on_replace(h) -> None:
    put = h.client.app.openapi()["paths"]["/workers/{worker_id}"]["put"]["responses"]
    for status in ("200", "201"):
        assert put[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/WorkerOut"
        }
        assert "ETag" in put[status]["headers"]
    assert "creat" in put["201"]["description"].lower() and "replac" in put["200"]["description"].lower()


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


async def test_an_end_date_the_calendar_cannot_count_from_is_422(h) -> None:
    """Was stored and published: an entry until 9999-12-31 (meaning "for good"), which reporting's
    reader skips (the working-day calendar cannot count on from year 9999), so reporting kept the
    worker's earlier entry and its due dates for their journeys parted from ours. Now 422 naming the
    field, and nothing is published; the year before is the last one taken."""
    for until in ("9999-12-31", "9999-01-01"):
        r = await h.client.put("/workers/w5", json={"newly_qualified_until": until}, headers=h.manager())
        assert r.status_code == 422, r.text
        assert [p["name"] for p in r.json()["invalid-params"]] == ["newly_qualified_until"]
    assert await h.own_events() == []
    last_year = {"newly_qualified_until": "9998-12-31"}
    last = await h.client.put("/workers/w5", json=last_year, headers=h.manager())
    assert last.status_code == 201, last.text


async def test_if_match_any_needs_an_entry_to_exist(h) -> None:
    """RFC 9110 13.1.1: `If-Match: *` is false when there is no current representation, so a PUT
    meant to change an existing entry does not create one (412); once it exists, `*` matches."""
    body = {"newly_qualified_until": "2027-03-31"}
    absent = await h.client.put("/workers/w6", json=body, headers={**h.manager(), "If-Match": "*"})
    assert absent.status_code == 412 and absent.headers["content-type"] == "application/problem+json"
    assert (await h.client.get("/workers/w6", headers=h.manager())).status_code == 404
    assert (await h.client.put("/workers/w6", json=body, headers=h.manager())).status_code == 201
    ended = {"newly_qualified_until": None}
    present = await h.client.put("/workers/w6", json=ended, headers={**h.manager(), "If-Match": "*"})
    assert present.status_code == 200 and present.json()["version"] == 2


async def test_every_register_write_publishes_the_entry_on_the_workers_own_stream(h) -> None:
    """Reporting learns the register only from the feed: each PUT appends the entry as it now is, in
    the write's transaction, to the worker's register stream (versions and hash chain of its own);
    a refused write publishes nothing. Ids and a date only: no names, no free text."""
    manager = h.manager()
    created = await h.client.put("/workers/w5", json={"newly_qualified_until": "2027-03-31"}, headers=manager)
    etag = created.headers["ETag"]
    ended = await h.client.put(
        "/workers/w5", json={"newly_qualified_until": None}, headers={**h.manager(sub="m2"), "If-Match": etag}
    )
    assert ended.status_code == 200
    stale = {**manager, "If-Match": etag}
    assert (
        await h.client.put("/workers/w5", json={"newly_qualified_until": None}, headers=stale)
    ).status_code == 412
    absent = {**manager, "If-Match": "*"}
    assert (
        await h.client.put("/workers/w6", json={"newly_qualified_until": None}, headers=absent)
    ).status_code == 412

    log = h.service.event_log
    async with h.service.db.read_session() as session:
        w5 = await log.read_stream(session, register_stream("w5"))
        w6 = await log.read_stream(session, register_stream("w6"))
        verified = await verify_log(session, log.table)
    assert w6 == [] and verified.ok
    assert [(e.type, e.stream_version, e.actor, e.payload) for e in w5] == [
        ("NewlyQualifiedRegisterSet", 1, "m1", {"worker_id": "w5", "newly_qualified_until": "2027-03-31"}),
        ("NewlyQualifiedRegisterSet", 2, "m2", {"worker_id": "w5", "newly_qualified_until": None}),
    ]
    assert [e.occurred_at for e in w5] == [
        datetime.fromisoformat(r.json()["updated_at"]) for r in (created, ended)
    ]
    # The published shape itself: a staff id and a date, nothing a manager could type text into.
    assert set(NewlyQualifiedRegisterSet.model_fields) == {"worker_id", "newly_qualified_until"}


async def test_entries_made_before_the_register_was_published_are_published_once_by_the_migration(
    fresh_database,
) -> None:
    """e5b1c9d04f27 appends one event per entry already on the register, as it stands, at version 1 of
    its stream with a hash chain `frontdoor verify` accepts; the service then appends after it."""
    from services.supervision.db import platform

    db = Database(fresh_database("supervision_register_events_migration"))
    set_at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    try:
        await upgrade("supervision", db.engine, "7aaac5a4eb86")
        async with db.engine.begin() as conn:
            for worker, until in (("w5", date(2026, 3, 31)), ("w6", None)):
                await conn.execute(
                    text("INSERT INTO workers VALUES (:w, :until, 3, :at, 'm1')"),
                    {"w": worker, "until": until, "at": set_at},
                )
        await upgrade("supervision", db.engine)
        assert platform.events is not None
        log = EventLog(platform.events, catalogue)
        async with db.read_session() as session:
            events = await log.read(session, after=0, limit=10)
            # Against the rows too: w5's row is at version 3, its stream at 1, and that is intact.
            verified = await verify_log(session, platform.events, heads=stream_heads)
        async with db.unit_of_work() as session:
            worker = await session.get(Worker, "w5")
            assert worker is not None
            worker.newly_qualified_until = date(2026, 4, 30)
            await publish_entry(session, log, worker, "m2")
        async with db.read_session() as session:
            stream = await log.read_stream(session, register_stream("w5"))
            verified_after = await verify_log(session, platform.events, heads=stream_heads)
    finally:
        await db.dispose()
    assert verified.ok and verified.events_checked == 2 and verified_after.ok
    assert verified.heads_checked == verified_after.heads_checked == 2
    assert [(e.journey_id, e.stream_version, e.type, e.occurred_at, e.actor, e.payload) for e in events] == [
        (
            register_stream(w),
            1,
            "NewlyQualifiedRegisterSet",
            set_at,
            "m1",
            {"worker_id": w, "newly_qualified_until": u},
        )
        for w, u in (("w5", "2026-03-31"), ("w6", None))
    ]
    assert [(e.stream_version, e.payload["newly_qualified_until"]) for e in stream] == [
        (1, "2026-03-31"),
        (2, "2026-04-30"),
    ]
