"""What the audit trail tracks of MAM (``core.models.tracked``; README "Audit trail"): managers, groups, their
dated fee schedules and their members (settings, risk limits, joining and leaving) — every insert, update and
delete, with who made it and how.

Not tracked row by row: the platform's feed and what runs compute — equity snapshots (COPY), cash flows, master
trades, allocations and closes, fee lines and fee states; the fee runs are (``runs.models``).
"""

from core.models import tracked

from .groups import GroupFeeTerms, MamGroup
from .managers import MoneyManager
from .members import Member

for model in (MoneyManager, MamGroup, GroupFeeTerms, Member):
    tracked()(model)
