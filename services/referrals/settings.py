"""Settings of the referrals service (environment prefix REFERRALS_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRALS_", env_file=".env", extra="ignore")

    service_name: str = "referrals"
    port: int = 8001
