"""Settings of the reporting service (environment prefix REPORTING_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", env_file=".env", extra="ignore")

    service_name: str = "reporting"
    port: int = 8003
    referrals_url: str = "http://127.0.0.1:8001"
    supervision_url: str = "http://127.0.0.1:8002"
