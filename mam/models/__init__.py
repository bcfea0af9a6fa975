from .equity import CashFlow, EquitySnapshot
from .fees import FeeLine, MemberFeeState
from .groups import GroupFeeTerms, MamGroup
from .managers import MoneyManager
from .members import Member
from .trades import Allocation, MasterClose, MasterTrade, SubClose

__all__ = [
    "Allocation",
    "CashFlow",
    "EquitySnapshot",
    "FeeLine",
    "GroupFeeTerms",
    "MamGroup",
    "MasterClose",
    "MasterTrade",
    "Member",
    "MemberFeeState",
    "MoneyManager",
    "SubClose",
]

# Last: the audit trail's event models, one per tracked model above.
from . import audit  # noqa: F401
