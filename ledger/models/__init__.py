from .accounts import LedgerAccount
from .currencies import ConversionRate, Currency
from .journal import JournalEntry, JournalTransaction
from .locks import PeriodLock
from .payouts import PayoutBatch, PayoutItem, PayoutLine

__all__ = [
    "ConversionRate",
    "Currency",
    "JournalEntry",
    "JournalTransaction",
    "LedgerAccount",
    "PayoutBatch",
    "PayoutItem",
    "PayoutLine",
    "PeriodLock",
]

# Last: the audit trail's event models, one per tracked model above.
from . import audit  # noqa: F401
