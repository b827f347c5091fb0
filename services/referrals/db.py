"""The referrals service's own database schema."""

from shared.app import PlatformTables
from shared.db import make_base

Base = make_base("ReferralsBase")
metadata = Base.metadata
platform = PlatformTables.on(metadata, produces_events=True, consumes_feeds=False)

# Every feature's tables, so `metadata` is complete for Alembic, test wipes and the schema check.
from services.referrals.children import models as _children_models  # noqa: E402,F401
from services.referrals.contacts import models as _contacts_models  # noqa: E402,F401
from services.referrals.decisions import models as _decisions_models  # noqa: E402,F401
from services.referrals.journeys import models as _journeys_models  # noqa: E402,F401
from services.referrals.teams import models as _teams_models  # noqa: E402,F401
