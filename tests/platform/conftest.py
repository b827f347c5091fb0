"""Fixtures of the platform tests: the test-only producer app (see tests/platform_kit.py) and
databases migrated by the `frontdoor migrate` command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from platform_kit import consumer_tables, kit_tables, producer
from typer.testing import CliRunner

from frontdoor import cli
from frontdoor.registry import SERVICES

__all__ = ["cli_migrated", "consumer_tables", "kit_tables", "producer"]


@pytest.fixture(scope="session")
def cli_migrated(fresh_database: Callable[..., str]) -> dict[str, Any]:
    """`frontdoor migrate`, run twice, with each <SERVICE>_DATABASE_URL naming a database that does
    not exist yet (the command creates it). Shared by the CLI and the migration tests."""
    urls = {name: fresh_database(f"cli_{name}", create=False) for name in SERVICES}
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ENVIRONMENT", raising=False)
        for name, url in urls.items():
            mp.setenv(f"{name.upper()}_DATABASE_URL", url)
        first = runner.invoke(cli.app, ["migrate"])
        second = runner.invoke(cli.app, ["migrate"])
    return {"urls": urls, "first": first, "second": second}
