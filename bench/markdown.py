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


# Variants of the intake run beside the table (bench/results/<name>.json when present), and what each is.
INTAKE_DIAGNOSTICS = (
    (
        "intake-no-append-lock",
        "`bench/experiments.py`: the journey log's global append lock replaced by a no-op; not a production "
        "configuration",
    ),
    (
        "intake-route-pair",
        "the route as it is, run right before the next line's floor for a pair measured in the same minutes",
    ),
    (
        "intake-floor",
        "`bench/intake_floor.py`: the same rows, event and answer written by hand on one asyncpg connection, "
        "no SQLAlchemy, so a floor for this stack on one worker; a measurement, not a route",
    ),
    (
        "intake-floor-nolock",
        "that floor with its append lock a no-op, `BENCH_FLOOR_NO_LOCK=1`; no gap safety",
    ),
)


def intake(r: dict[str, Any]) -> list[str]:
    f, b, s = r["frontdoor"], r["baseline"], r["settings"]
    lines = [
        "## 1. Intake efficiency: `POST /contacts`",
        "",
        *machine_block(r["machine"]),
        f"- Command: `{r['command']}` — {s['rounds']} alternating rounds x {s['seconds']:.0f} s per app "
        f"after {s.get('warmup_seconds', 3):.0f} s of discarded load on each, wrk, {s['connections']} "
        "connections, one uvicorn worker per app, all on this machine",
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
        f"- Contacts written: {r['contacts_written']:,}"
        + (", one for every request answered (checked)" if r.get("every_request_created") else "")
        + "; peak RSS referrals "
        f"{r['memory']['referrals'].get('peak_rss_mib')} MiB, "
        f"baseline {r['memory']['baseline'].get('peak_rss_mib')} MiB",
    ]
    if "ratio_cpu_bound" in r:
        lines += cpu_lines(r)
    for name, what in INTAKE_DIAGNOSTICS:
        variant = load(name)
        if variant:
            v = variant["frontdoor"]
            lines += [
                "",
                f"Diagnostic run ({what}): "
                f"{_spread(v['rps'])} requests/s, p99 {_spread(v['p99_ms'], '{:.1f}')} ms, ratio "
                f"{_spread(variant['ratio'], '{:.2f}')}"
                + (
                    f", at most {_spread(variant['ratio_cpu_bound'], '{:.2f}')} with every core at work "
                    f"({_spread(v['cpu_ms_per_request']['total'], '{:.2f}')} ms of CPU per request)"
                    if "ratio_cpu_bound" in variant
                    else ""
                )
                + f" (run {variant['machine']['date']}, "
                f"`{variant['command']}`). It ran at another moment than the table above, so compare "
                "ratios, not requests/s; see the notes below.",
            ]
    return lines


def cpu_lines(r: dict[str, Any]) -> list[str]:
    """CPU per request of each app, and what it allows with every core at work (any number of workers)."""

    def row(label: str, app: dict[str, Any]) -> str:
        cpu = app["cpu_ms_per_request"]
        cells = " | ".join(_spread(cpu[k], "{:.2f}") for k in ("worker", "postgresql", "wrk", "total"))
        return f"| {label} | {cells} | {_spread(app['cpu_bound_rps'])} |"

    return [
        "",
        "CPU per request in the same runs (ms; the worker from /proc, PostgreSQL's processes and the "
        "backends its postmaster reaped, wrk's rusage), and the requests/s that allows with all "
        f"{r['cores']} cores on this work alone:",
        "",
        "| | worker | PostgreSQL | wrk | total | CPU-bound requests/s |",
        "|---|---|---|---|---|---|",
        row("front door", r["frontdoor"]),
        row("baseline", r["baseline"]),
        "",
        f"- So with any number of workers, the front door could reach at most "
        f"**{_spread(r['ratio_cpu_bound'], '{:.2f}')}** of the one-worker baseline on this machine "
        f"(target 0.35: {_yes(r['ratio_cpu_bound']['median'] >= 0.35)})",
    ]


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


def _compared(settings: dict[str, Any]) -> str:
    """How compare was called: two different periods since they are recorded (before, both were
    the whole range, which the service computes once)."""
    compared = settings.get("compared")
    if not compared:
        return "; compare given the whole range as both periods (computed once)"
    (a_from, a_to), (b_from, b_to) = compared["a_"], compared["b_"]
    return f"; compare given {a_from} to {a_to} against {b_from} to {b_to}"


