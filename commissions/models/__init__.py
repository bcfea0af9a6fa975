from .instruments import ConversionRate, Instrument, InstrumentAlias, SymbolSuffix
from .trades import Mt5OpenDeal, Trade, TradeImport

__all__ = [
    "ConversionRate",
    "Instrument",
    "InstrumentAlias",
    "Mt5OpenDeal",
    "SymbolSuffix",
    "Trade",
    "TradeImport",
]
