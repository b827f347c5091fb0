"""The referrals service's own database schema."""

from shared.app import PlatformTables
from shared.db import make_base

Base = make_base("ReferralsBase")
metadata = Base.metadata
platform = PlatformTables.on(metadata, produces_events=True, consumes_feeds=False)
