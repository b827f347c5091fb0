"""Fixtures for the referrals service tests (synthetic data only)."""

from __future__ import annotations

from typing import Any

import pytest
from fdhelpers import FrontDoor


@pytest.fixture
async def fd(app_client: Any, token: Any) -> FrontDoor:
    client = await app_client("referrals")
    return FrontDoor(client, token)
