"""The three services, by name: how to build each one's settings, service parts and app."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.events.verify import StreamHeads
from shared.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    package: str
    produces_events: bool
    consumes_feeds: bool

    def settings(self, **overrides: Any) -> ServiceSettings:
        module = importlib.import_module(f"{self.package}.settings")
        settings: ServiceSettings = module.Settings(**overrides)
        return settings

    @property
    def app_factory(self) -> str:
        return f"{self.package}.main:create"

    def main(self) -> Any:
        return importlib.import_module(f"{self.package}.main")

    def stream_heads(self) -> StreamHeads | None:
        """What the producer's own records say each stream is at (its `main` passes the same to its
        service), for verify to find a journey whose log ends before it."""
        heads: StreamHeads | None = getattr(self.main(), "stream_heads", None)
        return heads


SERVICES: dict[str, ServiceEntry] = {
    "referrals": ServiceEntry("referrals", "services.referrals", produces_events=True, consumes_feeds=False),
    "supervision": ServiceEntry(
        "supervision", "services.supervision", produces_events=True, consumes_feeds=True
    ),
    "reporting": ServiceEntry("reporting", "services.reporting", produces_events=False, consumes_feeds=True),
}


def _database_of(url: str) -> tuple[str, ...] | None:
    """Where a URL's data lives (None: nowhere another service could share, or not parsable here)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() == "sqlite":
        name = parsed.database or ""
        if name in ("", ":memory:") or name.startswith("file:"):
            return None
        return ("sqlite", str(Path(name).resolve()))
    return (
        parsed.get_backend_name(),
        parsed.host or "localhost",
        str(parsed.port or ""),
        parsed.database or "",
    )


def shared_database(settings: Mapping[str, ServiceSettings]) -> str | None:
    """Why these services cannot run as configured, if two of them were given one database.

    Their tables share names (the journey log, idempotency keys, audit) and each keeps its own
    migration history, so sharing would mix their records; Alembic then fails half-way with an
    unknown revision.
    """
    seen: dict[tuple[str, ...], str] = {}
    for name, service in settings.items():
        where = _database_of(service.database_url)
        if where is None:
            continue
        if where in seen:
            return (
                f"{seen[where]} and {name} are set to the same database ({where[-1]}); "
                "give each service its own <SERVICE>_DATABASE_URL"
            )
        seen[where] = name
    return None
