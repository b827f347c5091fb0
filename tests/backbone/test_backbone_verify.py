"""Issue 3: tamper evidence. An event altered in the table is found by `verify_log`, by
`GET /admin/verify` (admin only) and by `frontdoor verify`, each naming the first broken link."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from platform_kit import Producer
from sqlalchemy import delete, select, text, update
from typer.testing import CliRunner

from frontdoor import cli
from shared.events.verify import verify_log


async def two_journeys(p: Producer) -> list[str]:
    """Two journeys of three events each."""
    auth = p.auth("manager")
    ids = []
    for label in ("x", "y"):
        thing = (await p.client.post("/things", json={"label": label, "size": 1}, headers=auth)).json()["id"]
        for version in (1, 2):
            r = await p.client.post(
                f"/things/{thing}/renames",
                json={"label": f"{label}{version}", "expected_version": version},
                headers=auth,
            )
            assert r.status_code == 200
        ids.append(thing)
    return ids


async def position_of(p: Producer, journey: str, version: int) -> int:
    events = p.service.tables.events
    assert events is not None
    async with p.service.db.read_session() as session:
        query = select(events.c.position).where(
            events.c.journey_id == uuid.UUID(journey), events.c.stream_version == version
        )
        return int((await session.execute(query)).scalar_one())


async def tamper(p: Producer, statement) -> None:
    async with p.service.db.unit_of_work() as session:
        await session.execute(statement)


async def verify(p: Producer, journey: str | None = None):
    events = p.service.tables.events
    assert events is not None
    async with p.service.db.read_session() as session:
        return await verify_log(session, events, uuid.UUID(journey) if journey else None)


async def run_cli_verify(monkeypatch: pytest.MonkeyPatch, url: str):
    monkeypatch.setenv("REFERRALS_DATABASE_URL", url)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    return await asyncio.to_thread(CliRunner().invoke, cli.app, ["verify", "--service", "referrals"])


async def test_an_altered_payload_is_found_everywhere(producer, db_urls, monkeypatch) -> None:
    p = await producer()
    first, second = await two_journeys(p)
    clean = await verify(p)
    assert (
        clean.ok and clean.journeys_checked == 2 and clean.events_checked == 6 and clean.first_broken is None
    )

    events = p.service.tables.events
    assert events is not None
    victim = await position_of(p, second, 2)
    await tamper(p, update(events).where(events.c.position == victim).values(payload={"label": "forged"}))
    expected = {"journey_id": second, "stream_version": 2, "position": victim}

    report = await verify(p)
    assert report.ok is False
    assert report.first_broken is not None
    broken = report.first_broken.model_dump(mode="json")
    assert {k: broken[k] for k in expected} == expected
    assert "altered" in broken["reason"]
    assert (await verify(p, first)).ok  # the other journey is intact

    admin = await p.client.get("/admin/verify", headers=p.auth("admin"))
    assert admin.status_code == 200
    body = admin.json()
    assert body["ok"] is False and {k: body["first_broken"][k] for k in expected} == expected
    only_first = await p.client.get("/admin/verify", params={"journey_id": first}, headers=p.auth("admin"))
    assert only_first.json()["ok"] is True
    for role in ("service", "manager", "analyst"):
        assert (await p.client.get("/admin/verify", headers=p.auth(role))).status_code == 403
    assert (await p.client.get("/admin/verify")).status_code == 401

    result = await run_cli_verify(monkeypatch, db_urls["referrals"])
    assert result.exit_code == 1, result.output
    line = json.loads(result.output)
    assert line["service"] == "referrals" and line["ok"] is False
    assert {k: line["first_broken"][k] for k in expected} == expected


async def test_a_rehashed_forgery_breaks_the_next_link(producer) -> None:
    """Someone who also recomputes the altered event's hash is caught by its successor's prev_hash."""
    from shared.events.log import envelope_hash

    p = await producer()
    first, _ = await two_journeys(p)
    events = p.service.tables.events
    assert events is not None
    victim = await position_of(p, first, 1)
    async with p.service.db.unit_of_work() as session:
        row = dict((await session.execute(select(events).where(events.c.position == victim))).one()._mapping)
        row["payload"] = {"label": "forged", "size": 1}
        await session.execute(
            update(events)
            .where(events.c.position == victim)
            .values(payload=row["payload"], hash=envelope_hash(row, row["prev_hash"]))
        )
    report = await verify(p, first)
    assert report.first_broken is not None
    assert report.first_broken.stream_version == 2
    assert "prev_hash" in report.first_broken.reason


async def test_a_deleted_event_is_a_missing_link(producer) -> None:
    p = await producer()
    first, _ = await two_journeys(p)
    events = p.service.tables.events
    assert events is not None
    await tamper(p, delete(events).where(events.c.position == await position_of(p, first, 2)))
    report = await verify(p)
    assert report.first_broken is not None
    assert report.first_broken.journey_id == uuid.UUID(first)
    assert report.first_broken.stream_version == 3
    assert "missing" in report.first_broken.reason


async def test_events_reordered_in_the_feed_are_a_broken_link(producer) -> None:
    """The hash leaves out the position (the database assigns it), so two of a journey's events given
    each other's positions kept every hash: the feed then served the journey's events out of order
    to every consumer, and verify said the log was intact."""
    p = await producer()
    first, _ = await two_journeys(p)
    events = p.service.tables.events
    assert events is not None
    one, two = await position_of(p, first, 1), await position_of(p, first, 2)
    spare = 1_000_000 + two
    for old, new in ((one, spare), (two, one), (spare, two)):
        await tamper(p, update(events).where(events.c.position == old).values(position=new))
    report = await verify(p)
    assert report.ok is False
    assert report.first_broken is not None
    assert report.first_broken.journey_id == uuid.UUID(first)
    assert report.first_broken.stream_version == 2 and report.first_broken.position == one
    assert "order" in report.first_broken.reason


@pytest.mark.parametrize(
    ("column", "value"), [("payload", "{not json"), ("recorded_at", "garbage"), ("occurred_at", "2026-13-45")]
)
async def test_a_row_that_cannot_be_read_back_is_reported_not_a_crash(
    producer, db_urls, monkeypatch, column: str, value: str
) -> None:
    """SQLite keeps what its column types would refuse, so a hand edit can leave an event that cannot
    be read back at all: the check must say the log is broken, not fail with a 500 or a traceback."""
    p = await producer()
    if not p.service.db.is_sqlite:
        pytest.skip("PostgreSQL's column types refuse such a value")
    first, _ = await two_journeys(p)
    events = p.service.tables.events
    assert events is not None
    victim = await position_of(p, first, 2)
    await tamper(
        p, text(f"UPDATE {events.name} SET {column} = :v WHERE position = :p").bindparams(v=value, p=victim)
    )

    report = await verify(p)
    assert report.ok is False and report.first_broken is None
    assert report.unreadable is not None and "cannot be read back" in report.unreadable
    admin = await p.client.get("/admin/verify", headers=p.auth("admin"))
    assert admin.status_code == 200, admin.text
    assert admin.json()["ok"] is False and admin.json()["unreadable"] == report.unreadable
    result = await run_cli_verify(monkeypatch, db_urls["referrals"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["unreadable"] == report.unreadable


async def test_an_event_appended_with_a_time_in_another_zone_verifies(producer) -> None:
    """The hash was taken over `occurred_at` as the caller gave it (say 11:00+01:00), but the log
    stores it in UTC (10:00Z), and verify recomputes from what is stored: an untouched journey was
    reported altered, and the envelope `append` returned was not the one the feed serves. The log
    hashes (and returns) the time in UTC now."""
    from datetime import UTC, datetime, timedelta, timezone

    from platform_kit import ThingCreated, ThingRenamed

    from shared.events.log import NewEvent

    p = await producer()
    log = p.service.event_log
    assert log is not None
    journey = uuid.uuid4()
    london_summer = timezone(timedelta(hours=1))
    at = datetime(2026, 6, 1, 11, 0, tzinfo=london_summer)
    async with p.service.db.unit_of_work() as session:
        appended = await log.append(
            session,
            journey,
            [NewEvent(ThingCreated(label="x", size=1), at), NewEvent(ThingRenamed(label="y"), at)],
            expected_version=0,
            actor="staff-1",
        )
    report = await verify(p, str(journey))
    assert report.ok, report
    async with p.service.db.read_session() as session:
        served = await log.read_stream(session, journey)
    assert [e.model_dump() for e in appended] == [e.model_dump() for e in served]
    assert served[0].occurred_at == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


async def test_verify_of_a_journey_no_log_holds_is_404_not_ok(producer) -> None:
    """Asked about one journey, `GET /admin/verify` found no event of it and answered ok: a journey
    whose events were deleted, or a mistyped id, read as checked and intact (the CLI exits 1 there)."""
    from shared.errors import PROBLEM_JSON

    p = await producer()
    first, _ = await two_journeys(p)
    admin = p.auth("admin")
    found = await p.client.get("/admin/verify", params={"journey_id": first}, headers=admin)
    assert found.status_code == 200 and found.json()["ok"] is True
    events = p.service.tables.events
    assert events is not None
    await tamper(p, delete(events).where(events.c.journey_id == uuid.UUID(first)))
    for asked in (first, str(uuid.uuid4())):
        r = await p.client.get("/admin/verify", params={"journey_id": asked}, headers=admin)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        assert f"no event of journey {asked}" in r.json()["detail"]
    whole = await p.client.get("/admin/verify", headers=admin)  # the whole log: the other journey
    assert whole.status_code == 200 and whole.json()["ok"] is True


def test_verify_documents_its_404() -> None:
    from frontdoor.registry import SERVICES

    for name, spec in SERVICES.items():
        if not spec.produces_events:
            continue
        settings = spec.settings(database_url="sqlite+aiosqlite:///:memory:", environment="test")
        doc = spec.main().create(settings, run_consumers=False).openapi()
        responses = doc["paths"]["/admin/verify"]["get"]["responses"]
        assert "404" in responses and "application/problem+json" in responses["404"]["content"], name


async def test_a_journey_whose_first_event_cannot_be_read_back_is_not_reported_absent(producer) -> None:
    """The check of one journey counted no event when its first could not be read back, so the
    journey was reported as held by no log (404) rather than as a log that is not intact."""
    p = await producer()
    if not p.service.db.is_sqlite:
        pytest.skip("PostgreSQL's column types refuse such a value")
    first, _ = await two_journeys(p)
    events = p.service.tables.events
    assert events is not None
    victim = await position_of(p, first, 1)
    await tamper(
        p, text(f"UPDATE {events.name} SET payload = :v WHERE position = :p").bindparams(v="{no", p=victim)
    )
    r = await p.client.get("/admin/verify", params={"journey_id": first}, headers=p.auth("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is False and "cannot be read back" in r.json()["unreadable"]
