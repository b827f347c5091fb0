"""The intake benchmark's CPU accounting: what each process spends per request, read from /proc and
rusage, and the requests/s that leaves with every core busy (the most any number of workers could
serve on the machine). Checked against known work, not timed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from platform_kit import postgres_only

from bench import common, markdown
from bench.intake import cpu_bound_rps, cpu_per_request

TICK = 1 / os.sysconf("SC_CLK_TCK")


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    data = b"x" * 4096
    while time.process_time() < end:
        data = hashlib.sha256(data).digest() * 128


def test_cpu_per_request_and_the_ceiling_it_allows() -> None:
    cpu = cpu_per_request(500, worker=1.0, postgresql=0.4, wrk=0.1)
    assert cpu == pytest.approx({"worker": 2.0, "postgresql": 0.8, "wrk": 0.2, "total": 3.0})
    # Two cores each busy 3 ms per request serve at most 2000 / 3 a second.
    assert cpu_bound_rps(cpu, cores=2) == pytest.approx(2000 / 3)


def test_a_process_cpu_reading_counts_its_work() -> None:
    before, process_before = common.process_cpu_seconds(os.getpid()), time.process_time()
    _burn(0.3)
    used = common.process_cpu_seconds(os.getpid()) - before
    assert used == pytest.approx(time.process_time() - process_before, abs=3 * TICK)


@postgres_only("reads the local PostgreSQL server's processes")
def test_postgresql_cpu_counts_backends_that_ended() -> None:
    """The work of a connection that has closed still counts (through its postmaster's reaped
    children), or a benchmark whose connections come and go would read too little."""

    async def work_then_close() -> None:
        conn = await common.pg_connect("postgres")
        try:
            # About half a second of a backend's CPU, on a connection that then ends.
            await conn.fetchval("SELECT count(*) FROM generate_series(1, 3000000) g WHERE md5(g::text) > 'f'")
        finally:
            await conn.close()

    before = common.postgresql_cpu_seconds()
    asyncio.run(work_then_close())
    # The backend ends after the client has closed: until its postmaster has reaped it, its time is
    # briefly in neither reading (a benchmark reads after its load has stopped, far later).
    deadline = time.monotonic() + 5
    while (used := common.postgresql_cpu_seconds() - before) < 0.2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert used >= 0.2


def test_wrk_cpu_is_the_child_runs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run_wrk` bills wrk with the CPU its child process used (here a stand-in that burns some)."""
    output = (
        'WRKJSON {"requests": 10, "duration_us": 1000000, "p50_us": 1000, "p90_us": 2000, "p99_us": 3000, '
        '"max_us": 4000, "mean_us": 1500.0, "err_connect": 0, "err_read": 0, "err_write": 0, '
        '"err_status": 0, "err_timeout": 0}'
    )
    real_run = subprocess.run
    burner = (
        "import hashlib, time\n"
        "end = time.process_time() + 0.3\n"
        "d = b'x'\n"
        "while time.process_time() < end: d = hashlib.sha256(d).digest()\n"
        f"print({output!r})\n"
    )

    def fake_wrk(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return real_run([sys.executable, "-c", burner], **kwargs)

    monkeypatch.setattr(common.subprocess, "run", fake_wrk)
    script = common.wrk_script("/contacts", {"id": "__UUID1__"}, {})
    try:
        result = common.run_wrk("http://127.0.0.1:1", script, connections=1, seconds=1)
    finally:
        script.unlink()
    assert result["requests"] == 10
    assert 0.3 <= result["wrk_cpu_s"] < 2


def _app(worker: float, rps: float) -> dict[str, Any]:
    one = {"median": 1.0, "min": 1.0, "max": 1.0, "n": 1}
    return {
        "cpu_ms_per_request": {
            "worker": {**one, "median": worker, "min": worker, "max": worker},
            "postgresql": one,
            "wrk": one,
            "total": {**one, "median": worker + 2, "min": worker + 2, "max": worker + 2},
        },
        "cpu_bound_rps": {"median": rps, "min": rps, "max": rps, "n": 1},
    }


def test_benchmarks_md_says_what_any_number_of_workers_could_reach() -> None:
    ceiling = {"median": 0.2, "min": 0.18, "max": 0.22, "n": 3}
    text = "\n".join(
        markdown.cpu_lines(
            {"cores": 2, "frontdoor": _app(3.0, 400), "baseline": _app(0.5, 800), "ratio_cpu_bound": ceiling}
        )
    )
    assert (
        "| front door | 3.00 (3.00-3.00) | 1.00 (1.00-1.00) | 1.00 (1.00-1.00) | 5.00 (5.00-5.00) | 400"
        in text
    )
    assert "**0.20 (0.18-0.22)**" in text
    assert "(target 0.35: **missed**)" in text
