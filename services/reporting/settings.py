"""Settings of the reporting service (environment prefix REPORTING_)."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Self

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.codes import ServiceType
from shared.policy import (
    SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS,
    SUPERVISION_NEWLY_QUALIFIED_INTERVAL_WORKING_DAYS,
    ReferralsPolicy,
    SupervisionPolicy,
    closure_days,
    supervision_interval,
    supervision_intervals,
)
from shared.settings import Port, ServiceSettings, UpstreamUrl
from shared.working_days import Counting, WorkingCalendar

# As the supervision service bounds its policy: reports count due dates as working days after a
# start day (projections/day_index.py), which needs at least one.
Interval = Annotated[int, Field(ge=1, le=260)]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", env_file=".env", extra="ignore")

    service_name: str = "reporting"
    port: Port = 8003
    referrals_url: UpstreamUrl = "http://127.0.0.1:8001"
    supervision_url: UpstreamUrl = "http://127.0.0.1:8002"

    # Durations are computed when an event is projected: after changing any of the calendar
    # settings below, run `frontdoor rebuild -s reporting` so every figure uses the new calendar.
    counting: Counting = Field(
        Counting.DAY_AFTER_IS_DAY_1,
        description="day_0: n working days after the start date; day_1: the start date is day 1.",
    )
    office_start: time = time(9)
    office_end: time = time(17)
    local_closure_days: list[date] = Field(
        default_factory=list,
        description="Council closure days: used for local measures (supervision, unallocated days) only.",
    )
    # Bounded as the supervision intervals are: a deadline past the calendar's last year would fail
    # every batch of the referrals feed that holds a contact.
    decision_within_working_days: int = Field(
        1, ge=0, le=260, description="The statutory decision timescale (Working Together: 1 working day)."
    )
    # At most a hundred years (876,000 hours): every contact's projection makes a timedelta of it, which
    # cannot hold infinity or 1e300, so such a value failed every batch holding a contact.
    backdate_threshold_hours: float = Field(
        2.0,  # as referrals' BACKDATING_THRESHOLD_HOURS: the contacts that had to say why they were late
        ge=0,
        le=24 * 365 * 100,
        description="A contact recorded more than this long after it was received counts as backdated.",
    )
    supervision_interval_working_days: dict[str, Interval] = Field(
        default_factory=lambda: supervision_intervals({}),
        description="Local supervision policy interval per service type (the supervision service's policy):"
        " a configured map changes only the service types it names, over shared/policy.py's defaults, as"
        " SUPERVISION_FREQUENCY_WORKING_DAYS does.",
    )
    supervision_default_interval_working_days: Interval = SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS
    supervision_newly_qualified_interval_working_days: Interval = Field(
        SUPERVISION_NEWLY_QUALIFIED_INTERVAL_WORKING_DAYS,
        description="For journeys never supervised whose worker was newly qualified on the day they "
        "started (the supervision service's register, learnt from its feed), when shorter.",
    )
    report_work_mem_mb: int = Field(
        64,
        ge=1,
        le=4096,
        description="PostgreSQL work_mem (MiB) of a report's transaction: percentiles and groupings "
        "sort every row in range, in memory when it fits rather than in temporary files.",
    )

    @field_validator("supervision_interval_working_days")
    @classmethod
    def _over_the_policy_defaults(cls, configured: dict[str, int]) -> dict[str, int]:
        # Keyed as the supervision service's policy is: a misspelt type was kept as a key no journey
        # matched, so its journeys took the default interval here and the one meant there.
        if unknown := sorted(set(configured) - set(ServiceType)):
            raise ValueError(
                f"{', '.join(unknown)} is no service type; use " + ", ".join(t.value for t in ServiceType)
            )
        return supervision_intervals(configured)

    @model_validator(mode="after")
    def _timescale_fits_counting(self) -> Self:
        if self.counting is Counting.START_IS_DAY_1 and self.decision_within_working_days < 1:
            raise ValueError("with day_1 counting the decision timescale must be at least 1 working day")
        if self.counting is Counting.START_IS_DAY_1:
            # As the supervision service refuses them: an interval of 1 makes a journey due on the day
            # it was supervised (or opened), so it would be counted overdue the next day.
            too_short = [
                name
                for name, days in (
                    (
                        "SUPERVISION_INTERVAL_WORKING_DAYS",
                        min(self.supervision_interval_working_days.values()),
                    ),
                    (
                        "SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS",
                        self.supervision_default_interval_working_days,
                    ),
                    (
                        "SUPERVISION_NEWLY_QUALIFIED_INTERVAL_WORKING_DAYS",
                        self.supervision_newly_qualified_interval_working_days,
                    ),
                )
                if days < 2
            ]
            if too_short:
                raise ValueError(
                    "with day_1 counting a supervision interval of 1 working day makes a journey due on the"
                    " day it starts: set " + ", ".join(f"REPORTING_{n}" for n in too_short) + " to at least 2"
                )
        # The calendar refuses office hours that are no day (start not before end, or times with a
        # zone): here, so that it is a setting to fix, not a failure when the service is built.
        self.calendar()
        return self

    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(
            extra_closures=self.local_closure_days,
            counting=self.counting,
            office_start=self.office_start,
            office_end=self.office_end,
        )

    def referrals_policy(self) -> ReferralsPolicy:
        """The referrals service's policy as these settings apply it: compared with the one it serves."""
        return ReferralsPolicy(
            decision_deadline_working_days=self.decision_within_working_days,
            counting=self.counting,
            office_start=self.office_start,
            office_end=self.office_end,
            backdating_threshold_hours=self.backdate_threshold_hours,
        )

    def supervision_policy(self) -> SupervisionPolicy:
        """The supervision service's policy as these settings apply it: compared with the one it serves."""
        return SupervisionPolicy(
            interval_working_days=dict(self.supervision_interval_working_days),
            default_interval_working_days=self.supervision_default_interval_working_days,
            newly_qualified_interval_working_days=self.supervision_newly_qualified_interval_working_days,
            counting=self.counting,
            local_closure_days=closure_days(self.local_closure_days),
        )

    def upstream_policies(self) -> dict[str, BaseModel]:
        return {"referrals": self.referrals_policy(), "supervision": self.supervision_policy()}

    def supervision_interval(self, service_type: str | None, newly_qualified: bool = False) -> int:
        # The supervision service's rule (shared/policy.py): an unallocated journey takes the default.
        return supervision_interval(
            self.supervision_interval_working_days,
            self.supervision_default_interval_working_days,
            self.supervision_newly_qualified_interval_working_days,
            service_type,
            newly_qualified,
        )
