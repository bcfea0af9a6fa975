from .instruments import Instrument, InstrumentAlias, SymbolSuffix
from .locked import LockedCommissionPeriod
from .plans import PartnerPlan, Plan, PlanRule, PlanTerms, PlanTier, Rebate
from .runs import AttributionLine, RunTierVolume
from .trades import LateTradeVersion, Mt5Deal, Mt5OpenDeal, Trade, TradeImport

__all__ = [
    "AttributionLine",
    "Instrument",
    "InstrumentAlias",
    "LateTradeVersion",
    "LockedCommissionPeriod",
    "Mt5Deal",
    "Mt5OpenDeal",
    "PartnerPlan",
    "Plan",
    "PlanRule",
    "PlanTerms",
    "PlanTier",
    "Rebate",
    "RunTierVolume",
    "SymbolSuffix",
    "Trade",
    "TradeImport",
]
