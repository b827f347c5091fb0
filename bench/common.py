"""Shared machinery for the benchmarks: machine facts, scratch PostgreSQL databases, service
subprocesses, the wrk load generator, statistics and result files.

Every benchmark is a bounded loop: fixed durations or fixed counts, then it stops and cleans up.
Load goes only to 127.0.0.1. Each benchmark writes `bench/results/<name>.json`; `bench.markdown`
renders BENCHMARKS.md from whatever results exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
PY = sys.executable
ENV_PREFIX = {"referrals": "REFERRALS_", "supervision": "SUPERVISION_", "reporting": "REPORTING_"}
RUN_TAG = uuid.uuid4().hex[:6]


# -- machine ---------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gib = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = int(line.split()[1]) / 1024 / 1024
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "ram_gib": round(ram_gib, 1),
        "cpu": cpu,
        "postgresql": asyncio.run(_pg_version()),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


async def _pg_version() -> str:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


# -- databases -------------------------------------------------------------------------------------
def sa_url(db: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


async def pg_connect(db: str) -> asyncpg.Connection:
    return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=db)


async def create_database(db: str) -> None:
    conn = await pg_connect("postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()


async def drop_database(db: str) -> None:
    conn = await pg_connect("postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    finally:
        await conn.close()


async def fresh_service_databases(prefix: str) -> dict[str, str]:
    """A new, migrated PostgreSQL database per service: {service: sqlalchemy url}."""
    from shared.db import Database
    from shared.migrations import upgrade

    urls: dict[str, str] = {}
    for name in ("referrals", "supervision", "reporting"):
        db = f"bench_{prefix}_{RUN_TAG}_{name}"
        await create_database(db)
        urls[name] = sa_url(db)
        database = Database(urls[name])
        try:
            await upgrade(name, database.engine)
        finally:
            await database.dispose()
    return urls


async def drop_service_databases(urls: dict[str, str]) -> None:
    for url in urls.values():
        await drop_database(db_name(url))


def db_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


# -- service processes -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One uvicorn worker running a service (or the baseline app) as a child process."""

    name: str
    target: str  # "module:factory"
    port: int
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    root: Path = ROOT  # the source tree it runs: another commit's worktree for `bench.compare`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The worker's command line, run from `root` with `environment()`."""
        return [
            *(PY, "-m", "uvicorn", "--factory", self.target, "--host", "127.0.0.1", "--port", str(self.port)),
            *("--workers", "1", "--no-access-log", "--log-level", "warning"),
        ]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root), **self.env}

    def start(self, timeout: float = 60.0) -> Server:
        fd, path = tempfile.mkstemp(prefix=f"bench-{self.name}-", suffix=".log")
        self.log_path = Path(path)
        self.proc = subprocess.Popen(
            self.command(), cwd=self.root, env=self.environment(), stdout=fd, stderr=subprocess.STDOUT
        )
        os.close(fd)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:  # one client: building TLS contexts per poll is costly
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/health/live").status_code == 200:
                        return self
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cpu_seconds(self) -> float:
        """User and system CPU the worker has used so far."""
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)

    def memory(self) -> dict[str, float]:
        """Current and peak resident set size (MiB) from /proc: VmRSS and VmHWM."""
        assert self.proc is not None
        out: dict[str, float] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out["rss_mib" if key == "VmRSS" else "peak_rss_mib"] = round(int(value.split()[0]) / 1024, 1)
        return out


_TICK = os.sysconf("SC_CLK_TCK")


def cores() -> int:
    """CPUs this process may run on: what a CPU-bound ceiling divides among."""
    return len(os.sched_getaffinity(0))


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces): field 14 of proc(5) is [11]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK


