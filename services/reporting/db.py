"""The reporting service's own database schema: projections only, never personal data."""

from typing import TYPE_CHECKING

from sqlmodel import SQLModel

from shared.app import PlatformTables
from shared.db import make_base

if TYPE_CHECKING:
    Base = SQLModel  # what make_base returns: lets mypy check the table classes
else:
    Base = make_base("ReportingBase")
metadata = Base.metadata
platform = PlatformTables.on(metadata, produces_events=False, consumes_feeds=True)

from services.reporting.projections import models as _projections_models  # noqa: E402,F401
