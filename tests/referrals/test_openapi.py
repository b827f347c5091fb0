"""The OpenAPI document describes every endpoint, its errors and its response bodies."""

from __future__ import annotations

from services.referrals.main import create

PUBLIC = {"/health/live", "/health/ready", "/metrics"}


async def test_every_operation_is_documented(settings_for):
    app = create(settings_for("referrals"), run_consumers=False)
    doc = app.openapi()
    problems = []
    operations = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            operations += 1
            where = f"{method.upper()} {path}"
            responses = op.get("responses", {})
            if not op.get("summary"):
                problems.append(f"{where}: no summary")
            if path not in PUBLIC:
                for status in ("401", "403"):
                    if status not in responses:
                        problems.append(f"{where}: {status} undocumented")
                    elif "application/problem+json" not in responses[status].get("content", {}):
                        problems.append(f"{where}: {status} is not a problem document")
            if (op.get("parameters") or op.get("requestBody")) and "422" not in responses:
                problems.append(f"{where}: 422 undocumented")
            path_params = [p for p in op.get("parameters", []) if p["in"] == "path"]
            if path_params and "404" not in responses:
                problems.append(f"{where}: 404 undocumented")
            successes = [s for s in responses if s.startswith("2")]
            if not successes:
                problems.append(f"{where}: no success response")
            for s in successes:
                content = responses[s].get("content", {})
                if path != "/metrics" and not content.get("application/json", {}).get("schema"):
                    problems.append(f"{where}: {s} has no response schema")
    assert operations > 20
    assert problems == []


async def test_domain_enums_and_problem_schema_are_in_the_document(settings_for):
    doc = create(settings_for("referrals"), run_consumers=False).openapi()
    schemas = doc["components"]["schemas"]
    for enum, member in (
        ("ReferralSource", "5D"),
        ("DecisionOutcome", "STRATEGY_S47"),
        ("WorkerChangeReason", "TSPROC"),
        ("ClosureReason", "RC9"),
        ("FrontDoorClosure", "FD_EARLY_HELP"),
        ("FrontDoorClosure", "FD_EXISTING_CASE"),
        ("FrontDoorClosure", "FD_OTHER"),
        ("AssessmentFactor", "21"),
        ("PrimaryNeed", "N0"),
        ("SupersedeReason", "management_review"),
        ("Sex", "U"),
        ("Ethnicity", "NOBT"),
    ):
        assert member in schemas[enum]["enum"], enum
    assert "invalid-params" in schemas["Problem"]["properties"]
    # Fields carry descriptions where their meaning is not obvious from the name.
    assert schemas["ContactIn"]["properties"]["received_at"]["description"]
    assert schemas["DecisionIn"]["properties"]["primary_need"]["description"]


async def test_every_field_of_the_referrals_bodies_is_described(settings_for):
    from services.referrals.common import Schema

    doc = create(settings_for("referrals"), run_consumers=False).openapi()
    schemas = doc["components"]["schemas"]

    def ours(cls: type) -> set[str]:
        found = set()
        for sub in cls.__subclasses__():
            found.add(sub.__name__)
            found |= ours(sub)
        return found

    names = ours(Schema) & set(schemas)
    assert {"ContactIn", "DecisionIn", "ChildIn", "TransferIn", "WaitingContact", "JourneyDetail"} <= names
    undescribed = []
    for name in sorted(names):
        for prop, spec in schemas[name].get("properties", {}).items():
            ref = spec.get("$ref", "").rsplit("/", 1)[-1]
            if not spec.get("description") and not schemas.get(ref, {}).get("description"):
                undescribed.append(f"{name}.{prop}")
    assert undescribed == []


async def test_the_work_lists_deadline_filter_names_its_states_and_the_window_setting(settings_for):
    doc = create(settings_for("referrals"), run_consumers=False).openapi()
    operation = doc["paths"]["/worklists/contacts-awaiting-decision"]["get"]
    deadline = next(p for p in operation["parameters"] if p["name"] == "deadline")
    assert deadline["in"] == "query" and deadline["required"] is False
    assert deadline["description"] == (
        "Only contacts in this state against their T1 due time now: breached (decision_due_at has passed), "
        "due_soon (not breached, and due within REFERRALS_DUE_SOON_HOURS calendar hours), on_time (due "
        "later than that)."
    )
    assert deadline["schema"]["anyOf"] == [{"$ref": "#/components/schemas/DeadlineState"}, {"type": "null"}]
    state = doc["components"]["schemas"]["DeadlineState"]
    assert state["type"] == "string" and state["enum"] == ["breached", "due_soon", "on_time"]
    assert "REFERRALS_DUE_SOON_HOURS" in state["description"]
