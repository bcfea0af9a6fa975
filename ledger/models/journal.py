import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from core.money import LEDGER_PLACES

from .accounts import ACCOUNTS_TABLE, LedgerAccount
from .append_only import append_only
from .currencies import Currency
from .guards import GuardTrigger

# A transaction is checked once, at commit (a deferred constraint trigger on its row), so its legs may be inserted in
# any order: at least two legs summing to zero — one index scan of its legs.
_TRANSACTION_CHECK = """
    SELECT COUNT(*), SUM(e.amount) INTO legs, total FROM {entries} e WHERE e.transaction_id = NEW.id;
    IF legs < 2 THEN
        RAISE EXCEPTION 'journal transaction % (%) has fewer than two legs', NEW.id, NEW.source_key
            USING ERRCODE = 'check_violation';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'journal transaction % (%) is unbalanced: its legs must sum to zero', NEW.id, NEW.source_key
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
"""
# Checked once per INSERT statement over the inserted legs (a transition table), not once per leg:
# - a transaction's legs arrive in one statement: a leg for a transaction that already has legs from an earlier
#   statement is refused. So no leg is ever added to a posted transaction, nor to one whose balance check already ran
#   (``SET CONSTRAINTS ALL IMMEDIATE`` fires the deferred check early; a leg added after it would escape it);
# - a leg's account is in its transaction's currency (an account's currency never changes, so this holds for good).
_ENTRY_CHECK = """
    SELECT m.transaction_id INTO bad
      FROM (SELECT transaction_id, COUNT(*) AS legs FROM new_legs GROUP BY transaction_id) m
     WHERE (SELECT COUNT(*) FROM {entries} e WHERE e.transaction_id = m.transaction_id) <> m.legs
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % already has its legs: a transaction''s legs are inserted together, '
            'in one statement, and never added to later', bad USING ERRCODE = 'check_violation';
    END IF;
    SELECT n.transaction_id INTO bad
      FROM new_legs n JOIN {transactions} t ON t.id = n.transaction_id JOIN {accounts} a ON a.id = n.account_id
     WHERE a.currency <> t.currency
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % mixes currencies: every leg must be in its currency', bad
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
        # Finance reads of the whole journal, granted by role (core/roles.py), not by a model's view permission.
        permissions = [
            ("view_reconciliation", "Can view and export the reconciliation of a period"),
            ("export_balance_operations", "Can export platform balance operations (client rebates, MAM fees)"),
        ]
        indexes = [models.Index(fields=["period", "kind"], name="journaltx_period_kind")]
        triggers = [
            *append_only("journaltx"),
            GuardTrigger(
                name="journaltx_balanced",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                declare=[("legs", "bigint"), ("total", "numeric")],
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
    amount = models.DecimalField(max_digits=28, decimal_places=LEDGER_PLACES)

    class Meta:
        db_table = ENTRIES_TABLE
        ordering = ["transaction_id", "id"]
        indexes = [models.Index(fields=["account", "transaction"], name="journalentry_account")]
        triggers = [
            *append_only("journalentry"),
            GuardTrigger(
                name="journalentry_with_its_transaction",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_legs"),
                declare=[("bad", "bigint")],
                func=_ENTRY_CHECK.format(**_TABLES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount}"
