"""Profile `POST /contacts` under the intake benchmark's load with py-spy (not a project dependency).

    python -m venv /tmp/profvenv && /tmp/profvenv/bin/pip install py-spy
    python -m bench.profile_intake [--seconds 15] [--py-spy /tmp/profvenv/bin/py-spy]

Writes bench/results/intake-profile.txt: the hottest frames (own and cumulative share of samples).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import threading
import time
from pathlib import Path

from bench.common import (
    RESULTS,
    drop_service_databases,
    fresh_service_databases,
    log,
    run_wrk,
    running,
    wrk_script,
)
from bench.common import service_server as make_server
from bench.intake import contact_body, headers


def top(collapsed: str, n: int = 40) -> str:
    own: collections.Counter[str] = collections.Counter()
    cum: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        total += c
        frames = stack.split(";")
        own[frames[-1]] += c
        for f in set(frames):
            cum[f] += c
    out = [f"samples: {total}", "", "own %  frame"]
    out += [f"{100 * c / total:5.1f}  {f}" for f, c in own.most_common(n)]
    out += ["", "cumulative %  frame"]
    out += [f"{100 * c / total:5.1f}  {f}" for f, c in cum.most_common(n) if "site-packages/uvicorn" not in f]
    return "\n".join(out)


def main(seconds: int, py_spy: str, factory: str = "services.referrals.main:create") -> None:
    urls = asyncio.run(fresh_service_databases("prof"))
    try:
        server = make_server("referrals", urls)
        server.target = factory
        with running(server):
            script = wrk_script("/contacts", contact_body(), headers())
            run_wrk(server.url, script, connections=32, seconds=3)
            assert server.proc is not None
            out = Path("/tmp/bench-intake.collapsed")
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "-p",
                    str(server.proc.pid),
                    "-d",
                    str(seconds),
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "-r",
                    "200",
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            t = threading.Thread(
                target=run_wrk, args=(server.url, script), kwargs={"connections": 32, "seconds": seconds}
            )
            cpu0, wall0 = server.cpu_seconds(), time.monotonic()
            t.start()
            spy.wait()
            t.join()
            busy = (server.cpu_seconds() - cpu0) / (time.monotonic() - wall0)
        RESULTS.mkdir(parents=True, exist_ok=True)
        header = f"referrals worker CPU use during the run: {100 * busy:.0f}% of one core\n"
        (RESULTS / "intake-profile.txt").write_text(header + top(out.read_text()) + "\n")
        log(f"wrote {RESULTS / 'intake-profile.txt'}")
    finally:
        asyncio.run(drop_service_databases(urls))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--py-spy", default="/tmp/profvenv/bin/py-spy")
    parser.add_argument("--factory", default="services.referrals.main:create", help="uvicorn app factory")
    a = parser.parse_args()
    main(a.seconds, a.py_spy, a.factory)
