"""Local policies that more than one service applies, defined once so their figures agree.

The supervision service decides when each child's supervision is due; the reporting service measures
whether it happened in time. Both read these defaults (each can still be configured per service).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

from shared.codes import ServiceType

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
