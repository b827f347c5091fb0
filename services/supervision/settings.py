"""Settings of the supervision service (environment prefix SUPERVISION_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", env_file=".env", extra="ignore")

    service_name: str = "supervision"
    port: int = 8002
    referrals_url: str = "http://127.0.0.1:8001"
