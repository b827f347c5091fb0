"""The largest contact and the largest superseding decision the field limits allow fit the referrals
service's default body limit in the most verbose JSON (as tests/supervision/test_supervision_body_limit.py
explains)."""

from __future__ import annotations

import uuid

from services.referrals.children.schemas import ChildIn
from services.referrals.common import nhs_number_valid
from services.referrals.contacts.models import ContactIn, ReferrerIn
from services.referrals.decisions.models import DecisionIn, SupersedeIn
from services.referrals.settings import Settings
from shared.codes import (
    AssessmentFactor,
    ConsentStatus,
    ContactChannel,
    DecisionOutcome,
    Ethnicity,
    ReferralSource,
    Sex,
    SupersedeReason,
    Urgency,
)
from tests.escaped_json import ASTRAL, escaped_json, max_length

# Names are composed (NFC) before their length is checked: U+1F82 is one character sent as four
# (alpha and three combining marks), 24 bytes \u-escaped, the most of any character.
DECOMPOSED = "\u03b1\u0313\u0300\u0345"
NHS_NUMBER = next(n for n in (f"40000{i:05d}" for i in range(1000)) if nhs_number_valid(n))


FACTORS = [f.value for f in AssessmentFactor][: max_length(DecisionIn, "assessment_factors")]


def _longest(codes: type) -> str:
    return max((c.value for c in codes), key=len)  # type: ignore[attr-defined]


def test_the_largest_contact_fits_the_default_limit() -> None:
    name = DECOMPOSED * 100
    child = {
        "given_name": name,
        "family_name": name,
        "date_of_birth": "2020-01-01",
        "sex": _longest(Sex),
        "ethnicity": _longest(Ethnicity),
        "nhs_number": NHS_NUMBER,
        "postcode": "SW1A 1AA",
    }
    body = {
        "child_ids": [str(uuid.uuid4()) for _ in range(max_length(ContactIn, "child_ids"))],
        "new_children": [child] * max_length(ContactIn, "new_children"),
        "received_at": "2026-03-16T10:00:00.000000+00:00",
        "backdating_reason": ASTRAL * 500,
        "source": _longest(ReferralSource),
        "channel": _longest(ContactChannel),
        "referrer": {
            "name": ASTRAL * 200,
            "organisation": ASTRAL * 200,
            "role": ASTRAL * 200,
            "phone": "+441234567890",
            "email": "a" * 64 + "@" + "b" * 185 + ".com",
        },
        "concerns_summary": ASTRAL * 4000,
        "consent": {"status": _longest(ConsentStatus), "reason": ASTRAL * 500},
        "urgency": _longest(Urgency),
        "child_views": ASTRAL * 4000,
    }
    encoded = escaped_json(body)
    contact = ContactIn.model_validate_json(encoded)  # valid: every field at its limit
    assert len(contact.new_children) == 20 and len(contact.new_children[0].given_name) == 100
    assert max_length(ReferrerIn, "name") == 200 and "maxLength" not in ChildIn.model_json_schema()
    assert len(encoded) <= Settings().max_body_bytes


def test_the_largest_superseding_decision_fits_the_default_limit() -> None:
    decision = {
        "outcome": _longest(DecisionOutcome),
        "other_reason": ASTRAL * 500,
        "threshold_level": 4,
        "primary_need": "N9",
        "assessment_factors": FACTORS,
        "rationale": ASTRAL * 4000,
        "late_reason": ASTRAL * 500,
        "decided_at": "2026-03-16T10:00:00.000000+00:00",
    }
    body = {"decision": decision, "reason": _longest(SupersedeReason), "note": ASTRAL * 4000}
    encoded = escaped_json(body)
    SupersedeIn.model_validate_json(encoded)
    assert len(encoded) <= Settings().max_body_bytes
