from decimal import Decimal

import pgtrigger
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Cast, Coalesce

from core.money import from_micros
from core.vocabulary import LineKind
from ledger.models.append_only import append_only
from ledger.models.guards import GuardTrigger
from partners.models import ClientAccount, Partner
from runs.models import Run

from .plans import PlanRule
from .trades import Trade


def _micros_to_decimal(source: str, digits: int) -> models.GeneratedField:
    return models.GeneratedField(
        # The dividend carries six decimals: PostgreSQL keeps only about 16 significant digits of a quotient of
        # scale-0 operands, so 1234567890123456789 / 1000000 would come out as 1234567890123.4568.
        expression=Cast(F(source), models.DecimalField(max_digits=26, decimal_places=6)) / Value(Decimal(1_000_000)),
        output_field=models.DecimalField(max_digits=digits, decimal_places=6),
        db_persist=True,
    )


class AttributionLine(models.Model):
    """One immutable attribution: what ``partner`` (or, for a client rebate, ``beneficiary_account``) earned on one
    trade version, by kind and level, with the base, rate, tier and rule that produced it. Amounts are stored as
    integer micro-units (fast COPY) with ``amount`` the exact 6-dp NUMERIC that PostgreSQL derives from them."""

    Kind = LineKind

    # Lines are written by COPY in sets of hundreds of thousands with ids taken from the database itself, so the
    # foreign keys carry no database constraint (a deferred check per row per key doubled the write time) and no
    # extra index (the composite indexes below serve every query); deletes are still refused by Django (PROTECT).
    # The table is partitioned by run (migration 0004, ``runs.line_store``): its primary key is (id, run_id).
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="lines", db_constraint=False, db_index=False)
    period = models.CharField(max_length=7)
    trade = models.ForeignKey(
        Trade, on_delete=models.PROTECT, related_name="lines", db_constraint=False, db_index=False
    )
    account = models.ForeignKey(
        ClientAccount, null=True, on_delete=models.PROTECT, related_name="lines", db_constraint=False, db_index=False
    )
    partner = models.ForeignKey(
        Partner,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lines",
        db_constraint=False,
        db_index=False,
    )
    beneficiary_account = models.ForeignKey(
        ClientAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rebate_lines",
        db_constraint=False,
        db_index=False,
    )
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    level = models.PositiveSmallIntegerField()
    rule = models.ForeignKey(
        PlanRule, null=True, blank=True, on_delete=models.PROTECT, db_constraint=False, db_index=False
    )
    # Numbers are stored as integer micro-units (written by COPY without any decimal formatting). PostgreSQL derives
    # the NUMERIC ``amount`` that sums and the journal read; base, rate and multiplier are exact Decimal properties
    # (three more generated NUMERIC columns cost a third of the COPY time of a run's lines).
    base_micros = models.BigIntegerField(null=True, blank=True)
    rate_micros = models.BigIntegerField(null=True, blank=True)
    multiplier_micros = models.BigIntegerField(null=True, blank=True)
    amount_micros = models.BigIntegerField()
    amount = _micros_to_decimal("amount_micros", 20)
    tier = models.SmallIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    reason = models.CharField(max_length=32, blank=True)
    adjusts_period = models.CharField(max_length=7, blank=True, help_text="for adjustments: the locked period")

    class Meta:
        ordering = ["run_id", "trade_id", "level", "kind"]
        # Lines are read by run (its partition), by partner and by trade (the natural key); every index is built
        # once per run when the run finishes.
        indexes = [
            models.Index(fields=["partner", "period"]),
            # Lines paid 0 for want of set-up, found again when the set-up arrives (``services.late_setup``).
            models.Index(fields=["trade"], name="line_unpaid_for_setup", condition=Q(reason__in=["no_ib", "no_plan"])),
        ]
        constraints = [
            # Trade first: inside a run's partition (run_id is constant there) it also serves "lines of a trade".
            models.UniqueConstraint(
                F("trade"),
                F("run"),
                Coalesce(F("partner"), Value(0)),
                Coalesce(F("beneficiary_account"), Value(0)),
                F("kind"),
                F("level"),
                name="line_natural_key",
            ),
        ]
        # Lines are evidence of what was computed and posted: never edited or deleted, like the journal (a
        # correction is a new run's reversal and adjustment lines). The row triggers are cloned onto every run's
        # partition when it is attached; a failed run's stand-alone table is dropped before it is ever attached.
        # Chunks COPY into the run's stand-alone table, which has no trigger; once attached (the run is computed)
        # its lines are complete: no line is added after (what the run's posting claims are derived from, see
        # ``claims``).
        triggers = [
            *append_only("attributionline"),
            GuardTrigger(
                name="attributionline_published",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func="RAISE EXCEPTION 'the lines of run % are published: no line is added to a computed run', "
                "NEW.run_id USING ERRCODE = 'insufficient_privilege';",
            ),
        ]

    def __str__(self) -> str:
        return f"line {self.trade_id}/{self.kind}/L{self.level}"

    @property
    def base(self) -> Decimal | None:
        return from_micros(self.base_micros)

    @property
    def rate(self) -> Decimal | None:
        return from_micros(self.rate_micros)

    @property
    def multiplier(self) -> Decimal | None:
        return from_micros(self.multiplier_micros)


class RunTierVolume(models.Model):
    """A run's tier context: each partner's direct tier-eligible trades in the period with running volume, computed
    once when the run starts so every chunk (on any worker) prices tiers identically. Lots are integer 1/10 000."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    partner_id = models.BigIntegerField()
    trade_id = models.BigIntegerField()
    ticket = models.BigIntegerField()
    close_ns = models.BigIntegerField()
    lots = models.BigIntegerField()
    cum_lots = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["run", "partner_id"])]

    def __str__(self) -> str:
        return f"run {self.run_id} partner {self.partner_id} trade {self.trade_id}"
