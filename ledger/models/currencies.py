from django.db import models
from django.db.models import Q

from core.currencies import CURRENCY_PATTERN, configured_minor_units
from core.money import LEDGER_PLACES, minor_unit

__all__ = ["ConversionRate", "Currency", "configured_minor_units", "minor_unit_for"]


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
            models.CheckConstraint(condition=Q(code__regex=CURRENCY_PATTERN), name="currency_code_format"),
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


def minor_unit_for(code: str) -> int:
    """The unit a currency not used yet would get: the broker's setting, else ``core.money``'s."""
    return configured_minor_units().get(code, minor_unit(code))
