"""Reliability drills: services as real subprocesses (uvicorn, one worker each) on this run's test
databases, killed and restarted on purpose. Helpers live in drillkit.py.

Long drills are marked `slow` and skipped unless asked for (`-m slow`, or FRONTDOOR_SLOW_DRILLS=1);
every drill has a short version that runs by default (and so in CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from drillkit import ServerFactory

from bench.common import ENV_PREFIX, Server, free_port

SLOW_ENV = "FRONTDOOR_SLOW_DRILLS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip drills marked slow unless the marker expression or the environment asks for them."""
    if os.environ.get(SLOW_ENV) == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason=f"slow drill: run with -m slow or {SLOW_ENV}=1")
    for item in items:
        if "slow" in item.keywords and "drills" in str(item.path):
            item.add_marker(skip)


@pytest.fixture
def servers(db_urls: dict[str, str], clean_db: None) -> Iterator[ServerFactory]:
    """servers("reporting", REPORTING_REFERRALS_URL=...) -> a started uvicorn subprocess on a free port.

    Every server started here is stopped (SIGTERM, then SIGKILL) when the test ends.
    """
    started: list[Server] = []

    def start(name: str, port: int | None = None, **env: str) -> Server:
        prefix = ENV_PREFIX[name]
        port = port or free_port()
        values = {
            f"{prefix}DATABASE_URL": db_urls[name],
            f"{prefix}RATE_LIMIT_PER_MINUTE": "0",
            "ENVIRONMENT": "test",
            "OTEL_SDK_DISABLED": "true",
            **env,
        }
        server = Server(name, f"services.{name}.main:create", port, values)
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()
