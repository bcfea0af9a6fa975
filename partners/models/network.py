import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from core.models import TimeStamped, effective_dated_constraints
from core.vocabulary import HierarchyModel


class Program(TimeStamped):
    """A partner program: the hierarchy model, its depth and shares, and the payout threshold.

    ``model``, ``max_depth``, ``shares`` and ``override_pct`` are the program's latest terms; what was in force when
    is the dated record in ``ProgramTerms`` (runs read that). ``min_payout`` and ``currency`` are payout settings,
    read when a payout is made, and not dated.
    """

    Model = HierarchyModel

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    model = models.CharField(max_length=16, choices=HierarchyModel.choices, default=HierarchyModel.DIFFERENTIAL.value)
    max_depth = models.PositiveSmallIntegerField(default=10)
    # Percentages, e.g. 30 for 30 %: cascade pass-up shares per level, override percentages per upline level.
    shares = ArrayField(models.DecimalField(max_digits=9, decimal_places=4), default=list, blank=True)
    override_pct = ArrayField(models.DecimalField(max_digits=9, decimal_places=4), default=list, blank=True)
    min_payout = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(max_depth__gte=1), name="program_max_depth_positive"),
            models.CheckConstraint(condition=Q(min_payout__gte=0), name="program_min_payout_non_negative"),
        ]

    def __str__(self) -> str:
        return self.code


class ProgramTerms(models.Model):
    """The terms a program had during ``[valid_from, valid_to)`` (DOMAIN.md 4.0: terms are dated too): every trade is
    priced with the model, depth, shares and override percentages in force at its close time."""

    Model = HierarchyModel

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="terms")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    model = models.CharField(max_length=16, choices=HierarchyModel.choices)
    max_depth = models.PositiveSmallIntegerField()
    shares = ArrayField(models.DecimalField(max_digits=9, decimal_places=4), default=list, blank=True)
    override_pct = ArrayField(models.DecimalField(max_digits=9, decimal_places=4), default=list, blank=True)

    class Meta:
        ordering = ["program_id", "valid_from"]
        constraints = [
            *effective_dated_constraints("program", "programterms"),
            models.CheckConstraint(condition=Q(max_depth__gte=1), name="programterms_max_depth_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.program_id} terms from {self.valid_from:%Y-%m-%d %H:%M}"


# Referral codes travel in links and are typed by hand: upper-case letters and digits without 0/O and 1/I/L.
REFERRAL_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERRAL_LENGTH = 10


def new_referral_code() -> str:
    """A random referral code (31^10 ≈ 8·10^14 codes: a collision is refused by the unique index, never merged)."""
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_LENGTH))


class Partner(TimeStamped):
    """An introducing broker (IB). Its parent is effective-dated in ``PartnerLink``; it may have a login user."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="partner"
    )
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="partners")
    # The latest status set; what held when is the dated record in ``PartnerStatus`` (runs read that).
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    payout_currency = models.CharField(max_length=8, default="USD")  # USDT, a configured unit: ledger.Currency's width
    payout_method = models.CharField(max_length=32, blank=True)
    payout_account = models.CharField(max_length=200, blank=True)
    referral_code = models.CharField(
        max_length=16, unique=True, default=new_referral_code, editable=False, help_text="the code of its links"
    )

    class Meta:
        ordering = ["code"]
        # Payout details are bank or wallet data: support reads partners without them, and only finance sets where
        # a partner's money goes (core/roles.py).
        permissions = [
            ("view_payout_details", "Can see partners' payout method and account"),
            ("change_payout_details", "Can set partners' payout method and account"),
        ]

    def __str__(self) -> str:
        return self.code


class PartnerLink(models.Model):
    """One stretch of time ``[valid_from, valid_to)`` during which ``partner`` sat under ``parent`` (NULL = top).

    Rows are never rewritten by a move: the open row is closed and a new one starts, so every past instant keeps
    the tree it had. Overlaps are impossible (exclusion constraint); cycles are rejected by the move service.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="links")
    parent = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="child_links")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["partner_id", "valid_from"]
        indexes = [models.Index(fields=["parent", "valid_from"])]
        constraints = [
            *effective_dated_constraints("partner", "partnerlink"),
            models.CheckConstraint(condition=~Q(parent=F("partner")), name="partnerlink_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} under {self.parent_id} from {self.valid_from:%Y-%m-%d %H:%M}"


class PartnerStatus(models.Model):
    """A partner's status during ``[valid_from, valid_to)``: a trade closed while the partner was suspended earns
    it nothing, in every run and adjustment, whatever its status is now (DOMAIN.md 4.0)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="statuses")
    status = models.CharField(max_length=16, choices=Partner.Status.choices)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["partner_id", "valid_from"]
        constraints = effective_dated_constraints("partner", "partnerstatus")
        verbose_name_plural = "partner statuses"

    def __str__(self) -> str:
        return f"{self.partner_id} {self.status} from {self.valid_from:%Y-%m-%d %H:%M}"


class PartnerProgram(models.Model):
    """The program a partner belonged to during ``[valid_from, valid_to)``: a trade's chain is priced under the
    program (and its terms) the level-1 partner had at the trade's close time, so a switch never reprices what came
    before (DOMAIN.md 4.0). ``Partner.program`` keeps the latest."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="programs")
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["partner_id", "valid_from"]
        constraints = effective_dated_constraints("partner", "partnerprogram")

    def __str__(self) -> str:
        return f"{self.partner_id} in {self.program_id} from {self.valid_from:%Y-%m-%d %H:%M}"
