"""Helpers shared by the drills: tokens, writing journey events, reading positions, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import Server
from bench.generator import COLUMNS, journey, register_entries
from shared.auth import mint_token
from shared.settings import ServiceSettings

BACKEND = os.environ.get("FRONTDOOR_TEST_DB", "sqlite")
PG_SERVER = os.environ.get("FRONTDOOR_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
ServerFactory = Callable[..., Server]


def bearer(*roles: str, sub: str = "drill-user", team: str | None = "FD-WEST") -> dict[str, str]:
    token = mint_token(ServiceSettings(), roles=list(roles), subject=sub, team=team)
    return {"Authorization": f"Bearer {token}"}


async def insert_events(url: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write generated journey events straight into a producer's log (positions assigned by the DB)."""
    from services.referrals.db import platform

    table = platform.events
    assert table is not None
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(rows), 2000):
                chunk = [dict(zip(COLUMNS, r, strict=True)) for r in rows[start : start + 2000]]
                await conn.execute(insert(table), chunk)
    finally:
        await engine.dispose()


async def write_journeys(
    db_urls: dict[str, str], referrals_events: int, seed: int = 1, *, register: bool = False
) -> dict[str, int]:
    """Generate journeys until about `referrals_events` referrals events; write both producers' logs.
    With `register`, the newly-qualified register's events too (once per database: each worker's
    entry stream starts at version 1)."""
    import random

    rng = random.Random(seed)
    ref: list[tuple[Any, ...]] = []
    sup: list[tuple[Any, ...]] = []
    index = seed * 1_000_000
    while len(ref) < referrals_events:
        r, s = journey(rng, index)
        index += 1
        ref.extend(r)
        sup.extend(s)
    if register:
        # Among the supervisions: applied before some of the journeys' supervisions, after others.
        half = len(sup) // 2
        sup[half:half] = register_entries(random.Random(seed))
    await insert_events(db_urls["referrals"], ref)
    if sup:
        await insert_events(db_urls["supervision"], sup)
    return {"referrals": len(ref), "supervision": len(sup)}


async def scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()
    finally:
        await engine.dispose()


async def positions(url: str) -> dict[str, int]:
    """Reporting's stored feed positions."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT feed, position FROM consumer_positions"))).all()
            return {str(f): int(p) for f, p in rows}
    finally:
        await engine.dispose()


async def head(url: str) -> int:
    from services.referrals.db import platform

    assert platform.events is not None
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.max(platform.events.c.position)))).scalar() or 0)
    finally:
        await engine.dispose()


async def wait_for(predicate: Callable[[], Any], within: float, every: float = 0.1) -> Any:
    """Poll an async predicate until it returns a truthy value; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(every)
    pytest.fail(f"condition not met within {within}s (last: {last!r})")


def live(server: Server) -> bool:
    try:
        return httpx.get(f"{server.url}/health/live", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def new_key() -> str:
    return uuid.uuid4().hex


class PrivateCluster:
    """A throwaway PostgreSQL cluster of this run (initdb in a temporary directory), so a drill can
    really stop and restart the server without touching the shared one. It listens only on a Unix
    socket in that directory: no other process can take its address while it is down between a stop
    and a start (the port only names the socket file).

    As root, the server runs as the `postgres` OS user (PostgreSQL refuses to run as root). fsync is
    off: an immediate (crash) shutdown kills the server, not the OS, so written WAL survives it."""

    def __init__(self) -> None:
        self.bindir = self._bindir()
        self.port = 5432
        self.dir = Path(tempfile.mkdtemp(prefix="fd-drill-pg-"))
        self.data = self.dir / "data"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    @staticmethod
    def _bindir() -> Path:
        config = shutil.which("pg_config")
        if config:
            found = Path(subprocess.run([config, "--bindir"], capture_output=True, text=True).stdout.strip())
            if (found / "initdb").exists():
                return found
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not candidates:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed here")
        return candidates[-1].parent

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {result.stderr or result.stdout}\n{tail}")

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.dir}&port={self.port}"

    def init(self) -> PrivateCluster:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        return self.start()

    def start(self) -> PrivateCluster:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses='' -c fsync=off "
            "-c max_connections=40 -c shared_buffers=32MB"
        )
        log = str(self.dir / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
