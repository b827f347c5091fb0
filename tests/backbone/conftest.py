"""Fixtures of the event backbone tests: the test-only producer app (see tests/platform_kit.py)."""

from platform_kit import consumer_tables, kit_tables, producer

__all__ = ["consumer_tables", "kit_tables", "producer"]
