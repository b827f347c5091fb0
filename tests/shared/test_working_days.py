"""Tests for shared.working_days.

Expected values are worked out by hand (weekday and BST/GMT offsets noted next to
each) rather than computed with the code under test. UK clocks: BST (UTC+1) from
the last Sunday in March to the last Sunday in October, GMT (UTC+0) otherwise.
"""

from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest

from shared.working_days import (
    LONDON,
    STATUTORY,
    Counting,
    WorkingCalendar,
    bank_holidays,
    london_date,
)

DAY_1 = WorkingCalendar(counting=Counting.START_IS_DAY_1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def _naive_closed_days(first_year: int, last_year: int) -> set[date]:
    # Straight from the package, independent of the module's caching/filtering.
    return set(holidays.country_holidays("GB", subdiv="ENG", years=range(first_year, last_year + 1)))


def test_london_date_is_the_next_day_after_23_00_utc_in_summer_only() -> None:
    assert london_date(utc(2024, 7, 1, 23, 30)) == date(2024, 7, 2)  # BST: 00:30 on the 2nd
    assert london_date(utc(2024, 12, 1, 23, 30)) == date(2024, 12, 1)  # GMT


def test_hand_worked_weekdays_used_below_are_right() -> None:
    # Guards the test's own arithmetic: 0 = Monday ... 6 = Sunday.
    assert date(2023, 6, 12).weekday() == 0
    assert date(2023, 5, 5).weekday() == 4
    assert date(2023, 5, 8).weekday() == 0
    assert date(2022, 6, 2).weekday() == 3
    assert date(2022, 9, 19).weekday() == 0
    assert date(2021, 12, 25).weekday() == 5
    assert date(2022, 12, 25).weekday() == 6
    assert date(2024, 3, 29).weekday() == 4
    assert date(2024, 3, 31).weekday() == 6
    assert date(2024, 12, 27).weekday() == 4
    assert date(2030, 12, 31).weekday() == 1


# -- the holiday list -----------------------------------------------------------------


def test_2023_england_and_wales_bank_holidays_match_gov_uk() -> None:
    assert set(bank_holidays(2023)) == {
        date(2023, 1, 2),
        date(2023, 4, 7),
        date(2023, 4, 10),
        date(2023, 5, 1),
        date(2023, 5, 8),
        date(2023, 5, 29),
        date(2023, 8, 28),
        date(2023, 12, 25),
        date(2023, 12, 26),
    }


def test_bank_holidays_are_sorted_weekdays_including_one_offs_and_substitutes() -> None:
    h2022 = bank_holidays(2022)
    assert list(h2022) == sorted(h2022)
    assert date(2022, 1, 3) in h2022  # New Year's Day (Sat) substitute
    assert date(2022, 1, 1) not in h2022  # the Saturday itself is not listed
    assert {date(2022, 6, 2), date(2022, 6, 3), date(2022, 9, 19), date(2022, 12, 27)} <= set(h2022)
    assert {date(2021, 12, 27), date(2021, 12, 28)} <= set(bank_holidays(2021))


# -- days -----------------------------------------------------------------------------


def test_ordinary_week_and_weekend() -> None:
    # Mon 12 - Fri 16 June 2023 work; Sat 17 and Sun 18 do not.
    for day in range(12, 17):
        assert STATUTORY.is_working_day(date(2023, 6, day))
    assert not STATUTORY.is_working_day(date(2023, 6, 17))
    assert not STATUTORY.is_working_day(date(2023, 6, 18))
    assert STATUTORY.next_working_day(date(2023, 6, 12)) == date(2023, 6, 13)
    assert STATUTORY.next_working_day(date(2023, 6, 16)) == date(2023, 6, 19)  # Fri -> Mon
    assert STATUTORY.next_working_day(date(2023, 6, 17)) == date(2023, 6, 19)  # Sat -> Mon
    assert STATUTORY.add_working_days(date(2023, 6, 12), 0) == date(2023, 6, 12)
    assert STATUTORY.add_working_days(date(2023, 6, 12), 1) == date(2023, 6, 13)
    assert STATUTORY.add_working_days(date(2023, 6, 12), 5) == date(2023, 6, 19)
    assert STATUTORY.add_working_days(date(2023, 6, 12), 10) == date(2023, 6, 26)
    assert STATUTORY.add_working_days(date(2023, 6, 17), 1) == date(2023, 6, 19)  # from a Saturday


def test_platinum_jubilee_thursday_and_friday_2022() -> None:
    assert not STATUTORY.is_working_day(date(2022, 6, 2))
    assert not STATUTORY.is_working_day(date(2022, 6, 3))
    assert STATUTORY.next_working_day(date(2022, 6, 1)) == date(2022, 6, 6)  # Wed -> Mon
    assert STATUTORY.add_working_days(date(2022, 6, 1), 2) == date(2022, 6, 7)
    # Wed 1 June 10:00 BST (09:00 UTC), 1 working day -> Mon 6 June 17:00 BST = 16:00 UTC.
    assert STATUTORY.deadline(utc(2022, 6, 1, 9), 1) == utc(2022, 6, 6, 16)


def test_state_funeral_monday_2022() -> None:
    assert not STATUTORY.is_working_day(date(2022, 9, 19))
    assert STATUTORY.next_working_day(date(2022, 9, 16)) == date(2022, 9, 20)  # Fri -> Tue
    # Fri 16 Sept 10:00 BST (09:00 UTC), 1 working day -> Tue 20 Sept 17:00 BST = 16:00 UTC.
    assert STATUTORY.deadline(utc(2022, 9, 16, 9), 1) == utc(2022, 9, 20, 16)


def test_christmas_2021_weekend_substitutes() -> None:
    for day in (25, 26, 27, 28):
        assert not STATUTORY.is_working_day(date(2021, 12, day))
    assert STATUTORY.is_working_day(date(2021, 12, 24))
    assert STATUTORY.next_working_day(date(2021, 12, 24)) == date(2021, 12, 29)  # Fri -> Wed
    # Fri 24 Dec 16:00 GMT, 1 working day -> Wed 29 Dec 17:00 GMT.
    assert STATUTORY.deadline(utc(2021, 12, 24, 16), 1) == utc(2021, 12, 29, 17)
    # Thu 23 -> Wed 29: Fri 24 and Wed 29 are the working days in (23, 29].
    assert STATUTORY.working_days_between(utc(2021, 12, 23, 10), utc(2021, 12, 29, 10)) == 2


def test_christmas_2022_sunday_substitute() -> None:
    assert not STATUTORY.is_working_day(date(2022, 12, 27))
    assert STATUTORY.next_working_day(date(2022, 12, 23)) == date(2022, 12, 28)  # Fri -> Wed


def test_easter_2024() -> None:
    assert not STATUTORY.is_working_day(date(2024, 3, 29))  # Good Friday
    assert not STATUTORY.is_working_day(date(2024, 4, 1))  # Easter Monday
    assert STATUTORY.next_working_day(date(2024, 3, 28)) == date(2024, 4, 2)  # Thu -> Tue
    assert STATUTORY.count_working_days(date(2024, 3, 28), date(2024, 4, 2)) == 1
    # Thu 28 March 12:00 GMT, 2 working days -> Wed 3 April 17:00 BST = 16:00 UTC.
    assert STATUTORY.deadline(utc(2024, 3, 28, 12), 2) == utc(2024, 4, 3, 16)


# -- clock start ----------------------------------------------------------------------


def test_friday_night_before_coronation_bank_holiday_starts_tuesday() -> None:
    # Fri 5 May 2023 23:30 BST = 22:30 UTC; Sat, Sun and Mon 8 May (Coronation) are closed,
    # so the clock starts Tue 9 May 09:00 BST = 08:00 UTC.
    received = london(2023, 5, 5, 23, 30)
    assert received == utc(2023, 5, 5, 22, 30)
    start = STATUTORY.clock_start(received)
    assert start == utc(2023, 5, 9, 8)
    assert start.utcoffset() == timedelta(0)
    # 1 working day after Tuesday (day_0) -> Wed 10 May 17:00 BST; day_1 -> Tue 9 May 17:00 BST.
    assert STATUTORY.deadline(received, 1) == utc(2023, 5, 10, 16)
    assert DAY_1.deadline(received, 1) == utc(2023, 5, 9, 16)


def test_clock_start_within_before_and_after_office_hours() -> None:
    # Winter (GMT): London and UTC agree.
    assert STATUTORY.clock_start(utc(2024, 1, 15, 10, 30)) == utc(2024, 1, 15, 10, 30)  # Mon, in hours
    assert STATUTORY.clock_start(utc(2024, 1, 15, 9)) == utc(2024, 1, 15, 9)  # exactly opening
    assert STATUTORY.clock_start(utc(2024, 1, 15, 7, 45)) == utc(2024, 1, 15, 9)  # early -> 09:00
    assert STATUTORY.clock_start(utc(2024, 1, 15, 17)) == utc(2024, 1, 16, 9)  # closing is outside
    assert STATUTORY.clock_start(utc(2024, 1, 19, 18)) == utc(2024, 1, 22, 9)  # Fri evening -> Mon
    assert STATUTORY.clock_start(utc(2024, 1, 20, 11)) == utc(2024, 1, 22, 9)  # Saturday -> Mon
    # Summer (BST): Mon 17 June 2024 07:30 UTC is 08:30 BST -> 09:00 BST = 08:00 UTC.
    assert STATUTORY.clock_start(utc(2024, 6, 17, 7, 30)) == utc(2024, 6, 17, 8)
    # Mon 17 June 16:30 UTC is 17:30 BST, after close -> Tue 09:00 BST = 08:00 UTC.
    assert STATUTORY.clock_start(utc(2024, 6, 17, 16, 30)) == utc(2024, 6, 18, 8)
    # Mon 17 June 23:30 UTC is already Tue 00:30 BST -> Tue 09:00 BST.
    assert STATUTORY.clock_start(utc(2024, 6, 17, 23, 30)) == utc(2024, 6, 18, 8)


def test_clock_start_across_bst_change_and_easter_2024() -> None:
    # Sat 30 March 12:00 GMT; Sun 31 (clocks go forward), Mon 1 April Easter Monday -> Tue 2 April
    # 09:00 BST = 08:00 UTC.
    assert STATUTORY.clock_start(utc(2024, 3, 30, 12)) == utc(2024, 4, 2, 8)


def test_clock_start_returns_utc_and_rejects_naive() -> None:
    result = STATUTORY.clock_start(london(2024, 6, 17, 10))  # in hours, given in London time
    assert result == utc(2024, 6, 17, 9)
    assert result.tzinfo is UTC
    with pytest.raises(ValueError):
        STATUTORY.clock_start(datetime(2024, 6, 17, 10))


# -- deadlines and counting conventions --------------------------------------------------


def test_decision_within_one_working_day_default_convention() -> None:
    # Mon 15 Jan 2024 10:00 GMT -> Tue 16 Jan 17:00 GMT.
    received = utc(2024, 1, 15, 10)
    assert STATUTORY.deadline(received, 1) == utc(2024, 1, 16, 17)
    assert STATUTORY.deadline(received, 0) == utc(2024, 1, 15, 17)  # same working day
    assert STATUTORY.within_working_days(received, utc(2024, 1, 16, 16, 59, 59), 1)
    assert STATUTORY.within_working_days(received, utc(2024, 1, 16, 17), 1)  # on the deadline
    assert not STATUTORY.within_working_days(received, utc(2024, 1, 16, 17, 0, 1), 1)


def test_deadline_in_bst_is_1600_utc() -> None:
    # Mon 17 June 2024 10:00 BST (09:00 UTC) -> Tue 18 June 17:00 BST = 16:00 UTC.
    assert STATUTORY.deadline(utc(2024, 6, 17, 9), 1) == utc(2024, 6, 18, 16)


def test_out_of_hours_contact_deadline_counts_from_clock_start() -> None:
    # Mon 15 Jan 2024 18:00 -> clock Tue 09:00 -> 1 working day -> Wed 17 Jan 17:00.
    assert STATUTORY.deadline(utc(2024, 1, 15, 18), 1) == utc(2024, 1, 17, 17)


def test_start_day_counts_as_day_1_convention() -> None:
    assert Counting("day_0") is Counting.DAY_AFTER_IS_DAY_1
    assert Counting("day_1") is Counting.START_IS_DAY_1
    assert DAY_1.counting is Counting.START_IS_DAY_1
    assert DAY_1.add_working_days(date(2023, 6, 12), 1) == date(2023, 6, 12)  # Mon is day 1
    assert DAY_1.add_working_days(date(2023, 6, 12), 5) == date(2023, 6, 16)  # Fri
    assert DAY_1.add_working_days(date(2023, 6, 12), 6) == date(2023, 6, 19)  # next Mon
    # Non-working start: the next working day is day 1.
    assert DAY_1.add_working_days(date(2023, 6, 17), 1) == date(2023, 6, 19)  # Sat -> Mon
    assert DAY_1.add_working_days(date(2023, 6, 17), 2) == date(2023, 6, 20)  # Sat -> Tue
    # Jubilee: Wed 1 June 2022 is day 1, Mon 6 June day 2.
    assert DAY_1.add_working_days(date(2022, 6, 1), 2) == date(2022, 6, 6)
    # Mon 15 Jan 2024 10:00, 1 working day -> Mon 15 Jan 17:00.
    assert DAY_1.deadline(utc(2024, 1, 15, 10), 1) == utc(2024, 1, 15, 17)
    # Settings carry over to statutory()/local().
    assert DAY_1.local().counting is Counting.START_IS_DAY_1


def test_invalid_day_counts_raise() -> None:
    with pytest.raises(ValueError):
        STATUTORY.add_working_days(date(2023, 6, 12), -1)
    with pytest.raises(ValueError):
        DAY_1.add_working_days(date(2023, 6, 12), 0)


# -- receipt cutoffs: a condition on the deadline as one on the receipt time ----------------

US = timedelta(microseconds=1)


def _cut(calendar: WorkingCalendar, due: datetime, n: int) -> datetime:
    """receipt_cutoff, checked against its definition: received a microsecond before it is due before
    `due`, received at it is due at or after `due`."""
    cutoff = calendar.receipt_cutoff(due, n)
    assert cutoff.tzinfo is UTC
    assert calendar.deadline(cutoff - US, n) < due <= calendar.deadline(cutoff, n), (due, n, cutoff)
    return cutoff


def test_receipt_cutoff_at_and_after_office_close_default_convention() -> None:
    # Due at Tue 16 Jan 2024 17:00 GMT or later: the clock started on Monday 15 or later, so received
    # at or after office close on the working day before it, Fri 12 Jan 17:00.
    assert _cut(STATUTORY, utc(2024, 1, 16, 17), 1) == utc(2024, 1, 12, 17)
    # A microsecond after Tuesday's close: due Wednesday or later, the clock started on Tuesday or
    # later, received at or after Mon 15 Jan 17:00 (office close counts as out of hours).
    assert _cut(STATUTORY, utc(2024, 1, 16, 17) + US, 1) == utc(2024, 1, 15, 17)
    # Any time in Tuesday's office hours or before them asks the same as Tuesday's close.
    assert _cut(STATUTORY, utc(2024, 1, 16, 10), 1) == utc(2024, 1, 12, 17)
    assert _cut(STATUTORY, utc(2024, 1, 16, 3), 1) == utc(2024, 1, 12, 17)
    # Out of hours: Tue 16 Jan 20:00 GMT asks for due Wednesday or later.
    assert _cut(STATUTORY, utc(2024, 1, 16, 20), 1) == utc(2024, 1, 15, 17)
    # 0 working days: due at office close on the clock's start day; Monday noon asks for the clock
    # started on Monday or later.
    assert _cut(STATUTORY, utc(2024, 1, 15, 12), 0) == utc(2024, 1, 12, 17)
    # 2 working days: due Wed 17 Jan 17:00 or later, the clock started Monday or later.
    assert _cut(STATUTORY, utc(2024, 1, 17, 17), 2) == utc(2024, 1, 12, 17)


def test_receipt_cutoff_over_a_weekend() -> None:
    # Due at Sat 20 Jan 2024 noon or later is due Mon 22 Jan 17:00 or later: the clock started on
    # Fri 19 Jan or later, received at or after Thu 18 Jan 17:00.
    assert _cut(STATUTORY, utc(2024, 1, 20, 12), 1) == utc(2024, 1, 18, 17)
    # Due after Mon 22 Jan's close: the clock started Mon 22 or later, which a contact of Friday
    # evening, Saturday or Sunday has; received at or after Fri 19 Jan 17:00.
    assert _cut(STATUTORY, utc(2024, 1, 22, 17) + US, 1) == utc(2024, 1, 19, 17)


def test_receipt_cutoff_over_bank_holidays() -> None:
    # Summer bank holiday Mon 31 Aug 2026 (BST: 17:00 London = 16:00 UTC). Due at Tue 1 Sep 17:00
    # BST or later: the clock started on Fri 28 Aug or later (1 working day after Friday is Tuesday),
    # received at or after Thu 27 Aug 17:00 BST.
    assert _cut(STATUTORY, utc(2026, 9, 1, 16), 1) == utc(2026, 8, 27, 16)
    assert _cut(STATUTORY, utc(2026, 8, 31, 12), 1) == utc(2026, 8, 27, 16)  # on the bank holiday
    assert _cut(STATUTORY, utc(2026, 9, 1, 16) + US, 1) == utc(2026, 8, 28, 16)
    # Christmas 2026: Fri 25 and Mon 28 Dec (Boxing Day's substitute) closed. Due Tue 29 Dec 17:00 GMT
    # or later: the clock started Thu 24 Dec or later, received at or after Wed 23 Dec 17:00.
    assert _cut(STATUTORY, utc(2026, 12, 29, 17), 1) == utc(2026, 12, 23, 17)
    assert _cut(STATUTORY, utc(2026, 12, 29, 17) + US, 1) == utc(2026, 12, 24, 17)
    # A local closure on Thu 24 Dec 2026 counts in the local calendar only: due Tue 29 Dec or later
    # is then a clock started Wed 23 Dec or later, received at or after Tue 22 Dec 17:00.
    local = WorkingCalendar(extra_closures=[date(2026, 12, 24)], include_local_closures=True)
    assert _cut(local, utc(2026, 12, 29, 17), 1) == utc(2026, 12, 22, 17)
    assert _cut(local.statutory(), utc(2026, 12, 29, 17), 1) == utc(2026, 12, 23, 17)


def test_receipt_cutoff_around_clock_changes() -> None:
    # Clocks go forward Sun 29 Mar 2026. Due Mon 30 Mar 17:00 BST (16:00 UTC) or later: the clock
    # started Fri 27 Mar or later, received at or after Thu 26 Mar 17:00 GMT (17:00 UTC).
    assert _cut(STATUTORY, utc(2026, 3, 30, 16), 1) == utc(2026, 3, 26, 17)
    # The hour that does not exist in London and the hour after it ask the same.
    assert _cut(STATUTORY, utc(2026, 3, 29, 0, 30), 1) == utc(2026, 3, 26, 17)
    assert _cut(STATUTORY, utc(2026, 3, 29, 1, 30), 1) == utc(2026, 3, 26, 17)
    # Due after Monday's close: received at or after Fri 27 Mar 17:00 GMT.
    assert _cut(STATUTORY, utc(2026, 3, 30, 16) + US, 1) == utc(2026, 3, 27, 17)
    # Clocks go back Sun 25 Oct 2026. Due Mon 26 Oct 17:00 GMT or later: received at or after
    # Thu 22 Oct 17:00 BST (16:00 UTC); after Monday's close, at or after Fri 23 Oct 16:00 UTC.
    assert _cut(STATUTORY, utc(2026, 10, 26, 17), 1) == utc(2026, 10, 22, 16)
    assert _cut(STATUTORY, utc(2026, 10, 25, 1, 30), 1) == utc(2026, 10, 22, 16)  # 01:30 GMT, twice
    assert _cut(STATUTORY, utc(2026, 10, 26, 17) + US, 1) == utc(2026, 10, 23, 16)


def test_receipt_cutoff_start_day_is_day_1_convention() -> None:
    # day_1, 1 working day: due at office close on the clock's start day. Due Tue 16 Jan 2024 17:00
    # or later: the clock started Tuesday or later, received at or after Mon 15 Jan 17:00.
    assert _cut(DAY_1, utc(2024, 1, 16, 17), 1) == utc(2024, 1, 15, 17)
    assert _cut(DAY_1, utc(2024, 1, 16, 17) + US, 1) == utc(2024, 1, 16, 17)
    # Over a weekend: due Mon 22 Jan or later, received at or after Fri 19 Jan 17:00.
    assert _cut(DAY_1, utc(2024, 1, 20, 12), 1) == utc(2024, 1, 19, 17)
    # day_1 with 2 days is day_0 with 1: over the 2026 summer bank holiday as above.
    assert _cut(DAY_1, utc(2026, 9, 1, 16), 2) == utc(2026, 8, 27, 16)
    assert _cut(DAY_1, utc(2026, 9, 1, 16) + US, 2) == utc(2026, 8, 28, 16)


def test_receipt_cutoff_with_other_office_hours() -> None:
    # Office 08:30-16:30: due Tue 16 Jan 2024 16:30 or later, received at or after Fri 12 Jan 16:30.
    calendar = WorkingCalendar(office_start=time(8, 30), office_end=time(16, 30))
    assert _cut(calendar, utc(2024, 1, 16, 16, 30), 1) == utc(2024, 1, 12, 16, 30)
    assert _cut(calendar, utc(2024, 1, 16, 16, 30) + US, 1) == utc(2024, 1, 15, 16, 30)
    # The default calendar's close is later: 16:45 is before Tuesday's 17:00.
    assert _cut(STATUTORY, utc(2024, 1, 16, 16, 45), 1) == utc(2024, 1, 12, 17)
    assert _cut(calendar, utc(2024, 1, 16, 16, 45), 1) == utc(2024, 1, 15, 16, 30)


def test_receipt_cutoff_for_the_longest_timescale_and_rejects_naive() -> None:
    # 260 working days are at least 52 weeks of weekdays: the cutoff is further back than that, and
    # exact all the same.
    for calendar in (STATUTORY, DAY_1):
        cutoff = _cut(calendar, utc(2026, 12, 29, 17), 260)
        assert cutoff < utc(2026, 12, 29, 17) - timedelta(weeks=52)
    with pytest.raises(ValueError):
        STATUTORY.receipt_cutoff(datetime(2024, 1, 16, 17), 1)


def test_deadlines_never_fall_earlier_for_later_receipts_and_every_cutoff_is_exact() -> None:
    """What receipt_cutoff rests on, swept across the 2026 clock changes, Easter, the summer bank
    holiday and Christmas, every 20 minutes and a microsecond either side of each office opening and
    close, under both conventions, other office hours and a local closure; and its answer exact at
    every deadline met, a microsecond either side of it, and every instant swept."""
    calendars = [
        (STATUTORY, (0, 1, 3)),
        (DAY_1, (1, 2)),
        (WorkingCalendar(office_start=time(7), office_end=time(19, 30)), (0, 1)),
        (WorkingCalendar(extra_closures=[date(2026, 12, 24)], include_local_closures=True), (1, 5)),
    ]
    spans = [
        (date(2026, 3, 25), date(2026, 4, 9)),
        (date(2026, 8, 26), date(2026, 9, 3)),
        (date(2026, 10, 21), date(2026, 10, 29)),
        (date(2026, 12, 21), date(2027, 1, 6)),
    ]
    for calendar, timescales in calendars:
        for first, last in spans:
            instants: set[datetime] = set()
            day = first
            while day <= last:
                start = datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)
                instants.update(start + timedelta(minutes=20 * k) for k in range(72))
                for t in (calendar.office_start, calendar.office_end):
                    edge = datetime.combine(day, t, tzinfo=LONDON).astimezone(UTC)
                    instants.update((edge - US, edge, edge + US))
                day += timedelta(days=1)
            ordered = sorted(instants)
            for n in timescales:
                deadlines = [calendar.deadline(at, n) for at in ordered]
                assert deadlines == sorted(deadlines), (calendar, n)
                for due in {*ordered[::7], *deadlines}:
                    for t in (due - US, due, due + US):
                        _cut(calendar, t, n)


