"""The three services, by name: how to build each one's settings, service parts and app."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

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


SERVICES: dict[str, ServiceEntry] = {
    "referrals": ServiceEntry("referrals", "services.referrals", produces_events=True, consumes_feeds=False),
    "supervision": ServiceEntry(
        "supervision", "services.supervision", produces_events=True, consumes_feeds=True
    ),
    "reporting": ServiceEntry("reporting", "services.reporting", produces_events=False, consumes_feeds=True),
}
