"""The supervision service's policy and the reporting service's measure of it use the same intervals."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.reporting.settings import Settings as ReportingSettings
from services.supervision.policy import Policy
from services.supervision.settings import Settings as SupervisionSettings
from shared.codes import ServiceType


def test_reporting_measures_supervision_against_the_supervision_services_policy():
    policy = Policy.from_settings(SupervisionSettings())
    reporting = ReportingSettings()
    for service_type in [*ServiceType, None]:
        code = service_type.value if service_type else None
        assert reporting.supervision_interval(code) == policy.interval(code, newly_qualified=False), code
        for newly_qualified in (False, True):
            assert reporting.supervision_interval(code, newly_qualified) == policy.interval(
                code, newly_qualified
            ), (code, newly_qualified)
    # Worked by hand from the policy: front door and assessment 20 working days, others 30.
    assert reporting.supervision_interval("family_safeguarding") == 30
    assert reporting.supervision_interval("assessment") == 20
    # Newly qualified: 10 working days, when shorter than the service type's.
    assert reporting.supervision_interval("assessment", newly_qualified=True) == 10


def test_a_configured_interval_map_changes_only_the_service_types_it_names(monkeypatch):
    """SUPERVISION_FREQUENCY_WORKING_DAYS='{"front_door": 15}' (the settings' own example) replaced the
    whole default map: assessment silently moved from its 20 working days to the default 30. Each
    service now lays a configured map over shared/policy.py's defaults, the same way."""
    monkeypatch.setenv("SUPERVISION_FREQUENCY_WORKING_DAYS", '{"front_door": 15, "leaving_care": 40}')
    monkeypatch.setenv(
        "REPORTING_SUPERVISION_INTERVAL_WORKING_DAYS", '{"front_door": 15, "leaving_care": 40}'
    )
    supervision = SupervisionSettings(database_url="sqlite+aiosqlite:///:memory:")
    reporting = ReportingSettings(database_url="sqlite+aiosqlite:///:memory:")
    expected = {"front_door": 15, "assessment": 20, "leaving_care": 40}
    assert supervision.frequency_working_days == expected
    assert reporting.supervision_interval_working_days == expected
    policy = Policy.from_settings(supervision)
    for service_type in [*ServiceType, None]:
        code = service_type.value if service_type else None
        for newly_qualified in (False, True):
            assert reporting.supervision_interval(code, newly_qualified) == policy.interval(
                code, newly_qualified
            ), (code, newly_qualified)
    assert policy.interval("assessment", newly_qualified=False) == 20
    assert policy.interval("early_help", newly_qualified=False) == 30
    # Given as keyword arguments (as tests and tools build settings), the same.
    monkeypatch.delenv("SUPERVISION_FREQUENCY_WORKING_DAYS")
    monkeypatch.delenv("REPORTING_SUPERVISION_INTERVAL_WORKING_DAYS")
    assert SupervisionSettings(frequency_working_days={"front_door": 15}).frequency_working_days == {
        "front_door": 15,
        "assessment": 20,
    }
    assert ReportingSettings(
        supervision_interval_working_days={"assessment": 25}
    ).supervision_interval_working_days == {"front_door": 20, "assessment": 25}


@pytest.mark.parametrize(
    ("interval", "setting"),
    [
        (
            {"supervision_interval_working_days": {"assessment": 1}},
            "REPORTING_SUPERVISION_INTERVAL_WORKING_DAYS",
        ),
        (
            {"supervision_default_interval_working_days": 1},
            "REPORTING_SUPERVISION_DEFAULT_INTERVAL_WORKING_DAYS",
        ),
        (
            {"supervision_newly_qualified_interval_working_days": 1},
            "REPORTING_SUPERVISION_NEWLY_QUALIFIED_INTERVAL_WORKING_DAYS",
        ),
    ],
)
def test_reporting_refuses_day_1_counting_with_an_interval_the_supervision_service_refuses(
    interval: dict[str, Any], setting: str
) -> None:
    """Counting the start day as day 1, an interval of 1 makes a journey due on the day it was
    supervised (or opened): the supervision service refuses to start so configured, while reporting
    took it and counted every journey overdue the day after its supervision. Refused alike, naming
    the setting."""
    with pytest.raises(ValidationError, match=setting):
        ReportingSettings(database_url="sqlite+aiosqlite:///:memory:", counting="day_1", **interval)
    with pytest.raises(ValidationError):
        SupervisionSettings(
            database_url="sqlite+aiosqlite:///:memory:",
            counting="day_1",
            **{SUPERVISION_NAMES[k]: v for k, v in interval.items()},
        )
    # Either alone is fine: day_0 counts 1 working day after the start day, and 2 is the day after.
    ReportingSettings(database_url="sqlite+aiosqlite:///:memory:", **interval)
    ReportingSettings(
        database_url="sqlite+aiosqlite:///:memory:",
        counting="day_1",
        **{k: {t: 2 for t in v} if isinstance(v, dict) else 2 for k, v in interval.items()},
    )


SUPERVISION_NAMES = {
    "supervision_interval_working_days": "frequency_working_days",
    "supervision_default_interval_working_days": "default_frequency_working_days",
    "supervision_newly_qualified_interval_working_days": "newly_qualified_frequency_working_days",
}
