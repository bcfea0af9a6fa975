import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from .accounts import ACCOUNTS_TABLE, LedgerAccount
from .append_only import append_only
from .currencies import Currency

# A transaction is checked once, at commit (a deferred constraint trigger on its row), so its legs may be inserted in
# any order: at least two legs, every leg in the transaction's currency, legs summing to zero.
_TRANSACTION_CHECK = """
    IF (SELECT COUNT(*) FROM {entries} WHERE transaction_id = NEW.id) < 2 THEN
        RAISE EXCEPTION 'journal transaction % (%) has fewer than two legs', NEW.id, NEW.source_key
            USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM {entries} e JOIN {accounts} a ON a.id = e.account_id
         WHERE e.transaction_id = NEW.id AND a.currency <> NEW.currency
    ) THEN
        RAISE EXCEPTION 'journal transaction % (%) mixes currencies: every leg must be in %', NEW.id, NEW.source_key,
            NEW.currency USING ERRCODE = 'check_violation';
    END IF;
    IF (SELECT SUM(amount) FROM {entries} WHERE transaction_id = NEW.id) <> 0 THEN
        RAISE EXCEPTION 'journal transaction % (%) is unbalanced: its legs must sum to zero', NEW.id, NEW.source_key
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
"""
# A leg joins only a transaction created by the same database transaction: legs can never be added to a posted
# transaction, balanced or not. The transaction row is visible here and its inserting transaction is still in
# progress only if that is this transaction (or one of its savepoints): another's uncommitted rows are invisible.
_ENTRY_CHECK = """
    IF NOT EXISTS (
        SELECT 1 FROM {transactions} t
         WHERE t.id = NEW.transaction_id
           AND pg_xact_status(
                   (((pg_current_xact_id()::text::bigint >> 32) << 32) | t.xmin::text::bigint)::text::xid8
               ) = 'in progress'
    ) THEN
        RAISE EXCEPTION 'journal transaction % is posted: legs are added only in the transaction that posts it',
            NEW.transaction_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
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
                name="journaltx_balanced",
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
                name="journalentry_with_its_transaction",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func=_ENTRY_CHECK.format(**_TABLES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount}"
