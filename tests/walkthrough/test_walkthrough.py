"""Runs docs/walkthrough.md exactly as written: its ```bash blocks, in order, in one bash session,
against `frontdoor up` started on free ports. Each block's `# expect: NNN` is the HTTP status its last
curl must get, and each piece of the ```text excerpt after it must appear in what the block printed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "walkthrough.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str | None, str | None]]:
    """(bash code, expected status or None, expected excerpt or None) for each ```bash block."""
    found = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(DOC.read_text())]
    out: list[tuple[str, str | None, str | None]] = []
    for i, (lang, body, _, _) in enumerate(found):
        if lang != "bash":
            continue
        expect = re.match(r"# expect: (\d{3}|none)\b.*\n", body)
        assert expect, f"every bash block starts with '# expect: NNN' (block {len(out) + 1})"
        status = None if expect.group(1) == "none" else expect.group(1)
        # The block's excerpt: the next ```text block, if it comes before the next ```bash block.
        excerpt = None
        for lang_after, body_after, _, _ in found[i + 1 :]:
            if lang_after == "bash":
                break
            if lang_after == "text":
                excerpt = body_after
                break
        out.append((body, status, excerpt))
    return out


def test_the_walkthrough_document_is_well_formed() -> None:
    parsed = blocks()
    assert len(parsed) >= 10
    assert sum(1 for _, status, _ in parsed if status is not None) >= 9
    assert all(excerpt for _, status, excerpt in parsed if status is not None)


def test_today_is_the_london_date(tmp_path: Path) -> None:
    """$TODAY is the action's due date on the supervision (checked against the London day it was held)
    and the day the reports are asked for (London dates): it must be London's date. `date -u` gave
    the day before from 23:00 to midnight UTC in summer, so the supervision was refused (an action due
    before the day held) and the reports were waited on for ever (the contact counts on London's day)."""
    setup = next(code for code, _, _ in blocks() if "TODAY=" in code)
    assignment = next(line for line in setup.splitlines() if line.startswith("TODAY="))
    real_date = shutil.which("date")
    assert real_date is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "date"
    # 23:30 UTC on Wed 1 Jul 2026 is 00:30 on Thu 2 Jul in London (BST).
    shim.write_text(f'#!/bin/sh\nexec "{real_date}" -d @1782948600 "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = subprocess.run(
        ["bash", "-c", f'{assignment}\necho "$TODAY"'], env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "2026-07-02"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shims(bin_dir: Path) -> None:
    """`frontdoor` runs this checkout; `curl` also logs each response's status for the test."""
    bin_dir.mkdir()
    frontdoor = bin_dir / "frontdoor"
    frontdoor.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m frontdoor.cli "$@"\n')
    curl = bin_dir / "curl"
    real_curl = "/usr/bin/curl"
    curl.write_text(
        "#!/bin/bash\n"
        "headers=$(mktemp)\n"
        f'"{real_curl}" -D "$headers" "$@"; rc=$?\n'
        "status=$(grep -E '^HTTP/' \"$headers\" | tail -1 | awk '{print $2}')\n"
        'echo "${status:-000}" >> "$CURL_LOG"\n'
        'rm -f "$headers"\n'
        "exit $rc\n"
    )
    frontdoor.chmod(0o755)
    curl.chmod(0o755)


def _wait_ready(urls: list[str], proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        assert proc.poll() is None, "frontdoor up exited early"
        try:
            if httpx.get(f"{pending[0]}/health/ready", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    assert not pending, f"not ready: {pending}"


@pytest.mark.skipif(not Path("/usr/bin/curl").exists(), reason="the walk-through uses curl")
def test_the_walkthrough_runs_as_written(db_urls: dict[str, str], clean_db: None, tmp_path: Path) -> None:
    parsed = blocks()
    ports = {name: _free_port() for name in ("referrals", "supervision", "reporting")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    bin_dir = tmp_path / "bin"
    _shims(bin_dir)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CURL_LOG": str(tmp_path / "statuses.log"),
        "REFERRALS": urls["referrals"],
        "SUPERVISION": urls["supervision"],
        "REPORTING": urls["reporting"],
        "ENVIRONMENT": "development",
    }
    for name, url in db_urls.items():
        env[f"{name.upper()}_DATABASE_URL"] = url
    command = [sys.executable, "-m", "frontdoor.cli", "up"]
    for name, port in ports.items():
        command += [f"--{name}-port", str(port)]
    up = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "up.log").open("wb"),
        start_new_session=True,
    )
    try:
        _wait_ready(list(urls.values()), up)
        script = ["set -e"]
        for i, (code, _, _) in enumerate(parsed):
            script += [f'echo "@@block {i}" >> "$CURL_LOG"', f'printf "\\n@@block {i}\\n"', code]
        run = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"

    outputs = re.split(r"\n@@block \d+\n", run.stdout)[1:]
    statuses = re.split(r"^@@block \d+\n", (tmp_path / "statuses.log").read_text(), flags=re.M)[1:]
    assert len(outputs) == len(statuses) == len(parsed)
    for i, ((_, expected, excerpt), printed, logged) in enumerate(
        zip(parsed, outputs, statuses, strict=True)
    ):
        seen = logged.split()
        assert all(not s.startswith("5") for s in seen), f"block {i + 1}: a server error {seen}"
        if expected is None:
            assert seen == [], f"block {i + 1} should make no request"
            continue
        assert seen and seen[-1] == expected, f"block {i + 1}: {seen} (expected {expected})\n{printed}"
        for line in (excerpt or "").splitlines():
            for piece in line.split("…"):
                assert piece.strip() in printed, f"block {i + 1}: {piece.strip()!r} not in\n{printed}"
