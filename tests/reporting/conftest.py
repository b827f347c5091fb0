"""Fixtures for the reporting tests; the scenario builders live in reporting_kit (a unique module name,
because every test folder's conftest is imported under the same name `conftest`)."""

from reporting_kit import world_factory

__all__ = ["world_factory"]
