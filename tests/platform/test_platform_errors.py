"""Issue 2, item 4: every error is an RFC 9457 problem (application/problem+json)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from platform_kit import SECRET_MARKER, things
from sqlalchemy import func, select

from shared.errors import PROBLEM_BASE, PROBLEM_JSON, is_database_unavailable

CLOSED_PORT_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/frontdoor_nowhere"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body), body
    assert body["status"] == status
    assert body["type"].startswith(PROBLEM_BASE)
    assert body["instance"] == response.request.url.path
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def _thing_count(p) -> int:
    async with p.service.db.read_session() as session:
        return (await session.execute(select(func.count()).select_from(things))).scalar_one()


async def test_400_malformed_json(producer) -> None:
    p = await producer()
    r = await p.client.post(
        "/things",
        content=b'{"label": "a", "size":',
        headers={**p.auth("practitioner"), "Content-Type": "application/json"},
    )
    body = assert_problem(r, 400)
    assert body["code"] == "malformed_json"


@pytest.mark.parametrize(
    "content",
    [
        b'{"label": "\xff", "size": 1}',  # not UTF-8
        b'{"label": "a", "size": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # nested past the parser's depth
    ],
    ids=["not-utf-8", "too-deep"],
)
async def test_400_a_body_json_cannot_decode_is_malformed_json_too(producer, content: bytes) -> None:
    p = await producer()
    r = await p.client.post(
        "/things", content=content, headers={**p.auth("practitioner"), "Content-Type": "application/json"}
    )
    body = assert_problem(r, 400)
    assert body["code"] == "malformed_json" and body["type"] == PROBLEM_BASE + "malformed-json"
    assert await _thing_count(p) == 0


async def test_401_without_a_token_challenges_for_a_bearer_token(producer) -> None:
    p = await producer()
    r = await p.client.post("/things", json={"label": "a", "size": 1})
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


async def test_403_without_the_role(producer) -> None:
    p = await producer()
    r = await p.client.post("/things", json={"label": "a", "size": 1}, headers=p.auth("analyst"))
    body = assert_problem(r, 403)
    assert "manager" in body["detail"] and "practitioner" in body["detail"]


async def test_404_unknown_route(producer) -> None:
    p = await producer()
    body = assert_problem(await p.client.get("/no/such/route"), 404)
    assert body["title"] == "Not Found"


async def test_404_domain_not_found(producer) -> None:
    p = await producer()
    missing = uuid.uuid4()
    body = assert_problem(await p.client.get(f"/things/{missing}", headers=p.auth("manager")), 404)
    assert body["code"] == "not_found"
    assert str(missing) in body["detail"]


async def test_405_method_not_allowed(producer) -> None:
    p = await producer()
    r = await p.client.delete(f"/things/{uuid.uuid4()}", headers=p.auth("manager"))
    assert_problem(r, 405)
    assert "GET" in r.headers["allow"]


async def test_409_conflict(producer) -> None:
    p = await producer()
    body = assert_problem(await p.client.post("/things/drills/raise-problem", headers=p.auth("manager")), 409)
    assert body["code"] == "drill"


async def test_412_and_428_preconditions(producer) -> None:
    p = await producer()
    created = await p.client.post("/things", json={"label": "a", "size": 1}, headers=p.auth("manager"))
    thing = created.json()["id"]
    r = await p.client.patch(f"/things/{thing}", json={"label": "b"}, headers=p.auth("manager"))
    assert assert_problem(r, 428)["code"] == "precondition_required"
    r = await p.client.patch(
        f"/things/{thing}", json={"label": "b"}, headers={**p.auth("manager"), "If-Match": '"7"'}
    )
    assert assert_problem(r, 412)["code"] == "precondition_failed"
    r = await p.client.patch(
        f"/things/{thing}",
        json={"label": "b"},
        headers={**p.auth("manager"), "If-Match": created.headers["etag"]},
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'


async def test_413_declared_content_length_is_refused_before_the_app(producer) -> None:
    p = await producer(max_body_bytes=200)
    # Not even JSON: were it parsed, this would be a 400.
    r = await p.client.post(
        "/things",
        content=b"{" * 201,
        headers={**p.auth("manager"), "Content-Type": "application/json"},
    )
    body = assert_problem(r, 413)
    assert body["code"] == "body_too_large"
    assert not p.hooks.entered.is_set()
    assert await _thing_count(p) == 0


async def test_413_chunked_body_is_cut_off_at_the_limit(producer) -> None:
    p = await producer(max_body_bytes=200)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(50):
            sent.append(1)
            yield b"{" * 50  # invalid JSON: a 400 would mean it was parsed

    r = await p.client.post(
        "/things", content=chunks(), headers={**p.auth("manager"), "Content-Type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    body = assert_problem(r, 413)
    assert body["code"] == "body_too_large"
    assert not p.hooks.entered.is_set()
    assert await _thing_count(p) == 0


async def test_a_body_within_the_limit_is_accepted(producer) -> None:
    p = await producer(max_body_bytes=200)
    r = await p.client.post("/things", json={"label": "a", "size": 1}, headers=p.auth("manager"))
    assert r.status_code == 201


async def test_415_a_json_endpoint_refuses_other_media_types(producer) -> None:
    p = await producer()
    valid = json.dumps({"label": "a", "size": 1}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = p.auth("manager")
        if content_type:
            headers["Content-Type"] = content_type
        r = await p.client.post("/things", content=valid, headers=headers)
        body = assert_problem(r, 415)
        assert body["code"] == "unsupported_media_type"
    assert await _thing_count(p) == 0
    # ... while a +json media type is JSON.
    r = await p.client.post(
        "/things", content=valid, headers={**p.auth("manager"), "Content-Type": "application/vnd.x+json"}
    )
    assert r.status_code == 201


async def test_422_names_each_invalid_field_and_where_it_is(producer) -> None:
    p = await producer()
    r = await p.client.post(
        "/things",
        json={"label": "", "size": 500, "colour": SECRET_MARKER},
        headers={**p.auth("manager"), "Idempotency-Key": "has space"},
    )
    body = assert_problem(r, 422)
    assert body["code"] == "validation_failed"
    found = {(e["name"], e["location"]) for e in body["invalid-params"]}
    assert found == {
        ("label", "body"),
        ("size", "body"),
        ("colour", "body"),
        ("Idempotency-Key", "header"),
    }
    assert all(e["reason"] for e in body["invalid-params"])
    assert SECRET_MARKER not in r.text  # the reason, never the input


async def test_422_in_path_and_query(producer) -> None:
    p = await producer()
    body = assert_problem(await p.client.get("/things/not-a-uuid", headers=p.auth("manager")), 422)
    assert [(e["name"], e["location"]) for e in body["invalid-params"]] == [("thing_id", "path")]
    body = assert_problem(await p.client.get("/events?limit=0", headers=p.auth("service")), 422)
    assert [(e["name"], e["location"]) for e in body["invalid-params"]] == [("limit", "query")]


@pytest.mark.parametrize(
    "query",
    [
        "since=2026-01-01",  # a date, read as a time without a zone
        "until=2026-01-01T00:00:00",
        "since=0001-01-01T00:30:00%2B01:00",  # before year 1 in UTC
        "until=9999-12-31T23:30:00-01:00",  # after year 9999 in UTC
    ],
)
async def test_422_for_an_audit_time_without_a_zone_or_beyond_the_calendar(producer, query: str) -> None:
    """The audit log's times are stored in UTC: one that cannot be placed there is the caller's error
    naming the parameter (was a 500)."""
    p = await producer()
    body = assert_problem(await p.client.get(f"/audit?{query}", headers=p.auth("admin")), 422)
    assert [(e["name"], e["location"]) for e in body["invalid-params"]] == [(query.split("=")[0], "query")]
    aware = "since=2026-01-01T00:00:00%2B01:00&until=2026-01-02T00:00:00Z"
    ok = await p.client.get(f"/audit?{aware}", headers=p.auth("admin"))
    assert ok.status_code == 200, ok.text


async def test_429_with_retry_after(producer) -> None:
    p = await producer(rate_limit_per_minute=3)
    headers = p.auth("manager")
    statuses = [
        (await p.client.get(f"/things/{uuid.uuid4()}", headers=headers)).status_code for _ in range(3)
    ]
    assert statuses == [404, 404, 404]
    r = await p.client.get(f"/things/{uuid.uuid4()}", headers=headers)
    assert assert_problem(r, 429)["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    # Another caller has its own budget; health and metrics are never limited.
    other = await p.client.get(f"/things/{uuid.uuid4()}", headers=p.auth("manager", sub="staff-2"))
    assert other.status_code == 404
    assert (await p.client.get("/health/live")).status_code == 200
    assert (await p.client.get("/metrics")).status_code == 200


async def test_a_consumers_feed_polls_are_not_rate_limited(producer) -> None:
    """A consumer polls as fast as events arrive: a 429 there showed as an upstream outage (was limited)."""
    p = await producer(rate_limit_per_minute=3)
    service = p.auth("service", sub="reporting")
    statuses = {(await p.client.get("/events?after=0", headers=service)).status_code for _ in range(10)}
    assert statuses == {200}
    # Anywhere else the service token has its budget (less its first poll, counted before its token
    # was known), and other roles have theirs on the feed.
    elsewhere = [
        (await p.client.get(f"/things/{uuid.uuid4()}", headers=service)).status_code for _ in range(3)
    ]
    assert elsewhere == [403, 403, 429]
    admin = p.auth("admin")
    feed_by_admin = [(await p.client.get("/events", headers=admin)).status_code for _ in range(4)]
    assert feed_by_admin == [200, 200, 200, 429]
    # A token never verified (here, a forged one) is counted like any other caller's.
    forged = {"Authorization": service["Authorization"][:-4] + "AAAA"}
    forged_polls = [(await p.client.get("/events", headers=forged)).status_code for _ in range(4)]
    assert forged_polls == [401, 401, 401, 429]


async def test_500_hides_the_exception_and_sql(producer) -> None:
    p = await producer()
    for path in ("/things/drills/raise-bug", "/things/drills/bad-sql"):
        r = await p.client.post(path, headers=p.auth("manager"))
        body = assert_problem(r, 500)
        assert body["code"] == "internal_error"
        for leak in (SECRET_MARKER, "SELECT", "no_such_table", "Traceback", "RuntimeError", "Error("):
            assert leak not in r.text
        assert r.headers["x-request-id"]  # answered inside the middleware stack
    assert await _thing_count(p) == 0


async def test_503_when_postgresql_is_unreachable(producer) -> None:
    p = await producer(database_url=CLOSED_PORT_URL)
    r = await p.client.get(f"/things/{uuid.uuid4()}", headers=p.auth("manager"))
    body = assert_problem(r, 503)
    assert body["code"] == "database_unavailable"
    assert int(r.headers["retry-after"]) >= 1
    assert "127.0.0.1" not in r.text and "refused" not in r.text.lower()


async def test_503_when_postgresql_has_no_unix_socket(producer, tmp_path) -> None:
    """A server reached over a Unix socket is down: the socket file is missing (FileNotFoundError)."""
    p = await producer(database_url=f"postgresql+asyncpg://postgres@/test?host={tmp_path}&port=5432")
    r = await p.client.get(f"/things/{uuid.uuid4()}", headers=p.auth("manager"))
    assert assert_problem(r, 503)["code"] == "database_unavailable"
    assert str(tmp_path) not in r.text


def test_a_missing_file_opened_by_name_is_a_bug_not_an_outage() -> None:
    assert is_database_unavailable(FileNotFoundError(2, "No such file or directory"))
    assert not is_database_unavailable(FileNotFoundError(2, "No such file or directory", "/srv/x.json"))


def test_a_connection_closed_while_being_set_up_is_an_outage() -> None:
    """Seen in the PostgreSQL restart drill: the server shut down while the pool was setting up a new
    connection, and asyncpg raised its own InterfaceError, not wrapped by SQLAlchemy."""
    assert is_database_unavailable(asyncpg.InterfaceError("connection is closed"))
    # Other interface errors are misuse of a connection: bugs.
    assert not is_database_unavailable(
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress")
    )


async def test_503_when_the_sqlite_file_cannot_be_opened(producer, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    p = await producer(database_url=f"sqlite+aiosqlite:///{blocker}/referrals.db")
    r = await p.client.post("/things", json={"label": "a", "size": 1}, headers=p.auth("manager"))
    body = assert_problem(r, 503)
    assert body["code"] == "database_unavailable"
    assert "retry-after" in r.headers
