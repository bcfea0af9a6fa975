from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from core.models import TimeStamped, TstzRange, effective_dated_constraints
from partners.models import ClientAccount, Partner

from ..vocabulary import RuleType, TierMode
from .instruments import Instrument


class Plan(TimeStamped):
    """A commission plan: rules that price each trade, eligibility filters and volume tiers (DOMAIN.md 4.1-4.3).

    Rates are in ``currency``; line amounts are in USD (converted on the trade's close day). The settings here, the
    tiers and the active rules are the plan's latest terms (what the admin and the API show and edit); what was in
    force when is the dated record in ``PlanTerms``, which runs read.
    """

    TierMode = TierMode

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    both_legs = models.BooleanField(default=False, help_text="per_million counts the open leg's notional too")
    min_hold_seconds = models.PositiveIntegerField(null=True, blank=True)
    min_points = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    tier_mode = models.CharField(max_length=12, choices=TierMode.choices, default=TierMode.RETROACTIVE.value)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class PlanTier(models.Model):
    """A volume band ``[from_lots, next from_lots)`` on the partner's direct period lots with a rate multiplier."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="tiers")
    from_lots = models.DecimalField(max_digits=16, decimal_places=4)
    multiplier = models.DecimalField(max_digits=9, decimal_places=4)

    class Meta:
        ordering = ["plan_id", "from_lots"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "from_lots"], name="plantier_unique_band"),
            models.CheckConstraint(condition=Q(from_lots__gte=0) & Q(multiplier__gte=0), name="plantier_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} ≥{self.from_lots} ×{self.multiplier}"


class PlanRule(models.Model):
    """One pricing rule of a plan; the most specific matching rule of each kind prices a trade (DOMAIN.md 4.1)."""

    Type = RuleType

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="rules")
    type = models.CharField(max_length=20, choices=RuleType.choices)
    instrument = models.ForeignKey(Instrument, null=True, blank=True, on_delete=models.PROTECT)
    symbol_group = models.CharField(max_length=32, blank=True)
    account_group = models.CharField(max_length=64, blank=True)
    rate = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    pct = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    priority = models.IntegerField(default=100)
    # A rule that posted lines refer to is retired rather than deleted, so every line keeps its explanation.
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["plan_id", "priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(instrument__isnull=False) & ~Q(symbol_group="")), name="planrule_symbol_or_group"
            ),
            models.CheckConstraint(
                condition=(Q(type__in=["per_lot", "per_million"]) & Q(rate__isnull=False) & Q(rate__gte=0))
                | (Q(type__in=["spread_share", "commission_share"]) & Q(pct__gte=0) & Q(pct__lte=100)),
                name="planrule_rate_or_pct",
            ),
        ]

    def __str__(self) -> str:
        target = self.instrument_id or self.symbol_group or "*"
        return f"{self.plan_id}:{self.type}:{target}"


class PlanTerms(models.Model):
    """The content a plan had during ``[valid_from, valid_to)``: settings, tiers and the set of rules (DOMAIN.md 4.0).

    A trade is priced with the terms of its partner's plan in force at its close time, so a change never reprices
    what came before. A rule is one immutable row shared by every terms of the plan that contains it (its id is what
    lines refer to). ``tiers`` is ``[[from_lots, multiplier], ...]`` as exact decimal strings, ascending.
    """

    TierMode = TierMode

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="terms")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    both_legs = models.BooleanField()
    min_hold_seconds = models.PositiveIntegerField(null=True, blank=True)
    min_points = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    tier_mode = models.CharField(max_length=12, choices=TierMode.choices)
    tiers = models.JSONField(default=list, blank=True)
    rules = models.ManyToManyField(PlanRule, related_name="terms", blank=True)

    class Meta:
        ordering = ["plan_id", "valid_from"]
        constraints = effective_dated_constraints("plan", "planterms")
        verbose_name_plural = "plan terms"

    def __str__(self) -> str:
        return f"{self.plan_id} terms from {self.valid_from:%Y-%m-%d %H:%M}"


class PartnerPlan(models.Model):
    """Which plan ``partner`` earned on during ``[valid_from, valid_to)``; changes never rewrite the past."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="plan_assignments")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="assignments")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["partner_id", "valid_from"]
        constraints = effective_dated_constraints("partner", "partnerplan")

    def __str__(self) -> str:
        return f"{self.partner_id} on {self.plan_id} from {self.valid_from:%Y-%m-%d}"


class Rebate(models.Model):
    """A partner's rebate to one client account (or, with ``account`` NULL, to all its clients) during
    ``[valid_from, valid_to)``: a percent of what the IB earned on the trade, or a fixed amount per lot capped at
    it."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="rebates")
    account = models.ForeignKey(ClientAccount, null=True, blank=True, on_delete=models.CASCADE)
    pct = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    per_lot = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["partner_id", "account_id", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(pct__isnull=False) & Q(per_lot__isnull=True) & Q(pct__gte=0) & Q(pct__lte=100))
                | (Q(pct__isnull=True) & Q(per_lot__isnull=False) & Q(per_lot__gte=0)),
                name="rebate_pct_or_per_lot",
            ),
            # One account's rebate from one partner (or the partner's all-clients rebate) never overlaps itself in
            # time; an account-specific rebate may overlap the all-clients one, which it wins over (DOMAIN.md 4.5).
            ExclusionConstraint(
                name="rebate_no_overlap",
                expressions=[
                    (TstzRange(F("valid_from"), F("valid_to"), models.Value("[)")), RangeOperators.OVERLAPS),
                    ("partner", RangeOperators.EQUAL),
                    (Coalesce(F("account"), models.Value(0)), RangeOperators.EQUAL),
                ],
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")), name="rebate_forward"
            ),
        ]

    def __str__(self) -> str:
        return f"rebate {self.partner_id}→{self.account_id or '*'}"
