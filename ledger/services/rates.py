"""Daily USD conversion rates (DOMAIN.md 2): ``currency → USD`` per server-time-zone day, data of their day.

Each upsert is set-based (one locking lookup, bulk writes) and returns ``created``/``updated``/``unchanged`` counts.
Input is checked in full before anything is written: a bad row raises ``RowErrors`` (keyed by its index) and writes
nothing.

Changing a stored rate reaches its own period and the following one (``rate_periods``): both-legs plans convert a
trade's open leg at the rate of its open day, and a trade opened on a day may close in the next month. Both must be
unapproved, and the change is recorded (``core.history``) for both, so runs computed on the old rate warn and
restate. Decision: the window stops there — the ledger cannot see trades, and a position held across two month
ends is rare enough that its open-leg rate is taken as settled once the following period is approved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from core.exceptions import RowErrors
from core.history import Area, ensure_periods_open
from core.models import exact_decimal_for
from core.money import MoneyError
from core.periods import FIRST_YEAR, LAST_YEAR

from ..models import ConversionRate

_CURRENCY_RE = re.compile(r"^[A-Z][A-Z0-9]{2,7}$")


def rate_periods(day: date) -> tuple[str, ...]:
    """The periods (``YYYY-MM``) a rate of ``day`` prices: its own, where trades close that day, and the next,
    where a trade opened that day and closed after the month's end has its open leg converted at it (a both-legs
    plan). A trade held across more than one month end is not covered (see the module docstring)."""
    own = f"{day.year:04d}-{day.month:02d}"
    if (day.year, day.month) == (LAST_YEAR, 12):
        return (own,)  # no period follows the last one
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return (own, f"{following.year:04d}-{following.month:02d}")


def rates_upsert(*, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Create or update daily USD rates, keyed by ``(currency, day)``. Row: ``currency``, ``day`` (date),
    ``usd_rate`` (> 0, the USD value of one unit of the currency, at most 12 decimal places). Changing a rate of a
    day inside an approved period is a ``Conflict`` naming the period (nothing is written)."""
    errors: dict[int, dict[str, list[str]]] = {}
    cleaned: list[tuple[str, date, Decimal]] = []
    seen: dict[tuple[str, date], int] = {}
    for index, row in enumerate(rows):
        row_errors: dict[str, list[str]] = {}
        currency = row.get("currency")
        if not isinstance(currency, str) or not _CURRENCY_RE.match(currency.strip().upper()):
            row_errors["currency"] = ["A currency code of 3 to 8 letters or digits."]
            currency = ""
        currency = currency.strip().upper()
        day = row.get("day")
        if not isinstance(day, date):
            row_errors["day"] = ["A date is required."]
        elif not FIRST_YEAR <= day.year <= LAST_YEAR:
            row_errors["day"] = [f"Must be between the years {FIRST_YEAR} and {LAST_YEAR}."]
        try:
            usd_rate = exact_decimal_for(ConversionRate, "usd_rate", row.get("usd_rate"))
            if usd_rate <= 0:
                row_errors["usd_rate"] = ["Must be greater than zero."]
        except MoneyError as exc:
            row_errors["usd_rate"] = [str(exc)]
        if not row_errors:
            if (currency, day) in seen:
                row_errors["day"] = [f"Duplicate of row {seen[currency, day]}."]
            seen[currency, day] = index
            cleaned.append((currency, day, usd_rate))
        if row_errors:
            errors[index] = row_errors
    if errors:
        raise RowErrors(errors)

    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if not cleaned:
        return counts
    with transaction.atomic():
        table = ConversionRate._meta.db_table
        sql = f"""
            SELECT r.* FROM {table} r
            JOIN unnest(%s::text[], %s::date[]) AS k(currency, day) ON k.currency = r.currency AND k.day = r.day
            FOR UPDATE OF r
        """
        params = [[c for c, _, _ in cleaned], [d for _, d, _ in cleaned]]
        existing = {(r.currency, r.day): r for r in ConversionRate.objects.raw(sql, params)}
        to_create: list[ConversionRate] = []
        to_update: list[ConversionRate] = []
        for currency, day, usd_rate in cleaned:
            rate = existing.get((currency, day))
            if rate is None:
                to_create.append(ConversionRate(currency=currency, day=day, usd_rate=usd_rate))
            elif rate.usd_rate != usd_rate:
                rate.usd_rate = usd_rate
                to_update.append(rate)
        if to_update:
            # A rate is data of its day: changing one inside an approved period would reprice paid trades (a
            # missing one may still be added — no approved run can have used it).
            changed = ", ".join(f"{r.currency} {r.day.isoformat()}" for r in to_update[:5])
            ensure_periods_open(
                periods={p for r in to_update for p in rate_periods(r.day)},
                subject=f"Changing the rate of {changed}{' …' if len(to_update) > 5 else ''}",
                area=Area.RATES,
            )
        ConversionRate.objects.bulk_create(to_create, batch_size=5000)
        if to_update:
            ConversionRate.objects.bulk_update(to_update, ["usd_rate"], batch_size=5000)
        counts["created"] = len(to_create)
        counts["updated"] = len(to_update)
        counts["unchanged"] = len(cleaned) - len(to_create) - len(to_update)
    return counts
