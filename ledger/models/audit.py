"""What the audit trail tracks of the ledger (``core.models.tracked``; README "Audit trail"): currencies (a minor
unit is fixed at first use), the daily USD rates, payout batches (made, approved, exported, paid or discarded — each
step's user is on the row too) and the state changes of payout lines (paid or failed, with the reason).

Not tracked: the journal (append-only by trigger: every posting is already a permanent row naming its source),
ledger accounts and period locks (made by postings and approvals, which the runs' and batches' events show), payout
items, and payout lines as they are made (thousands per batch, fixed with their batch: the batch's own event says
who made it).
"""

import pghistory

from core.models import tracked

from .currencies import ConversionRate, Currency
from .payouts import PayoutBatch, PayoutLine

for model in (Currency, ConversionRate, PayoutBatch):
    tracked()(model)

tracked(
    pghistory.UpdateEvent(),
    fields=["batch", "partner", "status", "reason", "amount", "payout_currency", "resolved_at"],
    model_name="PayoutLineEvent",
)(PayoutLine)
