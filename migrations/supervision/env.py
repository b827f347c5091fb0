"""Alembic environment of the supervision service's own database."""

from services.supervision.db import metadata
from shared.migrations import run_env

run_env(metadata)
