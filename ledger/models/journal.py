import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from .accounts import ACCOUNTS_TABLE, LedgerAccount
from .append_only import append_only
from .currencies import Currency

# Checked at commit (deferred constraint triggers), so the legs of a transaction may be inserted in any order.
_TRANSACTION_CHECK = """
    IF NOT EXISTS (SELECT 1 FROM {entries} WHERE transaction_id = NEW.id OFFSET 1) THEN
        RAISE EXCEPTION 'journal transaction % (%) has fewer than two legs', NEW.id, NEW.source_key
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
"""
_ENTRY_CHECK = """
    IF EXISTS (
        SELECT 1 FROM {entries} e
          JOIN {accounts} a ON a.id = e.account_id JOIN {transactions} t ON t.id = e.transaction_id
         WHERE e.transaction_id = NEW.transaction_id AND a.currency <> t.currency
    ) THEN
        RAISE EXCEPTION 'journal transaction % mixes currencies: every leg must be in the transaction''s currency',
            NEW.transaction_id USING ERRCODE = 'check_violation';
    END IF;
    IF (SELECT SUM(amount) FROM {entries} WHERE transaction_id = NEW.transaction_id) <> 0 THEN
        RAISE EXCEPTION 'journal transaction % is unbalanced: its legs must sum to zero', NEW.transaction_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
"""
TRANSACTIONS_TABLE = "ledger_journaltransaction"
ENTRIES_TABLE = "ledger_journalentry"
_TABLES = {"entries": ENTRIES_TABLE, "accounts": ACCOUNTS_TABLE, "transactions": TRANSACTIONS_TABLE}


class JournalTransaction(models.Model):
    """A posted, balanced journal transaction in one currency, identified by its ``source_key``.

    The key names what was posted (``run:812:partner:45:volume:USD``, ``payout:17:line:3``), so posting the same thing
    twice collides instead of doubling. Never updated or deleted (database triggers); a correction is a new, reversing
    transaction (``reverses``, at most one per transaction). ``kind`` is what the money is (a line kind such as
    ``volume`` or ``rebate``, or ``payout``) and ``period`` the period it belongs to.
    """

    source_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32)
    period = models.CharField(max_length=7)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, db_column="currency", related_name="+")
    memo = models.CharField(max_length=255, blank=True)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    posted_at = models.DateTimeField(db_default=Now())
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = TRANSACTIONS_TABLE
        ordering = ["-posted_at", "id"]
        indexes = [models.Index(fields=["period", "kind"], name="journaltx_period_kind")]
        triggers = [
            *append_only("journaltx"),
            pgtrigger.Trigger(
                name="journaltx_has_legs",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func=_TRANSACTION_CHECK.format(**_TABLES),
            ),
        ]

    def __str__(self) -> str:
        return self.source_key


class JournalEntry(models.Model):
    """One leg of a journal transaction: a signed amount (debit > 0, credit < 0) on a ledger account, in the
    transaction's currency. Payable legs are rounded to the currency's minor unit; a leg posted ``exact`` (the expense
    leg of a commission run) keeps 6 places, and the rounding leg carries the difference."""

    transaction = models.ForeignKey(JournalTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.DecimalField(max_digits=24, decimal_places=6)

    class Meta:
        db_table = ENTRIES_TABLE
        ordering = ["transaction_id", "id"]
        indexes = [models.Index(fields=["account", "transaction"], name="journalentry_account")]
        triggers = [
            *append_only("journalentry"),
            pgtrigger.Trigger(
                name="journalentry_balanced",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func=_ENTRY_CHECK.format(**_TABLES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount}"
