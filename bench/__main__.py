"""Run every benchmark in turn, then write BENCHMARKS.md: `python -m bench`.

BENCH_BASE (referrals events projected by the consumer, default 10000) and BENCH_CONTACTS
(contact checkpoints, default "200000 1000000") size the reports benchmark.
"""

from __future__ import annotations

import os

from bench import freshness, intake, markdown, rebuild, reports
from bench.common import log


def main() -> None:
    base = int(os.environ.get("BENCH_BASE", "10000"))
    checkpoints = [int(x) for x in os.environ.get("BENCH_CONTACTS", "200000 1000000").split()]
    log("intake")
    intake.main()
    log("freshness")
    freshness.main()
    log("reports, rebuild, memory")
    reports.main(base, checkpoints, repeats=20)
    log("rebuild, projection only")
    rebuild.run()
    markdown.write()
    log("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
