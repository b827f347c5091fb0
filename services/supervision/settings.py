"""Settings of the supervision service (environment prefix SUPERVISION_)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.codes import ServiceType
from shared.policy import SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS, SUPERVISION_INTERVAL_WORKING_DAYS
from shared.settings import ServiceSettings

Interval = Annotated[int, Field(ge=1, le=260)]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", env_file=".env", extra="ignore")

    service_name: str = "supervision"
    port: int = 8002
    referrals_url: str = "http://127.0.0.1:8001"

    # Supervision policy. How often each journey must be supervised, in working days, by the current
    # team's service type; e.g. SUPERVISION_FREQUENCY_WORKING_DAYS='{"front_door": 15}' (JSON).
    frequency_working_days: dict[ServiceType, Interval] = Field(
        default_factory=lambda: dict(SUPERVISION_INTERVAL_WORKING_DAYS)
    )
    # Service types not in the mapping, and journeys not yet allocated to a service type.
    default_frequency_working_days: Interval = SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS
    # Workers on the newly-qualified register (PUT /workers/{id}) are supervised at this interval when
    # it is shorter than their team's.
    newly_qualified_frequency_working_days: Interval = 10
