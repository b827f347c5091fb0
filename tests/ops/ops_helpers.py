"""Helpers for running the real `frontdoor` command as a subprocess (imported by the ops tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

REPO = Path(__file__).resolve().parents[2]
BACKEND = os.environ.get("FRONTDOOR_TEST_DB", "sqlite")
PG_SERVER = os.environ.get("FRONTDOOR_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
# Generous: this only bounds a hang; every wait below polls and returns as soon as it can.
STARTUP_TIMEOUT = 120.0
PREFIXES = ("REFERRALS_", "SUPERVISION_", "REPORTING_", "JWT_", "ENVIRONMENT", "SERVICE_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when a server could listen on the port now (as uvicorn would, with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        except OSError:
            return False
        return True


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Running:
    """A `python -m frontdoor ...` subprocess whose output is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "frontdoor", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _drain(stream: object, sink: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line.rstrip("\n"))

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)

    def wait_output(self, marker: str, *, stream: str = "out", timeout: float = STARTUP_TIMEOUT) -> None:
        lines = self.out if stream == "out" else self.err

        def seen() -> bool:
            if any(marker in line for line in list(lines)):
                return True
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"exited with {self.proc.returncode} before printing {marker!r}:\n"
                    f"{self.stdout}\n{self.stderr[-3000:]}"
                )
            return False

        wait_for(seen, timeout, repr(marker))

    def wait_exit(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


async def _pg(sql: str, params: dict[str, str] | None = None) -> list[tuple[object, ...]]:
    engine = create_async_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), params or {})
            return [tuple(r) for r in result.fetchall()] if result.returns_rows else []
    finally:
        await engine.dispose()


def pg_database_exists(name: str) -> bool:
    return bool(asyncio.run(_pg("SELECT 1 FROM pg_database WHERE datname = :n", {"n": name})))
