from django.db import models
from django.db.models import Q

from core.models import TimeStamped


class Instrument(TimeStamped):
    """A canonical tradable symbol with its contract terms (DOMAIN.md section 2)."""

    symbol = models.CharField(max_length=32, unique=True)
    group = models.CharField(max_length=32, help_text="Symbol group, e.g. forex_major, metals, indices")
    base = models.CharField(max_length=8)
    quote = models.CharField(max_length=8)
    contract_size = models.DecimalField(max_digits=18, decimal_places=6)
    pip_size = models.DecimalField(max_digits=18, decimal_places=10)
    volume_step = models.DecimalField(max_digits=12, decimal_places=4, default="0.01")
    volume_min = models.DecimalField(max_digits=12, decimal_places=4, default="0.01")
    volume_max = models.DecimalField(max_digits=12, decimal_places=4, default="100")

    class Meta:
        ordering = ["symbol"]
        indexes = [models.Index(fields=["group"])]
        constraints = [
            models.CheckConstraint(condition=Q(contract_size__gt=0), name="instrument_contract_positive"),
            models.CheckConstraint(condition=Q(pip_size__gt=0), name="instrument_pip_positive"),
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
