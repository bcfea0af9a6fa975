"""Which periods a day's rate prices (``ledger.services.rates.rate_periods``): its own and the following one."""

from __future__ import annotations

from datetime import date

import pytest

from core.periods import LAST_YEAR
from ledger.services.rates import rate_periods


@pytest.mark.parametrize(
    ("day", "periods"),
    [
        (date(2026, 3, 31), ("2026-03", "2026-04")),
        (date(2026, 3, 1), ("2026-03", "2026-04")),
        (date(2026, 12, 31), ("2026-12", "2027-01")),
        (date(LAST_YEAR, 12, 31), (f"{LAST_YEAR}-12",)),
    ],
)
def test_a_rate_prices_its_own_period_and_the_next(day, periods):
    assert rate_periods(day) == periods
