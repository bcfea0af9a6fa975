from .accounts import LedgerAccount
from .currencies import ConversionRate, Currency
from .journal import JournalEntry, JournalTransaction
from .locks import PeriodLock

__all__ = ["ConversionRate", "Currency", "JournalEntry", "JournalTransaction", "LedgerAccount", "PeriodLock"]
