from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Q

from core.money import LEDGER_PLACES, minor_unit


class Currency(models.Model):
    """A currency the ledger posts in, with the minor unit its amounts are rounded to.

    Created on first use by ``ledger.services.currencies`` (the broker's ``IBEX_CURRENCY_MINOR_UNITS``, else
    ``core.money.minor_unit``: babel's CLDR precision, explicit units for crypto) and fixed from then on: every posted
    amount in it was rounded to this unit.
    """

    code = models.CharField(max_length=8, primary_key=True)
    name = models.CharField(max_length=100, blank=True)
    minor_unit = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "currencies"
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z][A-Z0-9]{2,7}$"), name="currency_code_format"),
            models.CheckConstraint(condition=Q(minor_unit__lte=LEDGER_PLACES), name="currency_minor_unit_range"),
        ]

    def __str__(self) -> str:
        return self.code


class ConversionRate(models.Model):
    """USD value of one unit of ``currency`` on ``day``: X→Y on day d is ``amount × rate(X,d) / rate(Y,d)``.

    Rates are data of their day (DOMAIN.md 2). ``currency`` is a code, not a reference: rates arrive for any unit a
    price is quoted in (metals such as XAU too), not only the currencies the ledger posts in."""

    currency = models.CharField(max_length=8)
    day = models.DateField()
    usd_rate = models.DecimalField(max_digits=24, decimal_places=12)

    class Meta:
        ordering = ["currency", "day"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "day"], name="rate_currency_day_unique"),
            models.CheckConstraint(condition=Q(usd_rate__gt=0), name="rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.day} {self.usd_rate}"


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


def minor_unit_for(code: str) -> int:
    """The unit a currency not used yet would get: the broker's setting, else ``core.money``'s."""
    return configured_minor_units().get(code, minor_unit(code))