# -- local closures -------------------------------------------------------------------


def test_local_closure_counts_only_in_local_calendar() -> None:
    configured = WorkingCalendar(extra_closures=[date(2024, 12, 27)])
    statutory = configured.statutory()
    local = configured.local()
    assert not configured.include_local_closures  # statutory by default
    assert local.include_local_closures
    assert local.extra_closures == statutory.extra_closures == frozenset({date(2024, 12, 27)})
    assert local.statutory().is_working_day(date(2024, 12, 27))

    assert statutory.is_working_day(date(2024, 12, 27))  # Fri 27 Dec 2024
    assert not local.is_working_day(date(2024, 12, 27))
    # Tue 24 Dec: 25 and 26 are bank holidays.
    assert statutory.next_working_day(date(2024, 12, 24)) == date(2024, 12, 27)
    assert local.next_working_day(date(2024, 12, 24)) == date(2024, 12, 30)
    # (24, 31]: statutory 27, 30, 31; local 30, 31.
    assert statutory.count_working_days(date(2024, 12, 24), date(2024, 12, 31)) == 3
    assert local.count_working_days(date(2024, 12, 24), date(2024, 12, 31)) == 2
    # Tue 24 Dec 10:00 GMT, 1 working day.
    assert statutory.deadline(utc(2024, 12, 24, 10), 1) == utc(2024, 12, 27, 17)
    assert local.deadline(utc(2024, 12, 24, 10), 1) == utc(2024, 12, 30, 17)
    # The plain statutory calendar never knew about the closure.
    assert STATUTORY.is_working_day(date(2024, 12, 27))


