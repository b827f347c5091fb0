"""The largest supervision every field limit allows fits the service's default body limit, in the
most verbose JSON a client may send: every character \\u-escaped (Python's json and requests escape
non-ASCII by default), and text of characters outside the BMP, each a surrogate pair of escapes (12
bytes) yet one character to the length limits. A byte more than the limit is still refused."""

from __future__ import annotations

from typing import Any

from services.supervision.settings import Settings
from services.supervision.supervisions.models import ActionIn, SupervisionIn
from tests.escaped_json import ASTRAL, escaped_json, max_length


def largest_body(journey_id: str) -> bytes:
    action_text = ASTRAL * max_length(ActionIn, "description")
    body = {
        "journey_id": journey_id,
        "supervisee_id": "w1",  # the journey's worker (ids are at most 120 ASCII characters)
        "held_at": "2026-03-16T10:00:00.000000+00:00",
        "kind": "management_oversight",
        "discussion": ASTRAL * max_length(SupervisionIn, "discussion"),
        "decisions": ASTRAL * max_length(SupervisionIn, "decisions"),
        "actions": [
            {"description": action_text, "owner_id": "o" * 120, "due_on": "2026-03-20"}
            for _ in range(max_length(SupervisionIn, "actions"))
        ],
        "next_due_on": "2026-04-15",
    }
    return escaped_json(body)


def test_the_largest_valid_body_fits_the_default_limit() -> None:
    body = largest_body("00000000-0000-4000-8000-000000000000")
    parsed = SupervisionIn.model_validate_json(body)  # valid: every field at its limit
    assert len(parsed.discussion) == 20_000 and len(parsed.actions) == 50
    assert len(body) <= Settings().max_body_bytes


def _sent(h, body: bytes) -> Any:
    headers = {**h.manager(), "Content-Type": "application/json"}
    return h.client.post("/supervisions", content=body, headers=headers)


async def test_the_largest_valid_body_is_recorded_and_a_byte_over_the_limit_is_413(h) -> None:
    limit = Settings().max_body_bytes
    journey_id, _ = await h.journey()
    body = largest_body(str(journey_id))
    r = await _sent(h, body)
    assert r.status_code == 201, r.text[:500]
    assert len(r.json()["decisions"]) == 20_000 and len(r.json()["actions"]) == 50

    # Padded with JSON whitespace (still valid) to the limit exactly: accepted; to one byte more: 413.
    exactly = body + b" " * (limit - len(body))
    assert (await _sent(h, exactly)).status_code == 201
    over = await _sent(h, exactly + b" ")
    assert over.status_code == 413
    assert over.headers["content-type"].startswith("application/problem+json")
    assert over.json()["code"] == "body_too_large"
