"""Currencies the ledger posts in: created on first use with the minor unit ``core.money`` gives (babel's CLDR
precision, explicit overrides for crypto units); fixed from then on."""

from __future__ import annotations

from collections.abc import Iterable

from babel.numbers import get_currency_name

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
        Currency.objects.bulk_create(
            [
                Currency(code=code, name=get_currency_name(code, locale="en"), minor_unit=minor_unit(code))
                for code in missing
            ],
            ignore_conflicts=True,
        )
        found.update({c.code: c for c in Currency.objects.filter(code__in=missing)})
    return found