def test_local_closure_on_weekend_or_bank_holiday_is_not_double_counted() -> None:
    local = WorkingCalendar(
        extra_closures=[date(2024, 12, 25), date(2024, 12, 28), date(2024, 12, 27)],
        include_local_closures=True,
    )
    # (24, 31]: weekdays 25, 26, 27, 30, 31 minus 25, 26 (bank) and 27 (local) = 2.
    assert local.count_working_days(date(2024, 12, 24), date(2024, 12, 31)) == 2


def test_calendar_validation() -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(office_start=time(17), office_end=time(9))
    with pytest.raises(TypeError):
        WorkingCalendar(extra_closures=[datetime(2024, 12, 27, 0, 0)])


# -- spans ----------------------------------------------------------------------------


def test_working_days_between() -> None:
    # Same London day -> 0.
    assert STATUTORY.working_days_between(utc(2023, 6, 12, 9), utc(2023, 6, 12, 16)) == 0
    # Mon -> Tue, even before Tuesday opening.
    assert STATUTORY.working_days_between(utc(2023, 6, 12, 10), utc(2023, 6, 13, 7)) == 1
    # Fri -> Mon over a weekend.
    assert STATUTORY.working_days_between(utc(2023, 6, 16, 10), utc(2023, 6, 19, 10)) == 1
    # Mon 23:30 UTC is Tue 00:30 BST: London dates decide.
    assert STATUTORY.working_days_between(utc(2023, 6, 12, 10), utc(2023, 6, 12, 23, 30)) == 1
    # Fri 5 May 2023 -> Tue 9 May (Coronation Monday closed).
    assert STATUTORY.working_days_between(utc(2023, 5, 5, 10), utc(2023, 5, 9, 10)) == 1
    # End before start -> 0, never negative.
    assert STATUTORY.working_days_between(utc(2023, 6, 19, 10), utc(2023, 6, 12, 10)) == 0


