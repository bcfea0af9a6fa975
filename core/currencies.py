"""Which currency codes the platform knows: the one rule every door applies (the API, the admin, the services).

A code is the ledger's shape (``ledger.Currency``: an upper-case letter then 2 to 7 upper-case letters or digits —
``EUR``, ``USDT``) and is *known* when the ledger has a defined minor unit for it:

- an ISO 4217 currency that is legal tender somewhere today (CLDR's territory data, through babel);
- a crypto unit ``core.money.CRYPTO_MINOR_UNITS`` names (BTC, ETH, LTC, USDT, USDC);
- a unit the broker configured (``IBEX_CURRENCY_MINOR_UNITS``), which wins over everything else.

Refused, by decision: the no-currency and test codes ``XXX``/``XTS``, precious metals (``XAU``, ``XAG``, ``XPT``,
``XPD``), fund and accounting units (``XDR``, ``CLF``, ``USN``…) and withdrawn codes (``HRK``, ``VEF``, ``SLL``).
ISO gives the first groups no minor unit and the ledger would round them at CLDR's default 2 places — a guess, not
a unit — and nobody is paid in a withdrawn currency. A broker who really pays in one configures its unit, which makes
it known. The ledger itself still accepts any code of its shape (conversion rates arrive for metals too); this
rule is for where a partner's money is to be paid.
"""

from __future__ import annotations

import re
from functools import cache

from babel.core import get_global
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .money import CRYPTO_MINOR_UNITS, LEDGER_PLACES

CURRENCY_PATTERN = r"^[A-Z][A-Z0-9]{2,7}$"
CURRENCY_MAX_LENGTH = 8
_CODE = re.compile(r"[A-Z][A-Z0-9]{2,7}")

CURRENCY_SHAPE_MESSAGE = (
    "Enter an upper-case currency code: a letter then 2 to 7 letters or digits (EUR, USDT), nothing around it."
)


def configured_minor_units() -> dict[str, int]:
    """``IBEX_CURRENCY_MINOR_UNITS`` as {code: places}; a value outside 0–8 places (what the journal holds) is a
    configuration error."""
    units: dict[str, int] = {}
    for code, places in (getattr(settings, "IBEX_CURRENCY_MINOR_UNITS", None) or {}).items():
        try:
            value = int(places)
        except (TypeError, ValueError):
            value = -1
        if not 0 <= value <= LEDGER_PLACES:
            raise ImproperlyConfigured(
                f"IBEX_CURRENCY_MINOR_UNITS[{code!r}] must be 0 to {LEDGER_PLACES} places, got {places!r}"
            )
        units[str(code).strip().upper()] = value
    return units


@cache
def _tender_today() -> frozenset[str]:
    """ISO 4217 codes that are legal tender in some territory with no end date (CLDR): active currencies, without
    XXX/XTS, metals, funds or withdrawn codes (those are non-tender or ended in CLDR's data)."""
    return frozenset(
        code
        for spans in get_global("territory_currencies").values()
        for code, _start, end, tender in spans
        if end is None and tender
    )


def known_currency(code: str) -> bool:
    """Whether the ledger has a defined minor unit for ``code`` (see the module's docstring)."""
    return code in configured_minor_units() or code in CRYPTO_MINOR_UNITS or code in _tender_today()


def currency_error(value: object) -> str | None:
    """Why ``value`` is not a known currency code; None when it is one. The shape is checked first, so ``usd`` is
    told to be upper-case rather than unknown."""
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        return CURRENCY_SHAPE_MESSAGE
    if not known_currency(value):
        return f"{value} is not a currency the ledger knows (an active ISO 4217 one, a crypto unit, or configured)."
    return None