def growth_of_p95(small: dict[str, Any], large: dict[str, Any]) -> dict[str, float]:
    """Each report's p95 at the `large` size over its p95 at the `small` one (sizes of reports runs)."""
    return {
        label: x["p95_ms"] / small["reports"][label]["p95_ms"]
        for label, x in large["reports"].items()
        if label in small["reports"] and small["reports"][label]["p95_ms"] > 0
    }


def report_table(r: dict[str, Any], smallest: dict[str, Any] | None = None) -> list[str]:
    """p50/p95 of every report at each size of one reports run; `smallest`, a size from another run
    (the 10 k-event base of section 3), is shown first and growth is measured from it."""
    sizes, st = r["sizes"], r["settings"]
    growth = r["growth_p95"]
    if smallest is not None:
        sizes = [smallest, *sizes]
        growth = growth_of_p95(smallest, sizes[-1])
    elif len(sizes) == 1:
        growth = {}
    labels = sorted({label for s in sizes for label in s["reports"]})
    # Results kept without their calls were taken before 6e644be, whose rank for p95 was one too
    # high at 20 calls.
    rank = (
        "with n <= 20 the p95 is the slowest sample, as the benchmark took it before 6e644be"
        if any("samples_ms" not in x for s in sizes for x in s["reports"].values())
        else "p95 by nearest rank: the 19th of 20 calls, the slowest of fewer"
    )
    lines = [
        "p50 / p95 ms per report, by contacts in the projection (n = samples when a report's 20 s "
        f"budget cut the repeats short; {rank}):",
        "",
        "| report | "
        + " | ".join(f"{s['contacts']:,} contacts{' (section 3)' if s is smallest else ''}" for s in sizes)
        + " | growth of p95 |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    for label in labels:
        cells = []
        for s in sizes:
            x = s["reports"].get(label)
            if x is None:
                cells.append("-")
                continue
            status = "" if x["status"] == 200 else f" (HTTP {x['status']})"
            n = "" if x.get("n", st["repeats"]) >= st["repeats"] else f" (n={x['n']})"
            cells.append(f"{x['p50_ms']:,.0f} / {x['p95_ms']:,.0f}{n}{status}")
        g = growth.get(label)
        lines.append(f"| `{label}` | " + " | ".join(cells) + f" | {'-' if g is None else f'{g:.1f}x'} |")
    return lines


def padded(r: dict[str, Any]) -> list[str]:
    """The reports that read durations counted per month, timed again with those counts padded to
    a worst case (bench/reports.py, `pad_duration_months`)."""
    x = r.get("padded")
    if x is None:
        return []
    timed = "; ".join(
        f"`{label}` {t['p50_ms']:,.0f} / {t['p95_ms']:,.0f} ms" for label, t in sorted(x["reports"].items())
    )
    keys = f" and for each team key ({x['key_duration_rows']:,} rows)" if "key_duration_rows" in x else ""
    return [
        f"- Worst case for the durations counted per month: every tenth of an hour from 0 to {x['hours']} h "
        f"and every working day to {x['days']} counted in every month of the range "
        f"({x['duration_rows']:,} month rows){keys}, at {x['contacts']:,} contacts, p50 / p95: {timed}.",
    ]


def projected_at_scale(r: dict[str, Any], section: str, small: dict[str, Any] | None) -> list[str]:
    """A reports run whose base is large: the events themselves went through the consumer. `small`
    is section 3's run: its 10 k-event size is the first column, from which growth is measured."""
    ld, rb = r["loaded"], r["rebuild"]
    rss = r["memory"]
    millions = round(r["settings"]["base_events"] / 1_000_000)
    cloned = "; then cloned as in section 3"
    return [
        f"## {section}. Reports, rebuild and memory with {millions} M events projected through the consumer",
        "",
        *machine_block(r["machine"]),
        f"- Command: `{r['command']}` — as section 3, but the base itself is large: "
        f"{ld['referrals']:,} referrals + {ld['supervision']:,} supervision events ({ld['journeys']:,} "
        f"journeys, {ld['contacts']:,} contacts) loaded into the producers' logs and projected by "
        "reporting's own consumer over HTTP"
        + (cloned if len(r["sizes"]) > 1 else "")
        + _compared(r["settings"]),
        *([f"- Note: {r['note']}"] if r.get("note") else []),
        f"- Rebuild of all {rb['events']:,} events from zero through the feeds: {rb['seconds']:.0f} s, "
        f"**{rb['events_per_s']:,.0f} events/s** (target >= 20,000: {_yes(rb['events_per_s'] >= 20_000)})",
        "- Peak RSS (MiB) at the end: "
        + ", ".join(f"{n} {rss[n].get('peak_rss_mib')}" for n in ("referrals", "supervision", "reporting")),
        "",
        *report_table(r, small["sizes"][0] if small else None),
        "",
        *growth_verdict(r, small),
        *padded(r),
        *([""] if r.get("padded") else []),
    ]


def growth_verdict(r: dict[str, Any], small: dict[str, Any] | None) -> list[str]:
    """The worst p95 growth from section 3's 10 k-event base to this run's largest size; the
    target's verdict only for a run of 10 M events or more, the size the target names."""
    if small is None:
        return []
    base, largest = small["sizes"][0], r["sizes"][-1]
    growth = growth_of_p95(base, largest)
    if not growth:
        return []
    label, g = max(growth.items(), key=lambda kv: kv[1])
    x, b = largest["reports"][label], base["reports"][label]
    verdict = (
        f" (target <= 2x for 10 k -> 10 M events: {_yes(g <= 2)})"
        if r["settings"]["base_events"] >= 10_000_000
        else ""
    )
    return [
        f"- Worst growth of p95 from section 3's {base['contacts']:,} contacts to {largest['contacts']:,}: "
        f"{g:.1f}x, `{label}` ({b['p95_ms']:.1f} -> {x['p95_ms']:.1f} ms; p50 {b['p50_ms']:.1f} -> "
        f"{x['p50_ms']:.1f} ms){verdict}",
        "",
    ]


def reports(r: dict[str, Any]) -> list[str]:
    sizes = r["sizes"]
    st = r["settings"]
    ld = r["loaded"]
    rb = r["rebuild"]
    lines = [
        "## 3. Reports at scale",
        "",
        *machine_block(r["machine"]),
        f"- Command: `{r['command']}` — {st['repeats']} sequential calls per report after one warm-up, "
        f"analyst token, range {st['range'][0]} to {st['range'][1]} (all the data), default grouping"
        + _compared(st),
        f"- Data: {ld['referrals']:,} referrals + {ld['supervision']:,} supervision events "
        f"({ld['journeys']:,} journeys, {ld['contacts']:,} contacts) generated by `bench/generator.py`, "
        "projected by reporting's own consumer; larger sizes clone those projected rows with fresh ids "
        "(md5 of id and round, so joins hold), doubling until each checkpoint"
        + (f", each round followed by `{st['after_clone']}`" if "after_clone" in st else "")
        + (
            f"; every timing (after the rebuild, each clone and the padding) preceded by "
            f"`{'`, `'.join(st['before_timing'])}`"
            if "before_timing" in st
            else ""
        ),
        "",
        *(
            [
                "- **Partial run**: stopped before every report finished at the largest checkpoint "
                "(deadline); a `-` means not measured.",
            ]
            if r.get("partial")
            else []
        ),
        "",
        *report_table(r),
    ]
    largest = sizes[-1]
    ok = [x for x in largest["reports"].values() if x["status"] == 200]
    worst = max((x["p95_ms"] for x in ok), default=0)
    lines += [
        "",
        f"- Worst p95 at {largest['contacts']:,} contacts: {worst:,.0f} ms — target p95 < 100 ms at 1 M "
        "contacts: "
        + ("**not measured at 1 M contacts**" if largest["contacts"] < 1_000_000 else _yes(worst < 100)),
    ]
    if r["growth_p95"]:
        g = max(r["growth_p95"].values())
        lines.append(
            f"- Worst growth of p95, {sizes[0]['contacts']:,} -> {largest['contacts']:,} contacts: {g:.1f}x "
            "(target <= 2x for 10 k -> 10 M events): " + _yes(g <= 2)
        )
    lines += padded(r)
    lines += [
        "",
        "## 4. Rebuild from zero",
        "",
        *machine_block(r["machine"]),
        f"- Command: `{r['command']}` (the rebuild step) — every reporting projection reset and replayed "
        "from position 0 through the normal feed consumer (`FeedConsumer.rebuild`, what "
        "`frontdoor rebuild -s reporting` runs), referrals and supervision serving their feeds over HTTP",
        "",
        "| events replayed | seconds | events/s | SQL statements per event (PostgreSQL `COPY` not counted) |",
        "|---|---|---|---|",
        f"| {rb['events']:,} | {rb['seconds']:.1f} | {rb['events_per_s']:,.0f} | "
        f"{rb['statements_per_event']:.1f} |",
        "",
        f"- Target >= 20,000 events/s: {_yes(rb['events_per_s'] >= 20_000)}",
        "",
        "## 5. Peak memory (RSS) per service",
        "",
        f"VmHWM of each uvicorn worker at the end of the reports run ({largest['contacts']:,} contacts "
        "in reporting's projection, every report called).",
        "",
        "| referrals MiB | supervision MiB | reporting MiB |",
        "|---|---|---|",
        "| "
        + " | ".join(
            str(r["memory"][n].get("peak_rss_mib")) for n in ("referrals", "supervision", "reporting")
        )
        + " |",
        "",
        "(The rebuild runs in the benchmark process, as the CLI does; referrals' peak under write load is "
        "in the intake section.)",
    ]
    return lines


def rebuild(r: dict[str, Any]) -> list[str]:
    lines = [
        "## 4b. Rebuild, projection only",
        "",
        *machine_block(r["machine"]),
        f"- Command: `{r['command']}` — generated referrals and supervision events served from memory in "
        f"feed pages (the producers' own feed queries are left out), replayed by both reporting consumers' "
        f"`rebuild()` with pages of {r['batch_size']} events "
        f"({r.get('catch_up_batch_size', r['batch_size'])} while well behind the head)"
        + (
            f", applied {r['rebuild_batch_size']:,} events to a transaction"
            if "rebuild_batch_size" in r
            else ""
        )
        + "; this measures what reporting spends per event",
        "",
        "| backend | feed | events | seconds | events/s | SQL statements (PostgreSQL `COPY` not counted) |",
        "|---|---|---|---|---|---|",
    ]
    for backend, feeds in r["backends"].items():
        for feed, f in feeds.items():
            statements = f.get("statements", "—")
            lines.append(
                f"| {backend} | {feed} | {f['events']:,} | {f['seconds']:.2f} | {f['events_per_s']:,} | "
                f"{statements if isinstance(statements, str) else f'{statements:,}'} |"
            )
    best = max(feeds["total"]["events_per_s"] for feeds in r["backends"].values())
    lines += ["", f"- Target >= 20,000 events/s: {_yes(best >= 20_000)}"]
    return lines


def render() -> str:
    parts = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (all) or one benchmark alone: `python -m bench.intake`, "
        "`python -m bench.freshness`, `python -m bench.reports` (reports at scale, rebuild speed and peak "
        "memory), `python -m bench.rebuild`. Each writes `bench/results/<name>.json`, committed with the "
        "code it measured; this file is rendered from those results "
        "(`python -m bench.markdown`). Benchmarks are not tests and do not run in CI. For a change "
        "smaller than the machine's drift between runs, `python -m bench.compare REF` runs the intake "
        "at this checkout and at commit REF side by side, alternating (cited in the notes below).",
        "",
        f"Set-up: `make install` and `{INSTALL}`; PostgreSQL on 127.0.0.1:5432 (trust, user postgres) — "
        "each run creates and drops its own `bench_*` databases. Load goes only to 127.0.0.1 and every "
        "loop is bounded.",
        "",
    ]
    sections = (("intake", intake), ("freshness", freshness), ("reports", reports), ("rebuild", rebuild))
    for name, fn in sections:
        r = load(name)
        parts += fn(r) if r else [f"## {name}", "", "Not run yet.", ""]
        parts.append("")
    for section, name in (("3b", "reports-1m-events"), ("3c", "reports-10m-events")):
        projected = load(name)
        if projected:
            parts += projected_at_scale(projected, section, load("reports"))
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        parts += [notes.read_text().strip(), ""]
    return "\n".join(parts)


def write() -> None:
    (ROOT / "BENCHMARKS.md").write_text(render())


if __name__ == "__main__":
    write()
