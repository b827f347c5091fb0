"""The benchmarks' generated data covers the same year at every size (bench/generator.py), as
`frontdoor seed` scripts a year at any volume: the reports at 10 k and at 10 M events then read the
same months and weeks, with fewer or more contacts on each day."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bench.generator import COLUMNS, EPOCH, SPAN_MINUTES, batches

TYPE, VERSION, OCCURRED = (COLUMNS.index(c) for c in ("type", "stream_version", "occurred_at"))


def first_contacts(events: int) -> list[datetime]:
    """When each journey's first contact was received, in the order the journeys were generated."""
    received: list[datetime] = []
    for referrals, _, _ in batches(events):
        received += [
            row[OCCURRED] for row in referrals if row[TYPE] == "ContactReceived" and row[VERSION] == 1
        ]
    return received


@pytest.mark.parametrize("events", [2_000, 20_000])
def test_journeys_start_evenly_over_the_span_in_order_whatever_the_number_of_events(events: int) -> None:
    started = first_contacts(events)
    span = timedelta(minutes=SPAN_MINUTES)
    assert started == sorted(started)  # journeys open in the order they were generated
    assert EPOCH <= started[0] < EPOCH + timedelta(minutes=1)
    # The last journey opens within a few percent of the span's end (the journeys per event are
    # an estimate), not after a day or two as when journey i started i minutes after EPOCH.
    assert span * 0.95 < started[-1] - EPOCH < span * 1.05
    # Evenly: each tenth of the span covered holds about a tenth of the journeys (of the whole span,
    # the last tenth may lack up to half of its share, as the end may fall 5% short).
    covered = started[-1] - EPOCH
    tenths = [0] * 10
    for at in started:
        tenths[min(9, int((at - EPOCH) / covered * 10))] += 1
    assert all(abs(n - len(started) / 10) <= len(started) / 50 + 2 for n in tenths), tenths
