"""The reports benchmark calls every report, and times real work for each (bench/reports.py)."""

from __future__ import annotations

import uuid

from bench.reports import COMPARED, OTHER_SHAPES, RANGE, report_calls
from services.reporting.main import create
from services.reporting.settings import Settings


def test_every_report_is_called_and_compare_gets_two_different_periods() -> None:
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", environment="test")
    schema = create(settings, run_consumers=False).openapi()
    journey = str(uuid.uuid4())
    calls = {label: (path, query) for label, path, query in report_calls(schema, {"child_id": journey})}

    assert {"GET /reports/contact-to-outcome", "GET /reports/compare", "GET /reports/handovers"} <= set(calls)
    assert calls["GET /reports/contact-to-outcome"][1] == {"from": RANGE[0], "to": RANGE[1]}
    _, compare = calls["GET /reports/compare"]
    a = (compare["a_from"], compare["a_to"])
    b = (compare["b_from"], compare["b_to"])
    # Equal periods are computed once (the service dedupes them): the benchmark would time half a compare.
    assert a != b
    assert (a, b) == (COMPARED["a_"], COMPARED["b_"])
    assert calls["GET /children/{child_id}/timeline"][0] == f"/children/{journey}/timeline"
    # Contact to outcome is also timed grouped by a key (team) over whole months and not, by week,
    # by day of the week, and over ranges that are not whole months (edge months partly read from
    # the durations counted per day, or from the contacts for a key).
    for label, query in OTHER_SHAPES.items():
        assert calls[label] == (label.split()[1].split("?")[0], query)
    # Handovers too, grouped by a key (every journey in range read).
    assert calls["GET /reports/handovers?group_by=team"][0] == "/reports/handovers"
    assert {q.get("group_by") for q in OTHER_SHAPES.values()} == {"team", "week", "day_of_week", None}
    assert any(q["from"][-2:] != "01" and q.get("group_by") is None for q in OTHER_SHAPES.values())
    assert any(q["from"][-2:] != "01" and q.get("group_by") == "team" for q in OTHER_SHAPES.values())
