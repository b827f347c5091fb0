"""Annex A display labels: every national code has one, lettered in the national lists' order (checked
against the enums, not against a copy of the table)."""

from __future__ import annotations

import string
from enum import StrEnum

import pytest

from shared.codes import LABELS, Ethnicity, ReferralSource, Sex, annex_a_label


@pytest.mark.parametrize("enum", [Sex, Ethnicity, ReferralSource])
def test_every_code_has_an_annex_a_label_lettered_in_the_national_order(enum: type[StrEnum]) -> None:
    letters = [annex_a_label(member).split(") ", 1)[0] for member in enum]
    # Each letter is the next one, or the one before with "1" (5D, a newer code: "p1)").
    expected = 0
    for letter in letters:
        if letter.endswith("1"):
            assert letter == string.ascii_lowercase[expected - 1] + "1"
        else:
            assert letter == string.ascii_lowercase[expected]
            expected += 1
    for member in enum:
        text = annex_a_label(member).split(") ", 1)[1]
        if enum is Ethnicity:
            assert text == member.value
        elif enum is ReferralSource:
            code, _, meaning = text.partition(": ")
            assert code == member.value
            assert LABELS[ReferralSource][member.value].startswith(meaning), member
    assert annex_a_label(ReferralSource.C5D) == "p1) 5D: LA services"
    assert annex_a_label(Sex.U) == "c) Not stated/recorded"
