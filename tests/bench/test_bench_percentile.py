"""The benchmarks' nearest-rank percentile (bench/common.py)."""

from __future__ import annotations

import math

from bench.common import percentile


def test_a_whole_percent_of_the_calls_is_that_rank_not_the_next() -> None:
    twenty = [float(v) for v in range(20, 0, -1)]  # unsorted on purpose
    # 95% of 20 is 19: the 19th call, not the slowest (the old formula rounded 19.5 to 20).
    assert percentile(twenty, 95) == 19.0
    assert percentile(twenty, 50) == 10.0
    assert percentile(twenty, 100) == 20.0
    assert percentile(twenty, 0) == 1.0
    assert percentile([float(v) for v in range(1, 601)], 99) == 594.0
    assert percentile([float(v) for v in range(1, 1001)], 99.9) == 999.0


def test_a_fraction_of_a_rank_rounds_up() -> None:
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0  # 1.5 -> 2
    assert percentile([1.0, 2.0, 3.0], 34) == 2.0  # 1.02 -> 2
    assert percentile([1.0, 2.0, 3.0], 33) == 1.0  # 0.99 -> 1
    assert percentile([5.0], 95) == 5.0
    assert math.isnan(percentile([], 95))
