"""Control bands of a monthly rate: its mean over the months with a rate, ± a multiple of their
sample standard deviation, limited to 0..100, and where each month's rate lies against them.

The rates are taken as the report gives them (percentages to 2 places), so a reader recomputing
the band from the monthly figures shown gets the same mean, SD and limits. They are counted in
whole hundredths, so the mean is exact (69.445 is rounded up to 69.45, as the reports round, not
to whatever a float sum would leave it at).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from services.reporting.reports.models import BandFlag, ControlBand
from services.reporting.rounding import half_up


def _r(value: float) -> float:
    return half_up(value, 2)


def control_band(rates: Sequence[float | None], multiple: float) -> ControlBand:
    """The band of `rates` (null: a month without contacts, left out): the mean of the others and,
    from two of them on, their sample SD (n - 1, as for a control chart of a series: the months are
    a sample of the process, not all of it) and the limits mean ± multiple x SD within 0..100."""
    hundredths = [round(rate * 100) for rate in rates if rate is not None]
    n = len(hundredths)
    if not n:
        return ControlBand(months=0, mean=None, sd=None, lower=None, upper=None)
    mean = Fraction(sum(hundredths), n)
    if n < 2:
        return ControlBand(months=n, mean=_r(float(mean / 100)), sd=None, lower=None, upper=None)
    variance = sum((h - mean) ** 2 for h in hundredths) / (n - 1)
    sd = math.sqrt(variance) / 100
    centre = float(mean / 100)
    return ControlBand(
        months=n,
        mean=_r(centre),
        sd=_r(sd),
        # The limits from the unrounded mean and SD, then rounded: what the flags are judged by.
        lower=_r(max(0.0, centre - multiple * sd)),
        upper=_r(min(100.0, centre + multiple * sd)),
    )


def band_flag(rate: float | None, band: ControlBand) -> BandFlag | None:
    """Where a month's rate lies against its band's limits as given (equal to one is within); null
    for a month without contacts, or a band without limits (fewer than 2 months with a rate)."""
    if rate is None or band.lower is None or band.upper is None:
        return None
    if rate > band.upper:
        return BandFlag.above
    if rate < band.lower:
        return BandFlag.below
    return BandFlag.within
