"""Renders BENCHMARKS.md from the result files in bench/results/ (whatever has been run)."""

from __future__ import annotations

from typing import Any

from bench.common import ROOT, load

INSTALL = "apt-get install -y wrk   # the load generator (Debian package); everything else is in .venv"


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def _spread(s: dict[str, float], fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def _yes(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def machine_block(m: dict[str, Any]) -> list[str]:
    return [
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Linux {m['kernel']}",
        f"- PostgreSQL {m['postgresql']} on 127.0.0.1 (shared with other work on this machine); "
        f"Python {m['python']}; commit `{m['commit']}`; run {m['date']}",
    ]


def intake(r: dict[str, Any]) -> list[str]:
    f, b, s = r["frontdoor"], r["baseline"], r["settings"]
    lines = [
        "## 1. Intake efficiency: `POST /contacts`",
        "",
        *machine_block(r["machine"]),
        f"- Command: `{r['command']}` — {s['rounds']} alternating rounds x {s['seconds']:.0f} s per app, "
        f"wrk, {s['connections']} connections, one uvicorn worker per app, all on this machine",
        "- Peer: `bench/baseline_app.py`, a bare FastAPI endpoint parsing the same body and doing one raw "
        "asyncpg INSERT of a contact-like row (no auth, idempotency, event or audit)",
        "- Figures: median over rounds (min-max)",
        "",
        "| | requests/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
        f"| front door `POST /contacts` | {_spread(f['rps'])} | {_spread(f['p50_ms'], '{:.1f}')} | "
        f"{_spread(f['p99_ms'], '{:.1f}')} | {f['errors']} |",
        f"| baseline INSERT | {_spread(b['rps'])} | {_spread(b['p50_ms'], '{:.1f}')} | "
        f"{_spread(b['p99_ms'], '{:.1f}')} | {b['errors']} |",
        "",
        f"- Ratio (front door ÷ baseline, per round): **{_spread(r['ratio'], '{:.2f}')}** — target ≥ 0.35: "
        f"{_yes(r['met']['ratio'])}",
        f"- Front-door p99: {f['p99_ms']['median']:.1f} ms — target < 50 ms: {_yes(r['met']['p99'])}",
        f"- Contacts written: {r['contacts_written']:,}; peak RSS referrals "
        f"{r['memory']['referrals'].get('peak_rss_mib')} MiB, "
        f"baseline {r['memory']['baseline'].get('peak_rss_mib')} MiB",
    ]
    if r.get("notes"):
        lines += ["", *r["notes"]]
    return lines


def freshness(r: dict[str, Any]) -> list[str]:
    s = r["settings"]
    lag = r["lag_ms"]
    return [
        "## 2. Freshness: commit -> reporting projection",
        "",
        *machine_block(r["machine"]),
        f"- Command: `{r['command']}` — {s['seconds']:.0f} s of open-loop load, "
        f"~{s['contacts_per_s']} contacts/s, "
        f"each followed ~0.5 s later by its threshold decision; observer polls every {s['poll_ms']} ms",
        f"- Requests: contacts {r['stats']['contacts']}, decisions {r['stats']['decisions']} (status: count)",
        "",
        "| events observed | p50 ms | p99 ms | max ms | never shown |",
        "|---|---|---|---|---|",
        f"| {r['samples']:,} | {_ms(lag['p50'])} | {_ms(lag['p99'])} | {_ms(lag['max'])} | {r['unseen']} |",
        "",
        f"- Target p99 < 1000 ms: {_yes(r['met']['p99'])}",
    ]


def reports(r: dict[str, Any]) -> list[str]:
    sizes = r["sizes"]
    labels = sorted({label for s in sizes for label in s["reports"]})
    head = "| report | " + " | ".join(f"{s['size']:,} events p50 / p95 ms" for s in sizes) + " | growth p95 |"
    lines = [
        "## 3. Reports at scale",
        "",
        *machine_block(r["machine"]),
        f"- Command: `{r['command']}` — sizes "
        f"{', '.join(f'{n:,}' for n in r['settings']['sizes'])} referrals "
        f"events (plus their supervision events), {r['settings']['repeats']} sequential calls per report "
        f"after one warm-up, analyst token, range {r['settings']['range'][0]} to {r['settings']['range'][1]} "
        "(all the data), default grouping",
        "",
        "| size | referrals events | supervision events | journeys | contacts | load s |",
        "|---|---|---|---|---|---|",
    ]
    for s in sizes:
        ld = s["loaded"]
        lines.append(
            f"| {s['size']:,} | {ld['referrals']:,} | {ld['supervision']:,} | {ld['journeys']:,} | "
            f"{ld['contacts']:,} | {ld['seconds']:.0f} |"
        )
    lines += ["", head, "|---|" + "---|" * (len(sizes) + 1)]
    for label in labels:
        cells = []
        for s in sizes:
            x = s["reports"].get(label)
            cells.append(
                "—"
                if x is None
                else f"{x['p50_ms']:.1f} / {x['p95_ms']:.1f}"
                + ("" if x["status"] == 200 else f" ({x['status']})")
            )
        g = r["growth_p95"].get(label)
        lines.append(f"| `{label}` | " + " | ".join(cells) + f" | {'—' if g is None else f'{g:.2f}x'} |")
    largest = sizes[-1]
    worst = max((x["p95_ms"] for x in largest["reports"].values()), default=0)
    lines += [
        "",
        f"- Worst p95 at {largest['size']:,} events ({largest['loaded']['contacts']:,} contacts): "
        f"{worst:.1f} ms — "
        f"target p95 < 100 ms at 1 M contacts: "
        + (
            "**not measured at 1 M contacts**"
            if largest["loaded"]["contacts"] < 1_000_000
            else _yes(worst < 100)
        ),
    ]
    if r["growth_p95"]:
        g = max(r["growth_p95"].values())
        lines.append(
            f"- Worst growth of p95 {sizes[0]['size']:,} -> {largest['size']:,} events: {g:.2f}x "
            "(target <= 2x for 10 k -> 10 M)"
        )
    lines += [
        "",
        "## 4. Rebuild from zero",
        "",
        "Every reporting projection reset and replayed from position 0 through the normal feed consumer "
        "(`FeedConsumer.rebuild`, what `frontdoor rebuild -s reporting` runs), with referrals and "
        "supervision serving their feeds over HTTP on 127.0.0.1.",
        "",
        "| size | events replayed | seconds | events/s |",
        "|---|---|---|---|",
    ]
    for s in sizes:
        rb = s["rebuild"]
        lines.append(
            f"| {s['size']:,} | {rb['events']:,} | {rb['seconds']:.1f} | {rb['events_per_s']:,.0f} |"
        )
    best = sizes[-1]["rebuild"]["events_per_s"]
    lines += [
        "",
        f"- Target ≥ 20,000 events/s (at the largest size): {_yes(best >= 20_000)}",
        "",
        "## 5. Peak memory (RSS) per service",
        "",
        "VmHWM of each uvicorn worker at the end of the reports run (after the rebuild and every report).",
        "",
        "| size | referrals MiB | supervision MiB | reporting MiB |",
        "|---|---|---|---|",
    ]
    for s in sizes:
        m = s["memory"]
        lines.append(
            f"| {s['size']:,} | {m['referrals'].get('peak_rss_mib')} | "
            f"{m['supervision'].get('peak_rss_mib')} | {m['reporting'].get('peak_rss_mib')} |"
        )
    lines.append(
        "\n(The rebuild itself runs in the benchmark process, as the CLI does; its RSS is not a service's.)"
    )
    return lines


def render() -> str:
    parts = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (all) or one benchmark alone: `python -m bench.intake`, "
        "`python -m bench.freshness`, `python -m bench.reports` (reports at scale, rebuild speed and peak "
        "memory). Each writes `bench/results/<name>.json`; this file is rendered from those results "
        "(`python -m bench.markdown`). Benchmarks are not tests and do not run in CI.",
        "",
        f"Set-up: `make install` and `{INSTALL}`; PostgreSQL on 127.0.0.1:5432 (trust, user postgres) — "
        "each run creates and drops its own `bench_*` databases. Load goes only to 127.0.0.1 and every "
        "loop is bounded.",
        "",
    ]
    for name, fn in (("intake", intake), ("freshness", freshness), ("reports", reports)):
        r = load(name)
        parts += fn(r) if r else [f"## {name}", "", "Not run yet.", ""]
        parts.append("")
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        parts += [notes.read_text().strip(), ""]
    return "\n".join(parts)


def write() -> None:
    (ROOT / "BENCHMARKS.md").write_text(render())


if __name__ == "__main__":
    write()
