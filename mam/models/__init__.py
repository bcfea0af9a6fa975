from .equity import CashFlow, EquitySnapshot
from .groups import GroupFeeTerms, MamGroup
from .managers import MoneyManager
from .members import Member
from .trades import Allocation, MasterClose, MasterTrade, SubClose

__all__ = [
    "Allocation",
    "CashFlow",
    "EquitySnapshot",
    "GroupFeeTerms",
    "MamGroup",
    "MasterClose",
    "MasterTrade",
    "Member",
    "MoneyManager",
    "SubClose",
]
