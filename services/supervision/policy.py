"""The supervision policy: how often each child's journey is supervised, in working days.

No national standard sets this, so it is configuration (see Settings). The clock for a journey never
supervised runs from the journey's start (the earliest of its contacts): a handover does not restart it, so
transfers cannot push a child's first supervision back. After a supervision it runs from that
supervision's `next_due_on`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from services.supervision.settings import Settings
from shared.codes import ServiceType
from shared.policy import supervision_interval
from shared.types import beyond_clock_skew, utcnow
from shared.working_days import STATUTORY, Counting, WorkingCalendar, calendar_for, london_date


@dataclass(frozen=True)
class Policy:
    by_service_type: dict[str, int]
    default: int
    newly_qualified: int
    calendar: WorkingCalendar = field(default=STATUTORY)
    future_tolerance: timedelta = field(default=timedelta(0))

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            by_service_type={ServiceType(k).value: v for k, v in settings.frequency_working_days.items()},
            default=settings.default_frequency_working_days,
            newly_qualified=settings.newly_qualified_frequency_working_days,
            calendar=calendar_for(settings.counting, settings.local_closure_days),
            future_tolerance=timedelta(seconds=settings.future_tolerance_seconds),
        )

    def interval(self, service_type: str | None, newly_qualified: bool) -> int:
        """Working days between supervisions for a journey of this service type and worker."""
        return supervision_interval(
            self.by_service_type, self.default, self.newly_qualified, service_type, newly_qualified
        )

    def due_after(self, start: date, interval: int) -> date:
        return self.calendar.add_working_days(start, interval)

    def interval_between(self, start: date, due: date) -> int:
        """The interval n for which `due_after(start, n) == due` (the inverse, for due >= start)."""
        n = self.calendar.count_working_days(start, due)
        # day_1 counts a working start day as day 1, so n working days after it is interval n + 1.
        return (
            n + 1
            if self.calendar.counting is Counting.START_IS_DAY_1 and self.calendar.is_working_day(start)
            else n
        )

    @staticmethod
    def today() -> date:
        return london_date(utcnow())

    def in_future(self, at: datetime, now: datetime) -> bool:
        """A time a client gave is in the future only beyond the clock skew allowed."""
        return beyond_clock_skew(at, now, self.future_tolerance)
