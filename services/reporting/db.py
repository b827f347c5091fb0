"""The reporting service's own database schema: projections only, never personal data."""

from shared.app import PlatformTables
from shared.db import make_base

Base = make_base("ReportingBase")
metadata = Base.metadata
platform = PlatformTables.on(metadata, produces_events=False, consumes_feeds=True)
