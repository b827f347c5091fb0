"""Fixtures for running the real `frontdoor` command as a subprocess against throwaway databases."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ops_helpers import BACKEND, PG_SERVER, PREFIXES, REPO, Running, _pg

from frontdoor.registry import SERVICES


@pytest.fixture
def fresh_db_urls(db_urls: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """Database URLs nobody has created or migrated yet (`frontdoor up` must do it).

    Depends on db_urls only for its backend check (PostgreSQL unreachable: skip locally, fail in CI).
    """
    if BACKEND == "postgres":
        names = {name: f"fd_ops_{uuid.uuid4().hex[:8]}_{name}" for name in SERVICES}
        yield {name: f"{PG_SERVER}/{db}" for name, db in names.items()}

        async def drop() -> None:
            for db in names.values():
                await _pg(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

        asyncio.run(drop())
    else:
        yield {name: f"sqlite+aiosqlite:///{tmp_path / 'db' / name}.db" for name in SERVICES}


@pytest.fixture
def run_env(fresh_db_urls: dict[str, str]) -> dict[str, str]:
    """A clean environment: only our database URLs, development mode, this worktree's code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env["PYTHONPATH"] = str(REPO)
    env["ENVIRONMENT"] = "development"
    for name, url in fresh_db_urls.items():
        env[f"{name.upper()}_DATABASE_URL"] = url
    return env


@pytest.fixture
def frontdoor(run_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """frontdoor("up", "--referrals-port", ..., unset=("X",)) -> the running command (cwd tmp_path),
    with env var X removed; killed at teardown if still running."""
    started: list[Running] = []

    def start(*args: str, unset: tuple[str, ...] = ()) -> Running:
        env = {k: v for k, v in run_env.items() if k not in unset}
        running = Running(list(args), env, tmp_path)
        started.append(running)
        return running

    yield start
    for running in started:
        running.kill()
