"""Local policies that more than one service applies, defined once so their figures agree.

The supervision service decides when each child's supervision is due; the reporting service measures
whether it happened in time. Both read these defaults (each can still be configured per service).

Each service is configured on its own, so the settings both sides must share are also published: a
producer serves the policy it applies (`GET /policy`, as `ReferralsPolicy` or `SupervisionPolicy`), and
reporting compares it with its own (`policy_differences`), so a disagreement shows in its readiness
rather than only as a work list and reports that count differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, Field, JsonValue, WithJsonSchema

from shared.codes import ServiceType
from shared.working_days import Counting

# Working days between supervisions, by the current team's service type.
SUPERVISION_INTERVAL_WORKING_DAYS = MappingProxyType({ServiceType.front_door: 20, ServiceType.assessment: 20})
# Other service types, and journeys not yet allocated to a team.
SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS = 30
# Workers on the supervision service's newly-qualified register, when shorter than the above.
SUPERVISION_NEWLY_QUALIFIED_INTERVAL_WORKING_DAYS = 10


def newly_qualified_on(until: date | None, day: date) -> bool:
    """Whether a register entry lasting until `until` (its last day; None: not on the register, or
    ended) covers `day`."""
    return until is not None and until >= day


def supervision_interval(
    by_service_type: Mapping[str, int],
    default: int,
    newly_qualified_interval: int,
    service_type: str | None,
    newly_qualified: bool,
) -> int:
    """Working days between supervisions of a journey of this service type (None: unallocated, the
    default) whose worker is or is not newly qualified on the day its clock starts: the supervision
    service's due dates and the reporting service's measure of them both come from here."""
    days = by_service_type.get(service_type or "", default)
    return min(days, newly_qualified_interval) if newly_qualified else days


def supervision_intervals(configured: Mapping[str, int] | Mapping[ServiceType, int]) -> dict[str, int]:
    """The intervals by service type a service applies when configured with `configured`: the defaults
    above, with the configured value in place for each service type it names (and any it adds). A
    configured map changes only the service types it names: `{"front_door": 15}` leaves assessment at
    its 20 rather than moving it to the default for other types. Both services' settings use this, so
    they read one configuration the same way."""
    return {
        **{service_type.value: days for service_type, days in SUPERVISION_INTERVAL_WORKING_DAYS.items()},
        **{str(service_type): days for service_type, days in configured.items()},
    }


# -- the policies producers publish and reporting compares ------------------------------------------

# A London wall-clock time of day, sent as HH:MM:SS: not JSON Schema's `time` format, which is
# RFC 3339's full-time and needs a UTC offset that a wall-clock time (GMT or BST by date) has not.
WallClockTime = Annotated[
    time,
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$", "example": "09:00:00"}),
]


class ReferralsPolicy(BaseModel):
    """What the referrals service applies to threshold decisions and contacts, and reporting must
    apply alike: the T1 due time on the work list (and when a decision needs a `late_reason`), and
    which contacts are backdated."""

    decision_deadline_working_days: int = Field(
        description="T1: working days from a contact's receipt to its threshold decision's deadline "
        "(REFERRALS_DECISION_DEADLINE_WORKING_DAYS; reporting's DECISION_WITHIN_WORKING_DAYS)."
    )
    counting: Counting = Field(
        description="day_0: n working days after the start date; day_1: the start date is day 1."
    )
    office_start: WallClockTime = Field(description="Office opening, London time: the clock's start.")
    office_end: WallClockTime = Field(description="Office close, London time: the T1 due time.")
    backdating_threshold_hours: float = Field(
        description="A contact recorded more than this long after it was received is backdated "
        "(REFERRALS_BACKDATING_THRESHOLD_HOURS; reporting's BACKDATE_THRESHOLD_HOURS)."
    )


class SupervisionPolicy(BaseModel):
    """What the supervision service applies to supervisions' due dates, and reporting must apply
    alike to measure them."""

    interval_working_days: dict[str, int] = Field(
        description="Working days between supervisions, by the current team's service type (the "
        "configured map over the defaults)."
    )
    default_interval_working_days: int = Field(
        description="For other service types, and journeys not yet allocated to a team."
    )
    newly_qualified_interval_working_days: int = Field(
        description="For a worker on the newly-qualified register, when shorter than the above."
    )
    counting: Counting = Field(
        description="day_0: n working days after the start date; day_1: the start date is day 1."
    )
    local_closure_days: list[date] = Field(
        description="Council closure days, not counted as working days (sorted, each once)."
    )


def closure_days(days: list[date]) -> list[date]:
    """Closure days as a policy lists them: the order and repeats of a setting change nothing."""
    return sorted(set(days))


class PolicyDifference(BaseModel):
    """One value a producer and this service apply differently."""

    setting: str = Field(
        description="The policy's name for it (`GET /policy` on the producer); a map's entry as "
        "`name.key`, e.g. `interval_working_days.front_door`."
    )
    producer: JsonValue = Field(description="The producer's value (null: it has none for this key).")
    consumer: JsonValue = Field(description="This service's value (null: it has none for this key).")


PolicyState = Literal["agrees", "disagrees", "unknown"]


class PolicyStatus(BaseModel):
    """How a producer's published policy compares with the one this service applies to its feed."""

    status: PolicyState = Field(
        "unknown",
        description="agrees; disagrees (see `differences`); unknown: not fetched yet, or the producer's "
        "policy could not be read (see `last_error`).",
    )
    differences: list[PolicyDifference] = Field(
        default_factory=list,
        description="Each value the two apply differently, as last compared (at `checked_at`); while "
        "unknown, those the last comparison found, if any.",
    )
    checked_at: datetime | None = Field(None, description="When the policy was last read and compared.")
    last_error: str | None = Field(None, description="Why the policy could not be read, when unknown.")


def policy_differences(producer: BaseModel, consumer: BaseModel) -> list[PolicyDifference]:
    """The values two policies of one kind hold differently, by field (and key, for a map), in the
    model's field order and the keys' order."""
    theirs, ours = producer.model_dump(mode="json"), consumer.model_dump(mode="json")
    differences: list[PolicyDifference] = []
    for name in type(consumer).model_fields:
        a, b = theirs.get(name), ours.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    differences.append(
                        PolicyDifference(setting=f"{name}.{key}", producer=a.get(key), consumer=b.get(key))
                    )
        elif a != b:
            differences.append(PolicyDifference(setting=name, producer=a, consumer=b))
    return differences


def describe_differences(differences: list[PolicyDifference], producer: str, consumer: str) -> str:
    """One line for a log or a console: each setting with both sides' values (settings only, never
    anything about a child)."""
    return "; ".join(
        f"{d.setting} is {d.producer!r} {producer}, {d.consumer!r} {consumer}" for d in differences
    )
