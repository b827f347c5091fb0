"""Run every benchmark in turn, then write BENCHMARKS.md: `python -m bench`."""

from __future__ import annotations

import os

from bench import freshness, intake, markdown, reports
from bench.common import log


def main() -> None:
    sizes = [int(x) for x in os.environ.get("BENCH_SIZES", "10000 1000000").split()]
    log("intake")
    intake.main()
    log("freshness")
    freshness.main()
    log("reports, rebuild, memory")
    reports.main(sizes, repeats=30)
    markdown.write()
    log("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
