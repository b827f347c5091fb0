"""Instructions per contact: `POST /contacts` in process, one at a time, counted by valgrind.

A count of instructions, unlike a time, does not move with whatever else the machine is doing, so
two commits measured this way differ only by their code; the wrk benchmarks' run-to-run spread (10%
and more on a shared 2-CPU machine) hides a change of a few percent. The count covers the whole
process: the referrals app and the in-process client (httpx's ASGI transport, the same for every
commit), not uvicorn's HTTP parsing and not the database server. Each run posts `warm` contacts, then
`contacts` more in a second run: the difference over `contacts` is per contact, start-up and warm-up
cancelling out. Both runs go at once (valgrind counts are unaffected), on a fresh PostgreSQL database.

    python -m bench.instructions [--contacts 100]   # needs valgrind: apt-get install -y valgrind

To compare commits, run it in a worktree of each (`git worktree add /tmp/before <rev>`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import uuid

from bench.common import ROOT, drop_service_databases, fresh_service_databases, log
from bench.intake import contact_body, headers

WARM = 20


async def _post_contacts(url: str, count: int) -> None:
    """The measured process: `count` contacts about a new child, each with its own Idempotency-Key."""
    import httpx

    os.environ["REFERRALS_DATABASE_URL"] = url
    os.environ["REFERRALS_RATE_LIMIT_PER_MINUTE"] = "0"
    os.environ["OTEL_SDK_DISABLED"] = "true"
    from services.referrals.main import create

    app = create()
    body = json.dumps(contact_body())
    base = headers()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://referrals") as client:
        for _ in range(count):
            r = await client.post(
                "/contacts", content=body, headers={**base, "Idempotency-Key": str(uuid.uuid4())}
            )
            if r.status_code != 201:
                raise RuntimeError(f"contact refused: {r.status_code} {r.text[:500]}")
    await app.state.db.dispose()


def _count(url: str, contacts: int) -> subprocess.Popen[str]:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    cmd += ["-m", "bench.instructions", "--child", url, str(contacts)]
    return subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ}
    )


def _refs(proc: subprocess.Popen[str]) -> int:
    _, err = proc.communicate(timeout=3600)
    found = re.search(r"I\s+refs:\s+([\d,]+)", err)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed ({proc.returncode}): {err[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(contacts: int) -> float:
    urls = asyncio.run(fresh_service_databases("instr"))
    try:
        log(f"counting {WARM} and {WARM + contacts} contacts under callgrind (a few minutes)")
        runs = [_count(urls["referrals"], WARM), _count(urls["referrals"], WARM + contacts)]
        base, total = (_refs(p) for p in runs)
    finally:
        asyncio.run(drop_service_databases(urls))
    per_contact = (total - base) / contacts
    log(f"{per_contact / 1e6:.3f} M instructions per contact ({contacts} contacts after {WARM})")
    return per_contact


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100)
    parser.add_argument("--child", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        asyncio.run(_post_contacts(a.child[0], int(a.child[1])))
    else:
        main(a.contacts)
