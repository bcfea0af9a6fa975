"""Periods: half-open ``[start, end)`` intervals cut in the broker's server time zone, stored as UTC instants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"  # ASCII digits only: "２０２６-05" is no period
_PERIOD_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
# Trading servers date trades from the Unix epoch on; beyond year 2999 is a typing slip, not a period.
FIRST_YEAR, LAST_YEAR = 1970, 2999
# Where a first assignment given without a date starts (DOMAIN.md 4.0: set-up is not history): an instant before any
# trade a server can report, so a network set up today pays last month's imported trades. Shown as such by the API.
SINCE_ALWAYS = datetime(1900, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar month in the server time zone."""

    year: int
    month: int
    tz: str

    @classmethod
    def parse(cls, text: str, tz: str) -> Period:
        match = _PERIOD_RE.fullmatch(text) if isinstance(text, str) else None  # no trailing newline either
        if not match:
            raise ValueError(f"period must look like YYYY-MM, got {text!r}")
        year = int(match.group(1))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(f"period must be between {FIRST_YEAR}-01 and {LAST_YEAR}-12, got {text}")
        return cls(year, int(match.group(2)), tz)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first_day(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def start(self) -> datetime:
        """The period's first instant, in UTC."""
        return _local_midnight_utc(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        """The first instant after the period, in UTC."""
        return _local_midnight_utc(self.next_first_day, self.tz)

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def __str__(self) -> str:
        return self.label


def _local_midnight_utc(day: date, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def period_of(instant: datetime, tz: str | None = None) -> Period:
    """The period (calendar month in the server time zone) that contains ``instant``."""
    tz = tz or settings.IBEX_SERVER_TIME_ZONE
    local = instant.astimezone(ZoneInfo(tz))
    return Period(local.year, local.month, tz)


def server_period(text: str) -> Period:
    """Parse ``YYYY-MM`` in the configured server time zone."""
    return Period.parse(text, settings.IBEX_SERVER_TIME_ZONE)
