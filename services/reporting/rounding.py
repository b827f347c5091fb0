"""Rounding of the reports' figures: halves up (away from zero, for a difference), as the decimal
the float prints as, not as `round` does (ties to even on the binary value: 0.125 to 0.12, and
0.145, stored just below, to 0.14). Every figure is rounded here, in the report and in what the
projection keeps for it, so the two agree."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

_SCALES = (1, 10, 100)
_ONE = Decimal(1)


def half_up_units(value: float, places: int) -> int:
    """`value` in units of 10^-places (a tenth, a hundredth), to the nearest, halves up."""
    scaled = value * _SCALES[places]
    units = math.floor(scaled + 0.5)
    # Clear of a half, the float's error (a few units in the last place) cannot change the answer:
    # the common case, without a Decimal (reports round a figure per cell).
    if -0.49 < scaled - units < 0.49:
        return units
    return int(Decimal(repr(value)).scaleb(places).quantize(_ONE, ROUND_HALF_UP))


def half_up(value: float, places: int = 2) -> float:
    """`value` to `places` decimals, halves up: the float nearest the rounded decimal."""
    return half_up_units(value, places) / _SCALES[places]