def test_working_hours_simple_cases() -> None:
    # Mon 15 Jan 2024 10:00 -> 12:30 GMT.
    assert STATUTORY.working_hours_between(utc(2024, 1, 15, 10), utc(2024, 1, 15, 12, 30)) == 2.5
    # Evening only -> 0.
    assert STATUTORY.working_hours_between(utc(2024, 1, 15, 18), utc(2024, 1, 15, 22)) == 0.0
    # Mon 09:00 -> Fri 17:00: 5 x 8 hours.
    assert STATUTORY.working_hours_between(utc(2024, 1, 15, 9), utc(2024, 1, 19, 17)) == 40.0
    # Fri 16:00 -> Mon 10:00: 1 + 1.
    assert STATUTORY.working_hours_between(utc(2024, 1, 19, 16), utc(2024, 1, 22, 10)) == 2.0
    # Jubilee: Wed 1 June 2022 09:00 BST -> Mon 6 June 17:00 BST: Wed + Mon only.
    assert STATUTORY.working_hours_between(london(2022, 6, 1, 9), london(2022, 6, 6, 17)) == 16.0
    # Reversed -> 0.
    assert STATUTORY.working_hours_between(utc(2024, 1, 15, 12), utc(2024, 1, 15, 10)) == 0.0


def test_working_and_calendar_hours_across_bst_change_2024() -> None:
    # Thu 28 March 16:00 GMT (16:00 UTC) -> Tue 2 April 10:00 BST (09:00 UTC).
    # Good Friday, weekend (clocks forward Sun 31) and Easter Monday closed: Thu 16-17 + Tue 09-10.
    start, end = utc(2024, 3, 28, 16), utc(2024, 4, 2, 9)
    assert STATUTORY.working_hours_between(start, end) == 2.0
    # 4 days 17 hours of real time.
    assert STATUTORY.calendar_hours_between(start, end) == 113.0


