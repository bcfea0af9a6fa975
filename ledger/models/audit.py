"""What the audit trail tracks of the ledger (``core.models.tracked``; README "Audit trail"): currencies (a minor
unit is fixed at first use), the daily USD rates, payout batches (made, approved, exported, paid or discarded — each
step's user is on the row too) and payout lines (as made: the amount and the payout details exported; then paid or
failed, with the reason).

Not tracked: the journal (append-only by trigger: every posting is already a permanent row naming its source),
ledger accounts and period locks (made by postings and approvals, which the runs' and batches' events show) and
payout items (fixed with their line).
"""

from core.models import tracked

from .currencies import ConversionRate, Currency
from .payouts import PayoutBatch, PayoutLine

for model in (Currency, ConversionRate, PayoutBatch, PayoutLine):
    tracked()(model)
