"""The benchmarks' nearest-rank percentile (bench/common.py) and the tables rendered from results
(bench/markdown.py)."""

from __future__ import annotations

import math

from bench.common import percentile
from bench.markdown import growth_verdict, report_table


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


def _run(with_calls: bool) -> dict[str, object]:
    timing: dict[str, object] = {"status": 200, "n": 20, "p50_ms": 10.0, "p95_ms": 19.0, "max_ms": 20.0}
    if with_calls:
        timing["samples_ms"] = [float(v) for v in range(1, 21)]
    size = {"contacts": 1000, "reports": {"GET /reports/conversion": timing}}
    return {"sizes": [size], "settings": {"repeats": 20}, "growth_p95": {}}


def test_the_rendered_table_says_which_rank_its_p95_is() -> None:
    """Results kept without their calls were taken with the old rank (the slowest of 20)."""
    new = "\n".join(report_table(_run(with_calls=True)))
    old = "\n".join(report_table(_run(with_calls=False)))
    assert "the 19th of 20 calls" in new and "slowest sample" not in new
    assert "the p95 is the slowest sample" in old and "19th" not in old


def _sized(contacts: int, p50: float, p95: float) -> dict[str, object]:
    timing = {"status": 200, "n": 20, "p50_ms": p50, "p95_ms": p95, "samples_ms": [p50] * 19 + [p95]}
    return {"contacts": contacts, "reports": {"GET /reports/conversion": timing}}


def test_growth_from_section_3s_base_is_judged_only_at_10_m_events() -> None:
    base = {"sizes": [_sized(2_323, 4.5, 4.9)]}
    ten_m = {"sizes": [_sized(2_310_531, 7.7, 10.1)], "settings": {"base_events": 10_000_000}}
    one_m = {"sizes": [_sized(923_424, 7.7, 10.1)], "settings": {"base_events": 1_000_000}}
    (line, _) = growth_verdict(ten_m, base)
    assert "2.1x, `GET /reports/conversion` (4.9 -> 10.1 ms; p50 4.5 -> 7.7 ms)" in line
    assert line.endswith("(target <= 2x for 10 k -> 10 M events: **missed**)")
    (line, _) = growth_verdict(one_m, base)
    assert "2.1x" in line and "target" not in line
    within = {"sizes": [_sized(2_310_531, 7.7, 9.8)], "settings": {"base_events": 10_000_000}}
    assert growth_verdict(within, base)[0].endswith("**met**)")
    assert growth_verdict(ten_m, None) == []
