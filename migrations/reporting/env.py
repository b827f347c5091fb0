"""Alembic environment of the reporting service's own database."""

from services.reporting.db import metadata
from shared.migrations import run_env

run_env(metadata)
