"""Money and rounding: the one place amounts are rounded.

Units: amounts are ``Decimal`` in a currency named beside them. Attribution lines and rates keep 6 decimal places
(``LINE_PLACES``); journal entries and payouts are rounded to the currency's minor unit. Rounding is half-up (ties
away from zero), as PostgreSQL ``NUMERIC`` and spreadsheets do. No float ever reaches these functions.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

LINE_PLACES = 6
LINE_QUANTUM = Decimal(1).scaleb(-LINE_PLACES)

# ISO 4217 minor units for currencies that differ from the usual 2.
_MINOR_UNITS = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "HUF": 2,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
    "BTC": 8,
    "USDT": 2,
}


class MoneyError(ValueError):
    """An amount that is not an exact decimal."""


def minor_unit(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (2 unless ISO 4217 says otherwise)."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def quantize(amount: Decimal, places: int) -> Decimal:
    """Round ``amount`` half-up to ``places`` decimal places."""
    if not isinstance(amount, Decimal):
        raise MoneyError(f"expected Decimal, got {type(amount).__name__}")
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def round_line(amount: Decimal) -> Decimal:
    """Round an attribution-line amount or rate to 6 decimal places."""
    return quantize(amount, LINE_PLACES)


def round_minor(amount: Decimal, currency: str) -> Decimal:
    """Round a posted amount to the currency's minor unit."""
    return quantize(amount, minor_unit(currency))


def from_micros(micros: int | None) -> Decimal | None:
    """Integer micro-units (how lines store amounts, rates and bases) as the exact 6-dp Decimal; None stays None.
    Exact, not rounded: a bigint has at most 19 digits, within the default context's 28."""
    return None if micros is None else Decimal(int(micros)).scaleb(-LINE_PLACES)


def parse_decimal(text: str | int | Decimal) -> Decimal:
    """Parse an exact decimal from text; reject NaN, infinities and anything that is not a number."""
    if isinstance(text, Decimal):
        value = text
    else:
        try:
            value = Decimal(str(text).strip())
        except (InvalidOperation, ValueError) as exc:
            raise MoneyError(f"not a decimal number: {text!r}") from exc
    if not value.is_finite():
        raise MoneyError(f"not a finite number: {text!r}")
    return value
