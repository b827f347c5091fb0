"""The supervision service's own database schema."""

from typing import TYPE_CHECKING

from shared.app import PlatformTables
from shared.db import make_base

if TYPE_CHECKING:  # mypy cannot see through make_base(); the runtime base has its own metadata
    from sqlmodel import SQLModel as Base
else:
    Base = make_base("SupervisionBase")
metadata = Base.metadata
platform = PlatformTables.on(metadata, produces_events=True, consumes_feeds=True)

# Every feature's tables, so `metadata` is complete for Alembic, test wipes and the models check.
from services.supervision.journeys import models as _journeys_models  # noqa: E402,F401
from services.supervision.supervisions import models as _supervisions_models  # noqa: E402,F401
from services.supervision.workers import models as _workers_models  # noqa: E402,F401
