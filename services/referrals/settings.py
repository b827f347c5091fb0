"""Settings of the referrals service (environment prefix REFERRALS_)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.negotiation import formula_start
from shared.policy import ReferralsPolicy
from shared.settings import FutureToleranceSeconds, Port, ServiceSettings
from shared.types import beyond_clock_skew, utcnow
from shared.working_days import Counting, WorkingCalendar, calendar_for


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRALS_", env_file=".env", extra="ignore")

    service_name: str = "referrals"
    port: Port = 8001

    # A contact entered more than this long after it was received is backdated and needs a reason.
    # At most a hundred years: every intake makes a timedelta of it, which cannot hold inf or 1e300.
    backdating_threshold_hours: float = Field(default=2.0, ge=0, le=24 * 365 * 100)
    # Allowance for clock skew between a client's "now" and ours before a time counts as future
    # (0 to 86,400: a day).
    future_tolerance_seconds: FutureToleranceSeconds = 120
    # The local threshold-of-need continuum (levels a threshold decision may name).
    threshold_levels: list[int] = Field(default_factory=lambda: [1, 2, 3, 4], min_length=1)
    # The areas teams belong to (reports group by them, and CSV exports carry them).
    areas: list[str] = Field(default_factory=lambda: ["West", "Central", "East"], min_length=1)
    # T1: a contact needs its threshold decision within this many working days of receipt (0 with day_0
    # counting: on the day the clock starts). Set it as REPORTING_DECISION_WITHIN_WORKING_DAYS is.
    # At most 260, as reporting's: a due time past the calendar's last year cannot be counted.
    decision_deadline_working_days: int = Field(default=1, ge=0, le=260)
    # How "n working days" is counted from the clock start (REFERENCE.md 4.1: a setting, default
    # "n working days after the start date"); set it as REPORTING_COUNTING is, so the work list's
    # due time and the reports agree.
    counting: Counting = Field(
        Counting.DAY_AFTER_IS_DAY_1,
        description="day_0: n working days after the start date; day_1: the start date is day 1.",
    )
    # The office day (London wall-clock times) the T1 due time closes with and the work list's age in
    # working hours counts: set them as REPORTING_OFFICE_START/END are, or a decision the reports count
    # late could not be given its late_reason here (and one they count on time would be asked for one).
    office_start: time = Field(time(9), description="Office opening, London time.")
    office_end: time = Field(time(17), description="Office close, London time: the T1 due time.")
    # The work list's "due soon" queue: contacts not yet past their T1 due time that are due within this
    # many calendar hours of now. Above 0 (a window of nothing is no queue) and at most a leap year of
    # hours, about as far off as the longest T1 timescale (260 working days) reaches.
    due_soon_hours: float = Field(
        default=4.0,
        gt=0,
        le=24 * 366,
        description="Calendar hours ahead within which the work list counts a T1 due time as due soon.",
    )

    @field_validator("areas")
    @classmethod
    def _areas_are_not_formulas(cls, areas: list[str]) -> list[str]:
        # As a team's name is checked at registration: an area is registered here, once.
        for area in areas:
            if formula_start(area):
                raise ValueError(
                    f"area {area!r} begins with =, +, - or @, or a look-alike of one (a spreadsheet formula)"
                )
        return areas

    @model_validator(mode="after")
    def _calendar_settings_fit(self) -> Self:
        if self.counting is Counting.START_IS_DAY_1 and self.decision_deadline_working_days < 1:
            raise ValueError("with day_1 counting the decision deadline must be at least 1 working day")
        # The calendar refuses office hours that are no day (start not before end, or times with a
        # zone): here, so that it is a setting to fix, not a failure at the first request.
        self.calendar()
        return self

    def in_future(self, at: datetime, now: datetime | None = None) -> bool:
        """`at`, a time a client gave, is in the future beyond `future_tolerance_seconds` of `now`
        (default: the current time)."""
        tolerance = timedelta(seconds=self.future_tolerance_seconds)
        return beyond_clock_skew(at, utcnow() if now is None else now, tolerance)

    def backdated(self, at: datetime, now: datetime | None = None) -> bool:
        """`at`, when a contact was received or a decision made, is more than the backdating
        threshold before `now` (default: the current time), when the record is entered."""
        return (utcnow() if now is None else now) - at > timedelta(hours=self.backdating_threshold_hours)

    def calendar(self) -> WorkingCalendar:
        """The statutory calendar (bank holidays only) under the configured counting convention and office
        hours."""
        return calendar_for(self.counting, office_start=self.office_start, office_end=self.office_end)

    def policy(self) -> ReferralsPolicy:
        """The values reporting must apply alike, as `GET /policy` serves them."""
        return ReferralsPolicy(
            decision_deadline_working_days=self.decision_deadline_working_days,
            counting=self.counting,
            office_start=self.office_start,
            office_end=self.office_end,
            backdating_threshold_hours=self.backdating_threshold_hours,
        )

    def decision_due_at(self, received_at: datetime) -> datetime:
        """T1: office close on the working day a contact received then needs its threshold decision
        by. The work list shows it; a first decision after it must say why (`late_reason`)."""
        return self.calendar().deadline(received_at, self.decision_deadline_working_days)

    def decision_due_cutoff(self, at: datetime) -> datetime:
        """The earliest receipt whose T1 due time (`decision_due_at`) is at or after `at`: a contact
        received before it is due before `at`, one received at or after it is not. The due time is
        not stored; this turns a condition on it into one on `received_at`, which SQL can apply."""
        return self.calendar().receipt_cutoff(at, self.decision_deadline_working_days)

    def due_soon_until(self, now: datetime) -> datetime:
        """The latest T1 due time that counts as due soon at `now`."""
        return now + timedelta(hours=self.due_soon_hours)
