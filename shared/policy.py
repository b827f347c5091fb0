"""Local policies that more than one service applies, defined once so their figures agree.

The supervision service decides when each child's supervision is due; the reporting service measures
whether it happened in time. Both read these defaults (each can still be configured per service).
"""

from __future__ import annotations

from types import MappingProxyType

from shared.codes import ServiceType

# Working days between supervisions, by the current team's service type.
SUPERVISION_INTERVAL_WORKING_DAYS = MappingProxyType({ServiceType.front_door: 20, ServiceType.assessment: 20})
# Other service types, and journeys not yet allocated to a team.
SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS = 30
