"""Intake A/B: the referrals worker at this checkout against another commit, in one run.

    python -m bench.compare REF [--rounds 8] [--seconds 10] [--connections 32]

Both workers run at once, each on its own PostgreSQL databases (REF from a temporary git worktree,
with this checkout's virtualenv); wrk drives `POST /contacts` (benchmark 1's contact) at one then
the other, alternating which goes first, so each round's ratio (this ÷ REF) sees one machine state.
It is for changes smaller than the machine's drift between two runs of `bench.intake`. Writes
`bench/results/compare.json`; not rendered into BENCHMARKS.md (bench/NOTES.md cites its runs).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    PY,
    ROOT,
    Server,
    db_name,
    drop_service_databases,
    fresh_service_databases,
    log,
    run_wrk,
    running,
    save,
    service_server,
    summary,
    wrk_script,
)
from bench.intake import check_all_created, contact_body, count_rows, headers


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _imports_from(server: Server) -> Path:
    """Where the worker's interpreter finds `shared`: proof that it runs the tree it was given."""
    found = subprocess.run(
        [PY, "-c", "import shared; print(shared.__file__)"],
        cwd=server.root,
        env=server.environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(found).parent.parent


def main(
    ref: str, rounds: int = 8, seconds: float = 10, connections: int = 32, warmup: float = 30
) -> dict[str, Any]:
    commit = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    # Both sets of databases are migrated from this checkout, so the commits must agree on them.
    if _git("diff", "--name-only", commit, "--", "migrations/referrals"):
        raise SystemExit(f"{commit} has other referrals migrations than this checkout: compare by hand")
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        tree = Path(tmp) / commit
        _git("worktree", "add", "--detach", str(tree), commit)
        urls: dict[str, dict[str, str]] = {}
        try:
            for side in ("this", "ref"):  # one name per side: the run's tag is the same for both
                urls[side] = asyncio.run(fresh_service_databases(f"compare_{side}"))
            this = service_server("referrals", urls["this"])
            other = service_server("referrals", urls["ref"])
            other.name, other.root = f"referrals-{commit}", tree
            for server in (this, other):
                if _imports_from(server) != server.root:
                    raise RuntimeError(f"{server.name} would not run the code in {server.root}")
            script = wrk_script("/contacts", contact_body(), headers())
            runs: dict[str, list[dict[str, Any]]] = {"this": [], "ref": []}
            ratios: list[float] = []
            answered = {"this": 0, "ref": 0}
            with running(this, other):
                # Warm both, discarded (see bench.intake).
                for side, server in (("this", this), ("ref", other)):
                    warm = run_wrk(server.url, script, connections=connections, seconds=warmup)
                    answered[side] += warm["requests"]
                for r in range(rounds):
                    order = [("this", this), ("ref", other)]
                    if r % 2:
                        order.reverse()
                    for side, server in order:
                        result = run_wrk(server.url, script, connections=connections, seconds=seconds)
                        runs[side].append(result)
                        answered[side] += result["requests"]
                        log(f"round {r + 1} {side}: {result['rps']:.0f} req/s p99 {result['p99_ms']:.1f} ms")
                    ratios.append(runs["this"][-1]["rps"] / runs["ref"][-1]["rps"])
            for side in ("this", "ref"):
                written = asyncio.run(count_rows(db_name(urls[side]["referrals"]), "contacts"))
                check_all_created(written, answered[side], rounds + 1, connections)
        finally:
            for u in urls.values():
                asyncio.run(drop_service_databases(u))
            _git("worktree", "remove", "--force", str(tree))

    def figures(side: str) -> dict[str, Any]:
        return {
            "rps": summary([x["rps"] for x in runs[side]]),
            "p99_ms": summary([x["p99_ms"] for x in runs[side]]),
            "errors": sum(x["errors"] for x in runs[side]),
        }

    result = {
        "settings": {"ref": commit, "rounds": rounds, "seconds": seconds, "connections": connections},
        "this": figures("this"),
        "ref": figures("ref"),
        "ratio": summary(ratios),
        "ratios": ratios,
        "rounds_faster": sum(q > 1 for q in ratios),
    }
    save("compare", result)
    log(f"this ÷ {commit}: median {result['ratio']['median']:.3f} ({min(ratios):.3f}-{max(ratios):.3f})")
    return result


if __name__ == "__main__":
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("ref", help="the commit to compare this checkout against")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=30)
    args = parser.parse_args()
    main(args.ref, args.rounds, args.seconds, args.connections, args.warmup)