def test_working_and_calendar_hours_across_bst_change_2023() -> None:
    # Fri 24 March 16:00 GMT (16:00 UTC) -> Mon 27 March 10:00 BST (09:00 UTC).
    start, end = utc(2023, 3, 24, 16), utc(2023, 3, 27, 9)
    assert STATUTORY.working_hours_between(start, end) == 2.0
    assert STATUTORY.calendar_hours_between(start, end) == 65.0  # 66 on the wall clock


def test_working_and_calendar_hours_across_gmt_change_2024() -> None:
    # Fri 25 Oct 16:30 BST (15:30 UTC) -> Mon 28 Oct 09:30 GMT (09:30 UTC); clocks back Sun 27.
    start, end = utc(2024, 10, 25, 15, 30), utc(2024, 10, 28, 9, 30)
    assert STATUTORY.working_hours_between(start, end) == 1.0
    assert STATUTORY.calendar_hours_between(start, end) == 66.0  # 65 on the wall clock


def test_calendar_hours_with_shared_london_tzinfo_uses_real_time() -> None:
    # Sat 30 March 12:00 GMT -> Sun 31 March 12:00 BST is 23 real hours, although both
    # datetimes share one ZoneInfo (plain subtraction would say 24).
    assert STATUTORY.calendar_hours_between(london(2024, 3, 30, 12), london(2024, 3, 31, 12)) == 23.0
    assert STATUTORY.calendar_hours_between(utc(2024, 1, 2), utc(2024, 1, 1)) == 0.0


