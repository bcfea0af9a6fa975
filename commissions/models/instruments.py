from decimal import Decimal

from django.db import models
from django.db.models import Q

from core.models import TimeStamped

MAX_DIGITS = 10  # the price columns' decimal places


def default_digits(*, pip_size: Decimal, group: str) -> int:
    """The quote digits of an instrument given without them: FX quotes carry a fractional pip (a pip is ten points:
    pip 0.0001 → 5 digits, a JPY pip 0.01 → 3); anything else is quoted to its pip (XAUUSD pip 0.01 → 2 digits).
    Brokers whose metals, indices or crypto are quoted otherwise give ``digits`` as their platform reports it."""
    places = max(0, -pip_size.normalize().as_tuple().exponent)
    return min(MAX_DIGITS, places + 1 if group.lower().startswith("forex") else places)


class Instrument(TimeStamped):
    """A canonical tradable symbol with its contract terms (DOMAIN.md section 2)."""

    symbol = models.CharField(max_length=32, unique=True)
    group = models.CharField(max_length=32, help_text="Symbol group, e.g. forex_major, metals, indices")
    base = models.CharField(max_length=8)
    quote = models.CharField(max_length=8)
    contract_size = models.DecimalField(max_digits=18, decimal_places=6)
    pip_size = models.DecimalField(max_digits=18, decimal_places=10)
    digits = models.PositiveSmallIntegerField(
        help_text="Quote digits as MT4/MT5 report them: a point, the smallest price step, is 10^-digits "
        "(EURUSD 5, USDJPY 3, a 2-digit XAUUSD 2). min_points counts these points."
    )
    volume_step = models.DecimalField(max_digits=12, decimal_places=4, default="0.01")
    volume_min = models.DecimalField(max_digits=12, decimal_places=4, default="0.01")
    volume_max = models.DecimalField(max_digits=12, decimal_places=4, default="100")

    class Meta:
        ordering = ["symbol"]
        indexes = [models.Index(fields=["group"])]
        constraints = [
            models.CheckConstraint(condition=Q(contract_size__gt=0), name="instrument_contract_positive"),
            models.CheckConstraint(condition=Q(pip_size__gt=0), name="instrument_pip_positive"),
            models.CheckConstraint(condition=Q(digits__lte=MAX_DIGITS), name="instrument_digits_in_range"),
            models.CheckConstraint(
                condition=Q(volume_step__gt=0) & Q(volume_min__gt=0) & Q(volume_max__gte=models.F("volume_min")),
                name="instrument_volume_limits",
            ),
        ]

    def __str__(self) -> str:
        return self.symbol


class InstrumentAlias(models.Model):
    """A platform symbol (``EURUSD.m``, ``GOLD``) that maps to a canonical instrument."""

    alias = models.CharField(max_length=48, unique=True)
    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "instrument aliases"

    def __str__(self) -> str:
        return f"{self.alias} → {self.instrument_id}"


class SymbolSuffix(models.Model):
    """A broker suffix (``.m``, ``.ecn``, ``pro``) stripped from platform symbols before lookup."""

    suffix = models.CharField(max_length=16, unique=True)

    class Meta:
        ordering = ["suffix"]
        verbose_name_plural = "symbol suffixes"

    def __str__(self) -> str:
        return self.suffix
