"""Trade file parsers: generic CSV, MT4 trades table and MT5 deals (API.md "Files"), streamed and validated per
block without Django; :mod:`commissions.services.trade_ingest` writes what they accept."""

from .formats import FORMATS, GENERIC, GENERIC_COLUMNS, MT4, MT5, FormatSpec
from .parser import ImportFatalError, ParsedBlock, Rejection, TradeFileParser

__all__ = [
    "FORMATS",
    "GENERIC",
    "GENERIC_COLUMNS",
    "MT4",
    "MT5",
    "FormatSpec",
    "ImportFatalError",
    "ParsedBlock",
    "Rejection",
    "TradeFileParser",
]