# -- long spans against a naive loop -------------------------------------------------------


def test_long_span_matches_naive_day_by_day_loop() -> None:
    closed = _naive_closed_days(2020, 2030)
    naive = 0
    last_working = date(2020, 1, 1)
    day = date(2020, 1, 1)
    while day <= date(2030, 12, 31):
        if day.weekday() < 5 and day not in closed:
            naive += 1
            last_working = day
        day += timedelta(days=1)

    assert STATUTORY.count_working_days(date(2019, 12, 31), date(2030, 12, 31)) == naive
    assert STATUTORY.working_days_between(utc(2019, 12, 31, 12), utc(2030, 12, 31, 12)) == naive
    assert STATUTORY.add_working_days(date(2019, 12, 31), naive) == last_working
    assert last_working == date(2030, 12, 31)  # a Tuesday, not a holiday


def test_add_and_count_agree_with_naive_stepping_around_holidays() -> None:
    closures = {date(2021, 12, 29), date(2021, 12, 30), date(2021, 12, 31), date(2022, 6, 6)}
    closed_statutory = _naive_closed_days(2021, 2023)
    calendars = [
        (WorkingCalendar(extra_closures=closures), closed_statutory),
        (WorkingCalendar(extra_closures=closures, include_local_closures=True), closed_statutory | closures),
    ]
    for calendar, closed in calendars:
        start = date(2021, 12, 1)
        while start <= date(2022, 12, 31):
            day = start
            for n in range(1, 25):
                # Naive: step a day at a time until the next open weekday.
                day += timedelta(days=1)
                while day.weekday() >= 5 or day in closed:
                    day += timedelta(days=1)
                assert calendar.add_working_days(start, n) == day, (start, n)
                assert calendar.count_working_days(start, day) == n
            start += timedelta(days=1)
