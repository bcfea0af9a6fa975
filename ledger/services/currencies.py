"""Currencies the ledger posts in: created on first use, with the minor unit the broker set in
``IBEX_CURRENCY_MINOR_UNITS`` (e.g. a house unit such as ``USC`` cents accounts at 2, or an exotic coin at 6), else
the one ``core.money`` gives (babel's CLDR precision, explicit units for crypto). Fixed from then on: every amount
posted in a currency was rounded to its unit, so a later change of the setting affects only currencies not yet
used (changing a used one is a migration of its own, not a setting)."""

from __future__ import annotations

from collections.abc import Iterable

from babel.numbers import get_currency_name
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.exceptions import ApplicationError
from core.money import minor_unit

from ..models import Currency


def currencies_ensure(*, codes: Iterable[str]) -> dict[str, Currency]:
    """The ``Currency`` rows for ``codes``, creating the missing ones (concurrent creators are harmless)."""
    wanted = {code.strip().upper() for code in codes}
    found = {c.code: c for c in Currency.objects.filter(code__in=wanted)}
    missing = sorted(wanted - set(found))
    bad = [code for code in missing if not code.isalnum() or not 3 <= len(code) <= 8]
    if bad:
        raise ApplicationError(f"not currency codes: {', '.join(bad)}")
    if missing:
        units = configured_minor_units()
        Currency.objects.bulk_create(
            [
                Currency(
                    code=code, name=get_currency_name(code, locale="en"), minor_unit=units.get(code, minor_unit(code))
                )
                for code in missing
            ],
            ignore_conflicts=True,
        )
        found.update({c.code: c for c in Currency.objects.filter(code__in=missing)})
    return found


def configured_minor_units() -> dict[str, int]:
    """``IBEX_CURRENCY_MINOR_UNITS`` as {code: places}; a value that is not 0–18 places is a configuration error."""
    units: dict[str, int] = {}
    for code, places in (getattr(settings, "IBEX_CURRENCY_MINOR_UNITS", None) or {}).items():
        try:
            value = int(places)
        except (TypeError, ValueError):
            value = -1
        if not 0 <= value <= 18:
            raise ImproperlyConfigured(f"IBEX_CURRENCY_MINOR_UNITS[{code!r}] must be 0 to 18 places, got {places!r}")
        units[str(code).strip().upper()] = value
    return units
