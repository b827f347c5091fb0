"""Instructions per contact: `POST /contacts`, one at a time, counted by valgrind's callgrind.

A count of instructions, unlike a time, does not move with whatever else the machine is doing, so
two commits measured this way differ only by their code; the wrk benchmarks' run-to-run spread (10%
and more on a shared 2-CPU machine) hides a change of a few percent. Each run posts `warm` contacts,
a second run `warm + contacts`: the difference over `contacts` is per contact, start-up, warm-up and
shut-down cancelling out. Both runs go at once (valgrind counts are unaffected), on a fresh
PostgreSQL database. User-space instructions only: the kernel's share (sockets) is not counted.

Two modes:
- `server` (the default): the referrals service started as the intake benchmark starts it, one
  uvicorn worker (uvloop, httptools, real HTTP on 127.0.0.1), under callgrind; the client is this
  process, outside valgrind, posting one contact at a time.
- `in-process`: the app and httpx's ASGI client in one process on asyncio's own loop, all counted.

Counts rank changes and show that a change did what it meant to; they do not size its effect under
load. Both modes counted 17-19% fewer instructions for a change that moved the worker's CPU under wrk
by a few percent at most (bench/NOTES.md, "Intake: records built without SQLModel's constructor").

    python -m bench.instructions [--contacts 100] [--mode server|in-process]   # needs valgrind

To compare commits, run it in a worktree of each (`git worktree add /tmp/before <rev>`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import ROOT, drop_service_databases, fresh_service_databases, log, service_server
from bench.intake import contact_body, headers

WARM = 20


async def _post_contacts(url: str, count: int) -> None:
    """The in-process measured process: `count` contacts about a new child, each its own key."""
    import httpx

    os.environ.update(service_server("referrals", {"referrals": url}).env)
    from services.referrals.main import create

    app = create()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://referrals") as client:
        for _ in range(count):
            r = await client.post("/contacts", content=_BODY, headers=_headers())
            _check(r.status_code, r.text)
    await app.state.db.dispose()


_BODY = json.dumps(contact_body())
_BASE_HEADERS = headers()


def _headers() -> dict[str, str]:
    return {**_BASE_HEADERS, "Idempotency-Key": str(uuid.uuid4())}


def _check(status: int, text: str) -> None:
    if status != 201:
        raise RuntimeError(f"contact refused: {status} {text[:500]}")


def _valgrind(command: list[str], out: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command]
    with out.open("wb") as f:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=f, env=env)


def _refs(proc: subprocess.Popen[bytes], out: Path) -> int:
    proc.wait(timeout=3600)
    err = out.read_text(errors="replace")
    found = re.search(r"I\s+refs:\s+([\d,]+)", err)
    if found is None:
        raise RuntimeError(f"valgrind run failed ({proc.returncode}): {err[-2000:]}")
    return int(found.group(1).replace(",", ""))


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float = 900) -> None:
    # A bare TCP connect once a second, not an HTTP request: polls cost the worker next to nothing,
    # and both runs start together, so they poll about as often.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the worker exited before it listened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(1)
    raise RuntimeError("the worker did not listen in time")


def _count_server(url: str, counts: list[int]) -> list[int]:
    import httpx

    runs = []
    for count in counts:
        server = service_server("referrals", {"referrals": url})
        out = Path(tempfile.mkstemp(prefix="bench-instr-", suffix=".log")[1])
        runs.append((_valgrind(server.command(), out, server.environment()), server.port, out, count))
    try:
        for proc, port, _, _ in runs:
            _wait_listening(proc, port)
        for _, port, _, count in runs:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                for _ in range(count):
                    r = client.post("/contacts", content=_BODY, headers=_headers())
                    _check(r.status_code, r.text)
        for proc, _, _, _ in runs:
            proc.send_signal(signal.SIGTERM)
        return [_refs(proc, out) for proc, _, out, _ in runs]
    finally:
        for proc, _, out, _ in runs:
            if proc.poll() is None:
                proc.kill()
            out.unlink(missing_ok=True)


def _count_in_process(url: str, counts: list[int]) -> list[int]:
    runs = []
    for count in counts:
        out = Path(tempfile.mkstemp(prefix="bench-instr-", suffix=".log")[1])
        command = [sys.executable, "-m", "bench.instructions", "--child", url, str(count)]
        runs.append((_valgrind(command, out, {**os.environ}), out))
    try:
        return [_refs(proc, out) for proc, out in runs]
    finally:
        for _, out in runs:
            out.unlink(missing_ok=True)


def main(contacts: int, mode: str = "server") -> float:
    urls = asyncio.run(fresh_service_databases("instr"))
    try:
        log(f"counting {WARM} and {WARM + contacts} contacts under callgrind, {mode} (minutes)")
        count = _count_server if mode == "server" else _count_in_process
        base, total = count(urls["referrals"], [WARM, WARM + contacts])
    finally:
        asyncio.run(drop_service_databases(urls))
    per_contact = (total - base) / contacts
    log(f"{per_contact / 1e6:.3f} M instructions per contact ({mode}; {contacts} contacts after {WARM})")
    return per_contact


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100)
    parser.add_argument("--mode", choices=["server", "in-process"], default="server")
    parser.add_argument("--child", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        asyncio.run(_post_contacts(a.child[0], int(a.child[1])))
    else:
        main(a.contacts, a.mode)