def postgresql_cpu_seconds() -> float:
    """User and system CPU of every PostgreSQL process, and of the backends its postmaster reaped:
    a difference of two readings is what PostgreSQL spent between them, connections that came and
    went included."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not (proc / "comm").read_text().startswith("postgres"):
                continue
            fields = _stat_fields(proc.name)
            postmaster = b"-D" in (proc / "cmdline").read_bytes()
        except OSError:
            continue  # ended while we looked
        total += int(fields[11]) + int(fields[12])
        if postmaster:  # children it has waited for
            total += int(fields[13]) + int(fields[14])
    return total / _TICK


def service_server(name: str, urls: dict[str, str], port: int | None = None, **extra: str) -> Server:
    prefix = ENV_PREFIX[name]
    port = port or free_port()  # other work on this machine may hold any fixed port
    env = {
        f"{prefix}DATABASE_URL": urls[name],
        f"{prefix}RATE_LIMIT_PER_MINUTE": "0",
        f"{prefix}PORT": str(port),
        "OTEL_SDK_DISABLED": "true",
    }
    env.update(extra)
    return Server(name, f"services.{name}.main:create", port, env)


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    started: list[Server] = []
    try:
        for s in servers:
            started.append(s.start())
        yield servers
    finally:
        for s in reversed(started):
            s.stop()


def token(*roles: str, sub: str = "bench-user", team: str | None = "FD-WEST") -> str:
    from shared.auth import mint_token
    from shared.settings import ServiceSettings

    return mint_token(ServiceSettings(), roles=list(roles), subject=sub, team=team, ttl_seconds=6 * 3600)


# -- wrk -------------------------------------------------------------------------------------------
WRK_LUA = r"""
-- Generated by bench/common.py: POSTs a JSON template with per-request unique values.
-- __KEY__ -> a unique Idempotency-Key; __UUID1__..__UUID9__ -> unique UUIDs per request.
-- The salt comes from the command line (`wrk ... -- <salt>`, a fresh one each run, see run_wrk): the
-- counter starts again at every run, so a salt fixed in the script would send the same keys again and
-- the service would replay its first answers instead of creating anything.
local salt
local path = "%(path)s"
local template = %(template)s
local headers = %(headers)s
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  salt = args[1]
  assert(salt and string.match(salt, "^%%x%%x%%x%%x%%x%%x%%x%%x$"), "wrk ... -- <8 hex digits>")
end

local function uuid(n, k)
  return string.format("%%s-%%04x-4%%03x-8000-%%012x", salt, tid, k, n)
end

function request()
  counter = counter + 1
  local body = template
  for k = 1, 9 do
    local ph = "__UUID" .. k .. "__"
    if string.find(body, ph, 1, true) then
      body = string.gsub(body, ph, uuid(counter, k))
    end
  end
  local h = {}
  for name, value in pairs(headers) do h[name] = value end
  h["Idempotency-Key"] = salt .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", path, h, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"p50_us\": %%d, \"p90_us\": %%d, " ..
    "\"p99_us\": %%d, \"max_us\": %%d, \"mean_us\": %%.1f, \"err_connect\": %%d, \"err_read\": %%d, " ..
    "\"err_write\": %%d, \"err_status\": %%d, \"err_timeout\": %%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def wrk_script(path: str, template: dict[str, Any], headers: dict[str, str]) -> Path:
    """A wrk Lua script that POSTs `template` (JSON) to `path` with unique keys and ids per request
    (unique across runs too: `run_wrk` gives each run its own salt)."""
    lua_headers = (
        "{" + ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()) + "}"
    )
    text = WRK_LUA % {
        "path": path,
        "template": _lua_string(json.dumps(template)),
        "headers": lua_headers,
    }
    fd, name = tempfile.mkstemp(prefix="bench-", suffix=".lua")
    os.write(fd, text.encode())
    os.close(fd)
    return Path(name)


def run_wrk(url: str, script: Path, *, connections: int, seconds: float, threads: int = 1) -> dict[str, Any]:
    """Run wrk (a separate process) for a fixed time; return its figures (latencies in ms).

    Each run gets a fresh salt for the script's keys and ids: a run that sent the keys of an earlier
    one would measure idempotent replays, not creations."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s"]
    cmd += ["-s", str(script), url, "--", uuid.uuid4().hex[:8]]
    # wrk is this process's only child reaped during the run (servers run on), so the change in the
    # children's rusage is wrk's own CPU.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    line = lines[0]
    raw = json.loads(line[len("WRKJSON ") :])
    secs = raw["duration_us"] / 1e6
    errors = sum(v for k, v in raw.items() if k.startswith("err_"))
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / secs,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "error_detail": {k: v for k, v in raw.items() if k.startswith("err_") and v},
        "wrk_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


# -- statistics ------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence: the value at rank ceil(q% of n).

    Worked out exactly: `round(q / 100 * n + 0.5)` rounded a whole q% of n half to even, so 95% of
    20 calls gave rank 20, the maximum, not 19."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = math.ceil(Fraction(str(q)) * len(ordered) / 100)
    return ordered[max(1, min(len(ordered), rank)) - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median with its spread (min and max over the repeats)."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


# -- results ---------------------------------------------------------------------------------------
def save(name: str, result: dict[str, Any], module: str | None = None) -> Path:
    """Write bench/results/<name>.json with the machine and the command (`module` when the result's
    name does not begin with its module's)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    command = "python -m " + " ".join(["bench." + (module or name.split("-")[0]), *sys.argv[1:]])
    doc = {"benchmark": name, "command": command, "machine": machine(), **result}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
