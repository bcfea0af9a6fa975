"""Days and crystallisation periods of the fee engine, as integer day numbers (days since 1970-01-01).

Units: a day is an int64 count of days since 1970-01-01 (numpy ``datetime64[D]`` viewed as int64), so day
arithmetic is integer arithmetic and a week day is ``(day + 3) % 7`` (1970-01-01 was a Thursday; 0 = Monday).

Crystallisation periods are calendar months, or calendar quarters starting in January, April, July and October.
No rounding happens here. Invariants: a period starts on its first day and ends (exclusive) on the next period's
first day, so its length is 28 to 31 days (months) or 90 to 92 days (quarters).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from mam.vocabulary import CrystallisationPeriod

NA_DAY = np.iinfo(np.int64).min  # how numpy stores NaT, kept as the "no date" marker
_MONTHS_PER_PERIOD = {CrystallisationPeriod.MONTHLY: 1, CrystallisationPeriod.QUARTERLY: 3}
_SATURDAY = 5


def day_number(value: date) -> int:
    """The day number of one date."""
    return int(np.datetime64(value, "D").astype(np.int64))


def day_numbers(values: pd.Series, *, what: str, allow_na: bool) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers of a column of dates (``date``, ``Timestamp`` or ``datetime64``); return ``(days, na_mask)``."""
    try:
        converted = pd.to_datetime(pd.Series(values, dtype=object if len(values) == 0 else None))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: expected dates: {exc}") from exc
    if getattr(converted.dt, "tz", None) is not None:
        raise ValueError(f"{what}: expected local calendar days, got time-zone-aware timestamps")
    days = converted.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
    na = days == NA_DAY
    if na.any() and not allow_na:
        raise ValueError(f"{what}: a date is missing")
    return days, na


def dates_of(days: np.ndarray) -> np.ndarray:
    """Object array of ``datetime.date`` for day numbers (None where ``NA_DAY``)."""
    result = days.astype("datetime64[D]").astype(object)
    result[days == NA_DAY] = None
    return result


def trading_days(days: np.ndarray) -> np.ndarray:
    """True on Monday to Friday."""
    return (days + 3) % 7 < _SATURDAY


def period_bounds(days: np.ndarray, period: CrystallisationPeriod) -> tuple[np.ndarray, np.ndarray]:
    """First day and length in days of the crystallisation period containing each day."""
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    step = _MONTHS_PER_PERIOD[CrystallisationPeriod(period)]
    first_month = months - months % step  # month 0 is January, so quarters start on months divisible by 3
    start = first_month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    end = (first_month + step).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return start, end - start


def closes_period(period_end: int, period: CrystallisationPeriod) -> bool:
    """Whether the exclusive end ``period_end`` is the first day of a crystallisation period."""
    start, _ = period_bounds(np.array([period_end], dtype=np.int64), period)
    return int(start[0]) == period_end
