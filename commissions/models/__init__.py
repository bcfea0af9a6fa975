from .instruments import ConversionRate, Instrument, InstrumentAlias, SymbolSuffix
from .ledger import JournalEntry, JournalTransaction, LedgerAccount
from .plans import PartnerPlan, Plan, PlanRule, PlanTier, Rebate
from .runs import AttributionLine, Run, RunChunk, RunTierVolume
from .trades import Mt5OpenDeal, Trade, TradeImport

__all__ = [
    "AttributionLine",
    "ConversionRate",
    "Instrument",
    "InstrumentAlias",
    "JournalEntry",
    "JournalTransaction",
    "LedgerAccount",
    "Mt5OpenDeal",
    "PartnerPlan",
    "Plan",
    "PlanRule",
    "PlanTier",
    "Rebate",
    "Run",
    "RunChunk",
    "RunTierVolume",
    "SymbolSuffix",
    "Trade",
    "TradeImport",
]
