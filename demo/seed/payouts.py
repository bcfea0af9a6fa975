"""The demo's payout batch: after the months are approved, finance makes a batch for the last complete month, the
controller (a second finance clerk) approves it (maker-checker), it is exported under the demo's folder and marked
paid — through ``ledger.services.payouts``, as the admin and the API do. One line fails at the bank (a closed
account) so the demo shows a failed line, back to payable with its reason; held (suspended, no payout details)
and carried-over (below the program minimum) lines come from the demo's partners as they are.

Idempotent: a re-run finds the period's batch and finishes whatever step it had not reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from core.audit import actor, audit_context
from core.csv_export import csv_lines
from core.money import quantize
from ledger.models import PayoutBatch, PayoutLine
from ledger.payout_selectors import payout_batch_totals
from ledger.selectors import currency_places
from ledger.services.payouts import (
    EXPORT_HEADER,
    LineOutcome,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_export,
    payout_export_rows,
    payout_lines_resolve,
)

BANK_FAILURE = "The bank returned the transfer: account closed."


@dataclass
class DemoPayouts:
    batch_id: int
    period: str
    status: str
    csv: Path
    totals: list[dict] = field(default_factory=list)


def demo_payouts(*, period: str, out_dir: Path, maker, checker) -> DemoPayouts:
    batch = (
        PayoutBatch.objects.filter(period=period).exclude(status=PayoutBatch.Status.DISCARDED).order_by("pk").first()
    )
    # Each step in the audit trail under the user who takes it, as if each had logged in.
    if batch is None:
        with audit_context(**actor(maker)):
            batch = payout_batch_create(period=period, user=maker)
    with audit_context(**actor(checker)):
        batch = payout_batch_approve(batch_id=batch.pk, user=checker)
    with audit_context(**actor(maker)):
        batch = payout_batch_export(batch_id=batch.pk, user=maker)
    target = out_dir / f"payout-batch-{batch.pk}-{period}.csv"
    with target.open("wb") as out:
        for line in csv_lines(EXPORT_HEADER, payout_export_rows(batch=batch)):
            out.write(line)
    if batch.status == PayoutBatch.Status.EXPORTED:
        first = (
            PayoutLine.objects.filter(batch=batch, status=PayoutLine.Status.TO_PAY)
            .order_by("partner__code")
            .values_list("partner__code", flat=True)
            .first()
        )
        with audit_context(**actor(maker)):
            if first is not None:
                outcomes = [LineOutcome(first, "failed", BANK_FAILURE)]
                payout_lines_resolve(batch_id=batch.pk, user=maker, outcomes=outcomes)
            batch = payout_lines_resolve(batch_id=batch.pk, user=maker)
    totals = [
        {**row, "amount": quantize(row["amount"] or Decimal(0), currency_places(row["currency"]))}
        for row in payout_batch_totals(batch=batch)
    ]
    return DemoPayouts(batch_id=batch.pk, period=period, status=batch.status, csv=target, totals=totals)
