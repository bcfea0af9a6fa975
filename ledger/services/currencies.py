"""Currencies the ledger posts in: created on first use, with the minor unit the broker set in
``IBEX_CURRENCY_MINOR_UNITS`` (e.g. a house unit such as ``USC`` cents accounts at 2, or a coin at 8 — at most 8,
the journal's places), else the one ``core.money`` gives (babel's CLDR precision, explicit units for crypto). Fixed
from then on: every amount posted in a currency was rounded to its unit, so a later change of the setting affects
only currencies not yet used (changing a used one is a migration of its own, not a setting)."""

from __future__ import annotations

from collections.abc import Iterable

from babel.numbers import get_currency_name

from core.exceptions import ApplicationError

from ..models import Currency
from ..models.currencies import minor_unit_for


def currencies_ensure(*, codes: Iterable[str]) -> dict[str, Currency]:
    """The ``Currency`` rows for ``codes``, creating the missing ones (concurrent creators are harmless)."""
    wanted = {code.strip().upper() for code in codes}
    found = {c.code: c for c in Currency.objects.filter(code__in=wanted)}
    missing = sorted(wanted - set(found))
    bad = [code for code in missing if not code.isalnum() or not 3 <= len(code) <= 8]
    if bad:
        raise ApplicationError(f"not currency codes: {', '.join(bad)}")
    if missing:
        Currency.objects.bulk_create(
            [
                Currency(code=code, name=get_currency_name(code, locale="en"), minor_unit=minor_unit_for(code))
                for code in missing
            ],
            ignore_conflicts=True,
        )
        found.update({c.code: c for c in Currency.objects.filter(code__in=missing)})
    return found
