"""Money and rounding: the one place amounts are rounded.

Units: amounts are ``Decimal`` in a currency named beside them. Attribution lines and rates keep 6 decimal places
(``LINE_PLACES``); journal entries and payouts are rounded to the currency's minor unit. Rounding is half-up (ties
away from zero), as PostgreSQL ``NUMERIC`` and spreadsheets do. No float ever reaches these functions.

Minor units come from babel (CLDR's currency data, ISO 4217 for fiat currencies), except for the units babel does
not know: crypto currencies, which CLDR treats as an unknown code with 2 places. ``CRYPTO_MINOR_UNITS`` names them
explicitly; the ledger stores the minor unit of every currency it posts in (``ledger.Currency``), taken from here when
the currency is first used.

Pure: no Django, so the engines may import it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision

LINE_PLACES = 6
LINE_QUANTUM = Decimal(1).scaleb(-LINE_PLACES)
# The journal's places: the finest minor unit a currency may have (a satoshi). Lines keep 6; a payable in BTC
# converted at a rate is rounded to 8.
LEDGER_PLACES = 8

# Units babel does not know (CLDR answers 2 for any unknown code). BTC and ETH as wallets and exchanges show them;
# USDT as trading platforms denominate USDT accounts.
CRYPTO_MINOR_UNITS = {"BTC": 8, "ETH": 8, "LTC": 8, "USDT": 2, "USDC": 2}


class MoneyError(ValueError):
    """An amount that is not an exact decimal."""


@lru_cache(maxsize=256)
def minor_unit(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit: babel's (CLDR) precision, or the explicit crypto override."""
    code = currency.strip().upper()
    if code in CRYPTO_MINOR_UNITS:
        return CRYPTO_MINOR_UNITS[code]
    return int(get_currency_precision(code))


def quantize(amount: Decimal, places: int) -> Decimal:
    """Round ``amount`` half-up to ``places`` decimal places: the one rounding operation of the project."""
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
