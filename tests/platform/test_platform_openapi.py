"""Every service's OpenAPI document describes its problem responses as they are sent."""

from __future__ import annotations

from typing import Any

import pytest

from frontdoor.registry import SERVICES
from shared.errors import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"


def _document(name: str) -> dict[str, Any]:
    # Only the document is built: no database is touched.
    settings = SERVICES[name].settings(database_url="sqlite+aiosqlite:///:memory:", environment="test")
    doc: dict[str, Any] = SERVICES[name].main().create(settings, run_consumers=False).openapi()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op) for path, item in doc["paths"].items() for method, op in item.items()
    ]


@pytest.mark.parametrize("name", list(SERVICES))
def test_problem_responses_are_documented_as_problem_json_with_their_schema(name: str) -> None:
    doc = _document(name)
    wrong = []
    for where, op in _operations(doc):
        for status, response in op["responses"].items():
            content = response.get("content", {})
            if PROBLEM_JSON not in content:
                continue
            # Sent as application/problem+json only: the schema belongs there, not under application/json.
            if content != {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}:
                wrong.append(f"{where} {status}: {content}")
    assert wrong == []
    assert "invalid-params" in doc["components"]["schemas"]["Problem"]["properties"]


@pytest.mark.parametrize("name", list(SERVICES))
def test_statuses_every_operation_can_return_are_documented(name: str) -> None:
    missing = []
    for where, op in _operations(_document(name)):
        responses = op["responses"]
        expected = set()
        if "requestBody" in op:
            # Malformed JSON, a body over the limit, a body that is not JSON (the platform's answers).
            expected |= {"400", "413", "415"}
        if "429" in responses:
            # Rate-limited operations reach the database, which can be unavailable (503, Retry-After).
            expected.add("503")
        missing += [f"{where} {s}" for s in sorted(expected - set(responses))]
        for s in sorted(expected & set(responses)):
            if PROBLEM_JSON not in responses[s].get("content", {}):
                missing.append(f"{where} {s}: not a problem document")
        for s in ("429", "503"):
            if s in responses and "Retry-After" not in responses[s].get("headers", {}):
                missing.append(f"{where} {s}: Retry-After undocumented")
    assert missing == []


@pytest.mark.parametrize("name", list(SERVICES))
def test_operations_that_check_if_match_document_the_header(name: str) -> None:
    wrong = []
    for where, op in _operations(_document(name)):
        if "412" not in op["responses"]:
            continue
        headers = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}
        if "If-Match" not in headers:
            wrong.append(f"{where}: If-Match undocumented")
        # Required exactly where its absence is refused (428).
        elif headers["If-Match"].get("required", False) != ("428" in op["responses"]):
            wrong.append(f"{where}: If-Match required={headers['If-Match'].get('required')}")
    assert wrong == []


# The response headers each route sets on success (the routes' tests check that they are set).
SETS_HEADERS = {
    "supervision": {
        "POST /supervisions": ("201", {"ETag", "Location"}),
        "GET /supervisions/{supervision_id}": ("200", {"ETag"}),
        "POST /supervisions/{supervision_id}/actions/{action_id}/complete": ("200", {"ETag"}),
        "POST /supervisions/{supervision_id}/actions/{action_id}/cancel": ("200", {"ETag"}),
        "GET /workers/{worker_id}": ("200", {"ETag"}),
        "PUT /workers/{worker_id}": (("200", "201"), {"ETag"}),  # replaced, created
    },
    "referrals": {
        "POST /children": ("201", {"ETag"}),
        "GET /children/{child_id}": ("200", {"ETag"}),
        "PATCH /children/{child_id}": ("200", {"ETag"}),
        "GET /contacts/{contact_id}": ("200", {"ETag"}),
        "POST /contacts/{contact_id}/decisions": ("201", {"ETag"}),
        "GET /decisions/{decision_id}": ("200", {"ETag"}),
        "POST /decisions/{decision_id}/authorise": ("200", {"ETag"}),
        "POST /decisions/{decision_id}/supersede": ("201", {"ETag"}),
        "GET /journeys/{journey_id}": ("200", {"ETag"}),
        "POST /journeys/{journey_id}/closure": ("200", {"ETag"}),
    },
    "reporting": {},
}


@pytest.mark.parametrize("name", list(SERVICES))
def test_response_headers_are_documented(name: str) -> None:
    operations = dict(_operations(_document(name)))
    missing = []
    for where, (statuses, headers) in SETS_HEADERS[name].items():
        for status in (statuses,) if isinstance(statuses, str) else statuses:
            documented = set(operations[where]["responses"].get(status, {}).get("headers", {}))
            missing += [f"{where} {status}: {h}" for h in sorted(headers - documented)]
    for where, op in operations.items():
        if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in op.get("parameters", [])):
            # A retry's answer says it is the first one replayed.
            success = next(s for s in op["responses"] if s.startswith("2"))
            if "Idempotent-Replayed" not in op["responses"][success].get("headers", {}):
                missing.append(f"{where} {success}: Idempotent-Replayed")
    assert missing == []


@pytest.mark.parametrize("name", ["referrals", "supervision"])
def test_the_idempotency_key_says_what_a_reused_or_concurrent_key_gets(name: str) -> None:
    keys = [
        p
        for _, op in _operations(_document(name))
        for p in op.get("parameters", [])
        if p["in"] == "header" and p["name"] == "Idempotency-Key"
    ]
    assert keys
    for key in keys:
        # The answers a client must handle: another body under the key, and a retry of one in flight.
        assert "422" in key["description"] and "idempotency_key_reused" in key["description"]
        assert "409" in key["description"] and "idempotency_in_flight" in key["description"]


@pytest.mark.parametrize("name", list(SERVICES))
def test_every_parameter_and_schema_field_is_described(name: str) -> None:
    """The API is client UIs' whole contract: ids in paths, query parameters and the fields of
    pages, problems, reports and readiness had no description (what a report's `decided` or
    `breached` counts, say, was only in a report's `definitions`). A field that is a reference to
    another schema is described by that schema."""
    doc = _document(name)
    missing = [
        f"{where} {p['in']} {p['name']}"
        for where, op in _operations(doc)
        for p in op.get("parameters", [])
        if not p.get("description")
    ]
    for schema_name, schema in doc["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            if "$ref" not in prop and not prop.get("description"):
                missing.append(f"{schema_name}.{field}")
    assert missing == []
