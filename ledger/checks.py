"""System checks of the ledger's settings: a bad ``IBEX_CURRENCY_MINOR_UNITS`` is reported by ``manage.py check``
and at every start, not at the first posting in the currency (in the middle of an approval)."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .models.currencies import configured_minor_units


@checks.register(checks.Tags.compatibility)
def check_currency_minor_units(app_configs, **kwargs) -> list[checks.CheckMessage]:
    try:
        configured_minor_units()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint="e.g. IBEX_CURRENCY_MINOR_UNITS=USC=2,XBT=8", id="ledger.E001")]
    return []
