"""Settings of the supervision service (environment prefix SUPERVISION_)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.codes import ServiceType
from shared.policy import (
    SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS,
    SUPERVISION_INTERVAL_WORKING_DAYS,
    SUPERVISION_NEWLY_QUALIFIED_INTERVAL_WORKING_DAYS,
    SupervisionPolicy,
    closure_days,
    supervision_intervals,
)
from shared.settings import FutureToleranceSeconds, Port, ServiceSettings, UpstreamUrl
from shared.working_days import Counting

Interval = Annotated[int, Field(ge=1, le=260)]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", env_file=".env", extra="ignore")

    service_name: str = "supervision"
    port: Port = 8002
    referrals_url: UpstreamUrl = "http://127.0.0.1:8001"
    # Allowance for clock skew between a client's "now" and ours before a time counts as future (as
    # REFERRALS_FUTURE_TOLERANCE_SECONDS; 0 to 86,400: a day).
    future_tolerance_seconds: FutureToleranceSeconds = 120
    # Larger than other services': the largest supervision the field limits allow (two 20,000-character
    # texts, 50 actions of 2,000) is about 1.7 MB when sent \u-escaped (Python's json and requests
    # escape non-ASCII by default; a character outside the BMP, e.g. an emoji, is one character to the
    # limits but a 12-byte surrogate pair of escapes). 256 KiB refused valid records with 413.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1)

    # Supervision policy. How often each journey must be supervised, in working days, by the current
    # team's service type; e.g. SUPERVISION_FREQUENCY_WORKING_DAYS='{"front_door": 15}' (JSON). The
    # map changes only the service types it names: the others keep shared/policy.py's intervals
    # (front_door and assessment 20), so that example leaves assessment at 20. Set
    # REPORTING_SUPERVISION_INTERVAL_WORKING_DAYS alike: reporting reads it the same way.
    frequency_working_days: dict[ServiceType, Interval] = Field(
        default_factory=lambda: dict(SUPERVISION_INTERVAL_WORKING_DAYS)
    )
    # Service types not in the mapping, and journeys not yet allocated to a service type.
    default_frequency_working_days: Interval = SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS
    # Workers on the newly-qualified register (PUT /workers/{id}) are supervised at this interval when
    # it is shorter than their team's.
    newly_qualified_frequency_working_days: Interval = SUPERVISION_NEWLY_QUALIFIED_INTERVAL_WORKING_DAYS
    # The policy's working days. Supervision is a local measure, so council closure days are not
    # working days (REFERENCE.md 4.1). Set both as REPORTING_COUNTING and REPORTING_LOCAL_CLOSURE_DAYS
    # are, so the due dates here and in the supervision report agree.
    counting: Counting = Field(
        Counting.DAY_AFTER_IS_DAY_1,
        description="day_0: n working days after the start date; day_1: the start date is day 1.",
    )
    local_closure_days: list[date] = Field(
        default_factory=list, description="Council closure days, not counted as working days."
    )

    @field_validator("frequency_working_days")
    @classmethod
    def _over_the_policy_defaults(cls, configured: dict[ServiceType, int]) -> dict[ServiceType, int]:
        return {ServiceType(code): days for code, days in supervision_intervals(configured).items()}

    @model_validator(mode="after")
    def _intervals_fit_counting(self) -> Self:
        # With day_1 the day held is day 1, so an interval of 1 makes the default next due date the day
        # held, which recording refuses (it must be after that day): every supervision without
        # next_due_on would fail. Refused at start-up, as reporting refuses day_1 with a decision
        # timescale of 0; with day_0, 1 already means the next working day.
        if self.counting is not Counting.START_IS_DAY_1:
            return self
        too_short = [
            name
            for name, days in (
                ("FREQUENCY_WORKING_DAYS", min(self.frequency_working_days.values(), default=2)),
                ("DEFAULT_FREQUENCY_WORKING_DAYS", self.default_frequency_working_days),
                ("NEWLY_QUALIFIED_FREQUENCY_WORKING_DAYS", self.newly_qualified_frequency_working_days),
            )
            if days < 2
        ]
        if too_short:
            raise ValueError(
                "with day_1 counting a supervision interval of 1 working day makes the next due date the"
                " day held: set " + ", ".join(f"SUPERVISION_{n}" for n in too_short) + " to at least 2"
            )
        return self

    def policy(self) -> SupervisionPolicy:
        """The values reporting must apply alike, as `GET /policy` serves them."""
        return SupervisionPolicy(
            interval_working_days={ServiceType(k).value: v for k, v in self.frequency_working_days.items()},
            default_interval_working_days=self.default_frequency_working_days,
            newly_qualified_interval_working_days=self.newly_qualified_frequency_working_days,
            counting=self.counting,
            local_closure_days=closure_days(self.local_closure_days),
        )
