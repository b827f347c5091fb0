"""re-referrals by London date; figures rounded halves up

A re-referral is now a referral with another of the child's referrals on or after the same London
date a year earlier, at any time of day (as the CIN census, which holds referral dates only, counts
it), not at or after the same instant. The flags kept on rpt_contacts and the counts kept per day
(rpt_contact_days) were computed under the old rule.

The reports' figures are also now rounded halves up (services/reporting/rounding.py), not as
Python's round() rounds (ties to even on the binary value), and so are the values the projection
keeps for them: unallocated days in hundredths (rpt_journey_month_values and _bands: a spell of 3
or 15 hours, 0.125 or 0.625 of a day, was kept as the hundredth below, as was 0.015 of a day,
stored just below its half) and the tenths of an hour the contact-to-outcome durations are counted
in (the rpt_contact_duration_* tables, where the two rules seldom differ).

Only the contacts' and journeys' own values can give the new ones, so, as in b3f8d2e6a4c1, the
projections are emptied and their feed positions set to 0: the consumers replay both feeds on
start-up, as `frontdoor rebuild -s reporting` would. No schema changes.

Revision ID: ed88f9f9216a
Revises: b3f8d2e6a4c1
Create Date: 2026-12-06 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ed88f9f9216a"
down_revision: str | None = "b3f8d2e6a4c1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Listed here rather than imported (as in f3e61638657c): a migration must not change when later code does.
PROJECTION_TABLES = (
    "rpt_contacts",
    "rpt_decisions",
    "rpt_journeys",
    "rpt_allocations",
    "rpt_supervisions",
    "rpt_contact_days",
    "rpt_contact_duration_months",
    "rpt_contact_duration_bands",
    "rpt_contact_duration_days",
    "rpt_contact_duration_day_bands",
    "rpt_contact_duration_weeks",
    "rpt_contact_duration_week_bands",
    "rpt_contact_duration_key_months",
    "rpt_contact_duration_key_bands",
    "rpt_contact_duration_key_days",
    "rpt_contact_duration_key_day_bands",
    "rpt_journey_months",
    "rpt_journey_month_values",
    "rpt_journey_month_bands",
    "rpt_journey_month_reasons",
    "rpt_journey_live_days",
    "rpt_supervision_days",
    "rpt_supervision_overdue",
    "rpt_timeline",
    "rpt_feed_state",
)


def upgrade() -> None:
    for table in PROJECTION_TABLES:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.execute(
        sa.text("UPDATE consumer_positions SET position = 0 WHERE feed IN ('referrals', 'supervision')")
    )


def downgrade() -> None:
    pass  # the schema is unchanged; the older code's counts come back with `frontdoor rebuild -s reporting`
