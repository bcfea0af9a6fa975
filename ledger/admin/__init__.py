"""Admin for the ledger: currencies, rates, ledger accounts, the journal, period locks and the trial balance
(``journal``), and payout batches (``payouts``)."""

from . import journal, payouts

__all__ = ["journal", "payouts"]
