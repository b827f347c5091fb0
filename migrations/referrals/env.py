"""Alembic environment of the referrals service's own database."""

from services.referrals.db import metadata
from shared.migrations import run_env

run_env(metadata)
