"""Every rounded figure rounds halves up, as the reports say: the decimal a figure prints as is
rounded (0.125 gives 0.13, not 0.12 as `round` gives, to even; 0.145, stored just below, gives
0.15), the same way wherever it is rounded, so a journey's days, their median and maximum, and the
hundredths the projection keeps agree."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from reporting_kit import contact, transfer, utc

from services.referrals import events as rev
from services.reporting.projections.contact_days import duration_step
from services.reporting.projections.journey_months import hundredths_of_day
from services.reporting.reports.service import _r, pct


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (0.125, 0.13),  # a half exact in binary: round() gives 0.12
        (0.375, 0.38),
        (2.5 / 100, 0.03),
        (0.145, 0.15),  # stored as 0.14499...: round() gives 0.14
        (1.005, 1.01),
        (2.675, 2.68),
        (0.36 / 24, 0.02),  # 0.015 days computed from hours
        (0.1449, 0.14),
        (12.344999, 12.34),
        (7.0, 7.0),
        (-0.125, -0.13),  # a difference: away from zero
        (1e-9, 0.0),
    ],
)
def test_figures_round_halves_up(value: float, rounded: float) -> None:
    assert _r(value) == rounded


def test_rounding_agrees_with_the_decimal_rule_and_its_parts() -> None:
    """Against Decimal on each value's shortest repr; the projection's hundredths of a day and the
    tenths of an hour counted are the same rule."""
    for k in range(0, 200_000, 7):
        for value in (k / 1000, k / 997, k * 0.001, k / 24_000):
            decimal = Decimal(repr(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert _r(value) == float(decimal), value
            assert hundredths_of_day(value) == round(_r(value / 24) * 100), value
            tenths = Decimal(repr(value)).quantize(Decimal("0.1"), ROUND_HALF_UP)
            assert duration_step("decision_working_hours", value) == int(tenths * 10), value
    assert pct(1, 800) == 0.13  # 0.125 %
    assert hundredths_of_day(3.0) == 13  # three hours: 0.125 days


async def test_handover_figures_round_halves_up_on_every_path(world_factory, token):
    """Eight journeys, each unallocated for exactly three hours (0.125 days), one with a worker
    change (a mean of 0.125): the kept counts (a whole month) and the journeys read (part of
    one) give the same figures, and each journey's days are rounded as the median and maximum."""
    w = await world_factory()
    for day in range(1, 9):
        child, journey, at = uuid.uuid4(), uuid.uuid4(), utc(2021, 3, day, 9)
        await w.ref(journey, contact(uuid.uuid4(), child, at, "6"), at)
        allocated = rev.JourneyAllocated(
            allocation_id=uuid.uuid4(),
            child_id=child,
            team_id="FD-WEST",
            area="West",
            service_type="front_door",
            worker_id="w1",
            effective_at=utc(2021, 3, day, 12),
        )
        await w.ref(journey, allocated, utc(2021, 3, day, 12))
        if day == 1:
            moved = transfer(
                child,
                utc(2021, 3, day, 13),
                from_team="FD-WEST",
                to_team="FD-WEST",
                from_worker="w1",
                to_worker="w2",
                reason="LEFTRL",
            )
            await w.ref(journey, moved, utc(2021, 3, day, 13))
        await w.ref(
            journey,
            rev.JourneyClosed(child_id=child, closure_reason="RC8", closed_at=utc(2021, 3, day, 15)),
            utc(2021, 3, day, 15),
        )
    await w.catch_up("referrals")
    for to in ("2021-03-31", "2021-03-30"):
        r = await w.reporting.get(
            "/reports/handovers",
            params={"from": "2021-03-01", "to": to, "group_by": "month"},
            headers=token("analyst"),
        )
        assert r.status_code == 200, r.text
        body = r.json()
        o = body["overall"]
        assert o["journeys"] == 8
        assert (o["worker_changes_mean"], o["team_transfers_mean"]) == (0.13, 0.0), to
        assert (o["unallocated_days_mean"], o["unallocated_days_median"], o["unallocated_days_max"]) == (
            0.13,
            0.13,
            0.13,
        ), to
        assert {j["unallocated_days"] for j in body["journeys"]} == {0.13}, to
