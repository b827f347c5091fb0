"""The supervision service's policy and the reporting service's measure of it use the same intervals."""

from __future__ import annotations

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
