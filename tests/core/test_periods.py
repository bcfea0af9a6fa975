from datetime import UTC, datetime

import pytest

from core.periods import Period


def test_period_is_cut_in_server_time_zone():
    period = Period.parse("2026-03", "Etc/GMT-2")  # UTC+2, the usual MT server zone in winter
    assert period.start == datetime(2026, 2, 28, 22, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)


def test_period_follows_daylight_saving_of_a_named_zone():
    period = Period.parse("2026-04", "Europe/Athens")  # UTC+3 in April (DST), UTC+2 in March
    assert period.start == datetime(2026, 3, 31, 21, 0, tzinfo=UTC)
    march = Period.parse("2026-03", "Europe/Athens")
    assert march.start == datetime(2026, 2, 28, 22, 0, tzinfo=UTC)
    assert march.end == period.start  # consecutive periods tile time with no gap or overlap


def test_december_rolls_into_next_year():
    period = Period.parse("2026-12", "UTC")
    assert period.end == datetime(2027, 1, 1, tzinfo=UTC)


def test_half_open_interval():
    period = Period.parse("2026-05", "UTC")
    assert period.contains(period.start)
    assert not period.contains(period.end)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-01", "", "2026/01"])
def test_bad_period_text_is_rejected(text):
    with pytest.raises(ValueError):
        Period.parse(text, "UTC")


@pytest.mark.parametrize("text", ["0000-01", "0001-01", "1969-12", "3000-01", "9999-12"])
def test_periods_outside_the_supported_years_are_refused_with_the_range(text):
    with pytest.raises(ValueError, match="between 1970-01 and 2999-12"):
        Period.parse(text, "Etc/GMT-2")


def test_the_first_and_last_supported_periods_have_bounds():
    first, last = Period.parse("1970-01", "Pacific/Kiritimati"), Period.parse("2999-12", "Etc/GMT+12")
    assert first.start < first.end and last.start < last.end
