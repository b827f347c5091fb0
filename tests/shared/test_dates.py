"""Calendar months and London date ranges (shared by reporting and the Annex A lists)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.dates import (
    EARLIEST_DATE,
    LATEST_DATE,
    add_months,
    london_window,
    one_year_before,
    require_dates_in_range,
)
from shared.errors import Unprocessable


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 12, 6), -6, date(2026, 6, 6)),
        (date(2026, 8, 31), -6, date(2026, 2, 28)),  # February is shorter: its last day
        (date(2024, 8, 31), -6, date(2024, 2, 29)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),  # across a year
        (date(2025, 12, 31), 2, date(2026, 2, 28)),
        (date(2026, 3, 1), 12, date(2027, 3, 1)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_months_last(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_one_year_before_29_february_is_28_february() -> None:
    assert one_year_before(date(2024, 2, 29)) == date(2023, 2, 28)
    assert one_year_before(date(2025, 3, 1)) == date(2024, 3, 1)


def test_a_london_window_starts_and_ends_at_london_midnight() -> None:
    # 1 June to 30 June 2026 is all British Summer Time: London midnight is 23:00 UTC the day before.
    assert london_window(date(2026, 6, 1), date(2026, 6, 30)) == (
        datetime(2026, 5, 31, 23, tzinfo=UTC),
        datetime(2026, 6, 30, 23, tzinfo=UTC),
    )
    # Across the end of summer time (25 October 2026) the end is midnight GMT.
    assert london_window(date(2026, 10, 1), date(2026, 10, 31)) == (
        datetime(2026, 9, 30, 23, tzinfo=UTC),
        datetime(2026, 11, 1, 0, tzinfo=UTC),
    )


def test_a_date_outside_the_front_doors_years_is_refused_naming_its_parameter() -> None:
    require_dates_in_range((EARLIEST_DATE, "from"), (LATEST_DATE, "to"), (None, "as_of"))
    with pytest.raises(Unprocessable) as refused:
        require_dates_in_range((date(2024, 1, 1), "from"), (LATEST_DATE + timedelta(days=1), "to"))
    [param] = refused.value.invalid_params or []
    assert (param.name, param.location) == ("to", "query")
    assert "between 2000-01-01 and 2099-12-31" in param.reason
