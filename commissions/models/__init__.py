from .claims import ClaimAction, PostingClaim
from .instruments import Instrument, InstrumentAlias, SymbolSuffix
from .locked import LockedCommissionPeriod
from .plans import PartnerPlan, Plan, PlanRule, PlanTerms, PlanTier, Rebate
from .runs import AttributionLine, RunTierVolume
from .trades import LateTradeVersion, Mt5Deal, Mt5OpenDeal, Trade, TradeImport

__all__ = [
    "AttributionLine",
    "ClaimAction",
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
    "PostingClaim",
    "Rebate",
    "RunTierVolume",
    "SymbolSuffix",
    "Trade",
    "TradeImport",
]

# Last: the audit trail's event models, one per tracked model above.
from . import audit  # noqa: F401
