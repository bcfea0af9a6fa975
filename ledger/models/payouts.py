"""Payout batches (DOMAIN.md 6): what finance pays partners (and money managers) out of their approved payables.

A batch is made for a period and holds one line per partner that had something available then: the partner's
payable balances (one ``PayoutItem`` per payable ledger account, i.e. per purpose and currency) converted to its
payout currency at a recorded rate. A line is to be paid, carried over (below the program's minimum, or nothing
positive: a clawback nets against later earnings) or held (a suspended partner, missing payout details), each with
its reason. States: draft → approved (by another user than the creator: PostgreSQL checks it too) → exported →
paid, or draft → discarded. Paying a line posts one payout transaction per item through the ledger's posting API;
a failed line goes back to payable with its reason.

Only lines to pay of open batches (draft, approved, exported) hold money: a new batch takes what they do not hold.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from core.money import LEDGER_PLACES
from partners.models import Partner

from .accounts import LedgerAccount
from .journal import JournalTransaction


class PayoutBatch(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        EXPORTED = "exported", "Exported"
        PAID = "paid", "Paid"
        DISCARDED = "discarded", "Discarded"

    OPEN = (Status.DRAFT, Status.APPROVED, Status.EXPORTED)

    period = models.CharField(max_length=7, help_text="Payables approved up to this period's end (YYYY-MM)")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(db_default=Now())
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    exported_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who marked its last line paid or failed, or discarded it",
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "payout batches"
        permissions = [
            ("approve_payoutbatch", "Can approve a payout batch (another user's)"),
            ("export_payoutbatch", "Can export a payout batch"),
            ("pay_payoutbatch", "Can mark payout lines paid or failed"),
        ]
        constraints = [
            # Maker-checker, whatever client writes the row.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("created_by")),
                name="payoutbatch_approved_by_another_user",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "discarded"]) | Q(approved_by__isnull=False),
                name="payoutbatch_approved_before_export",
            ),
        ]
        indexes = [models.Index(fields=["status", "period"], name="payoutbatch_status")]

    def __str__(self) -> str:
        return f"payout batch {self.pk} {self.period} ({self.status})"


class PayoutLine(models.Model):
    class Status(models.TextChoices):
        TO_PAY = "to_pay", "To pay"
        CARRIED_OVER = "carried_over", "Carried over"
        HELD = "held", "Held"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="lines")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices)
    reason = models.CharField(max_length=255, blank=True)
    # The partner's payout settings when the batch was made: what was approved is what is exported.
    partner_name = models.CharField(max_length=200)
    payout_method = models.CharField(max_length=32, blank=True)
    payout_account = models.CharField(max_length=200, blank=True)
    payout_currency = models.CharField(max_length=8)
    amount = models.DecimalField(
        max_digits=28, decimal_places=LEDGER_PLACES, help_text="In the payout currency, at its minor unit"
    )
    minimum = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    minimum_currency = models.CharField(max_length=8)
    amount_in_minimum_currency = models.DecimalField(max_digits=28, decimal_places=LEDGER_PLACES)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="When it was marked paid or failed")

    class Meta:
        ordering = ["batch", "partner__code"]
        constraints = [models.UniqueConstraint(fields=["batch", "partner"], name="payoutline_one_per_partner")]
        indexes = [models.Index(fields=["status", "batch"], name="payoutline_status")]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.amount} {self.payout_currency} ({self.status})"


class PayoutItem(models.Model):
    """One payable account's part of a line: its available balance, the rate it was converted at and the payout
    transaction that paid it."""

    line = models.ForeignKey(PayoutLine, on_delete=models.PROTECT, related_name="items")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=8)
    amount = models.DecimalField(
        max_digits=28, decimal_places=LEDGER_PLACES, help_text="Available balance, in the account's currency"
    )
    rate = models.DecimalField(max_digits=30, decimal_places=18, help_text="Payout currency per unit of currency")
    rate_day = models.DateField()
    converted = models.DecimalField(max_digits=40, decimal_places=26, help_text="amount × rate, exact")
    transaction = models.OneToOneField(
        JournalTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["line", "id"]
        constraints = [models.UniqueConstraint(fields=["line", "account"], name="payoutitem_one_per_account")]
        indexes = [models.Index(fields=["account", "line"], name="payoutitem_account")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount} {self.currency}"
