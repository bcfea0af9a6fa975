"""The MAM fee balance-operation download, recorded in the audit trail (``core.DataExport``) before it streams."""

from __future__ import annotations

from collections.abc import Iterator

from core.actors import Actor
from core.services import data_export_record

from ..fee_selectors import fee_export_csv, fee_export_totals
from ..models import MamGroup


def fee_export(*, period: str, group: MamGroup | None, user: Actor) -> Iterator[bytes]:
    """``fee_export_csv`` for the period (and group), with who took it, its rows and totals per currency recorded
    first: a repeated export changes no other row, so only this record shows it was taken again."""
    rows, totals = fee_export_totals(period=period, group=group)
    data_export_record(
        kind="mam_fees", period=period, scope=group.code if group else "", rows=rows, totals=totals, user=user
    )
    return fee_export_csv(period=period, group=group)
