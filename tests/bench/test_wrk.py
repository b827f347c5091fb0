"""The intake benchmarks' load creates a contact with every request: no wrk run sends a key (or an
id) that an earlier run of the same script sent, and a run whose requests did not all create is
refused. Before this, each run started its keys again, so the measured rounds after a warm-up were
idempotent replays."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bench import common
from bench.intake import check_all_created

_WRK_OUTPUT = (
    'WRKJSON {"requests": 10, "duration_us": 1000000, "p50_us": 1000, "p90_us": 2000, "p99_us": 3000, '
    '"max_us": 4000, "mean_us": 1500.0, "err_connect": 0, "err_read": 0, "err_write": 0, '
    '"err_status": 0, "err_timeout": 0}\n'
)


def test_each_run_gets_its_own_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, _WRK_OUTPUT, "")

    monkeypatch.setattr(common.subprocess, "run", fake_run)
    script = common.wrk_script("/contacts", {"id": "__UUID1__"}, {"Authorization": "Bearer x"})
    try:
        for _ in range(2):
            assert common.run_wrk("http://127.0.0.1:1", script, connections=2, seconds=1)["requests"] == 10
        text = script.read_text()
    finally:
        script.unlink()
    salts = [cmd[cmd.index("--") + 1] for cmd in commands]
    assert all(re.fullmatch(r"[0-9a-f]{8}", salt) for salt in salts)
    assert salts[0] != salts[1]
    # The script takes its salt from the command line and has none of its own.
    assert "salt = args[1]" in text
    assert not re.search(r'salt = "[0-9a-f]{8}"', text)


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A local HTTP server answering 201 and keeping each request's Idempotency-Key and body."""
    seen: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            seen.append((self.headers["Idempotency-Key"], body))
            self.send_response(201)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is a benchmark tool, not installed here")
def test_two_runs_of_one_script_send_no_key_or_id_twice(recorder: tuple[str, list[tuple[str, str]]]) -> None:
    url, seen = recorder
    script = common.wrk_script("/contacts", {"id": "__UUID1__"}, {"Content-Type": "application/json"})
    try:
        counted = [common.run_wrk(url, script, connections=2, seconds=1)["requests"] for _ in range(2)]
    finally:
        script.unlink()
    assert all(counted)
    keys = [key for key, _ in seen]
    ids = [json.loads(body)["id"] for _, body in seen]
    assert len(keys) >= sum(counted)
    assert len(set(keys)) == len(keys)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8000-[0-9a-f]{12}", i) for i in ids)


def test_a_run_that_replayed_or_lost_requests_is_refused() -> None:
    check_all_created(written=1000, answered=1000, runs=2, connections=32)
    check_all_created(written=1064, answered=1000, runs=2, connections=32)  # in flight at the end
    with pytest.raises(RuntimeError, match="replayed or lost"):
        check_all_created(written=600, answered=1000, runs=2, connections=32)
    with pytest.raises(RuntimeError, match="replayed or lost"):
        check_all_created(written=1065, answered=1000, runs=2, connections=32)
