import pgtrigger
from django.conf import settings
from django.db import models

from partners.models import ClientAccount, Partner

from .runs import Run

_BALANCE_CHECK = """
    IF EXISTS (
        SELECT 1 FROM commissions_journalentry
        WHERE transaction_id = NEW.transaction_id
        GROUP BY currency HAVING SUM(amount) <> 0
    ) THEN
        RAISE EXCEPTION 'journal transaction % is unbalanced: its legs must sum to zero per currency',
            NEW.transaction_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
"""


class LedgerAccount(models.Model):
    """An account of the double-entry journal: a partner's payable, a client's rebate payable, the broker's
    commission expense, the rounding account, payout clearing."""

    class Type(models.TextChoices):
        PARTNER_PAYABLE = "partner_payable", "Partner payable"
        CLIENT_PAYABLE = "client_payable", "Client rebate payable"
        COMMISSION_EXPENSE = "commission_expense", "Commission expense"
        ROUNDING = "rounding", "Rounding"
        PAYOUT_CLEARING = "payout_clearing", "Payout clearing"

    type = models.CharField(max_length=24, choices=Type.choices)
    currency = models.CharField(max_length=3)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT)
    client_account = models.ForeignKey(ClientAccount, null=True, blank=True, on_delete=models.PROTECT)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["type", "currency", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["type", "currency", "partner", "client_account"],
                nulls_distinct=False,
                name="ledgeraccount_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class JournalTransaction(models.Model):
    """A posted, balanced journal transaction: one per (run, beneficiary, kind, currency) on approval, or one per
    payout or reversal. Never updated or deleted (database triggers); corrections are new reversing transactions."""

    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")
    period = models.CharField(max_length=7)
    kind = models.CharField(max_length=16)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT)
    client_account = models.ForeignKey(ClientAccount, null=True, blank=True, on_delete=models.PROTECT)
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=255, blank=True)
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    posted_at = models.DateTimeField(auto_now_add=True)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-posted_at", "id"]
        indexes = [models.Index(fields=["partner", "period"])]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "partner", "client_account", "kind", "currency"],
                condition=models.Q(run__isnull=False),
                nulls_distinct=False,
                name="journaltx_one_per_run_beneficiary_kind",
            ),
        ]
        triggers = [pgtrigger.Protect(name="journaltx_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"tx {self.pk} {self.kind} {self.period}"


class JournalEntry(models.Model):
    """One leg of a journal transaction: a signed amount (debit > 0, credit < 0) on a ledger account. Payable legs
    are rounded to the currency's minor unit; the expense leg carries the exact 6-dp sum and the rounding leg the
    difference. The legs of a transaction sum to zero per currency, checked by PostgreSQL at commit."""

    transaction = models.ForeignKey(JournalTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.DecimalField(max_digits=24, decimal_places=6)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["transaction_id", "id"]
        indexes = [models.Index(fields=["account", "transaction"])]
        triggers = [
            pgtrigger.Protect(name="journalentry_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            pgtrigger.Trigger(
                name="journalentry_balanced",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func=_BALANCE_CHECK,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount} {self.currency}"
