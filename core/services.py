"""Writes of core's own plumbing (core has no domain models)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from .models import DataExport, IdempotencyRecord


def idempotency_records_purge(*, now: datetime | None = None, retention: timedelta | None = None) -> int:
    """Delete the ``Idempotency-Key`` records older than the retention (``IBEX_IDEMPOTENCY_RETENTION_HOURS``); a key
    reused after that runs again. Returns how many were deleted."""
    if retention is None:
        retention = timedelta(hours=settings.IBEX_IDEMPOTENCY_RETENTION_HOURS)
    cutoff = (now or timezone.now()) - retention
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def data_export_record(
    *, kind: str, period: str, rows: int, totals: dict[str, Decimal], user, scope: str = ""
) -> DataExport:
    """Record a download in the audit trail: who (``user``; the insert event adds how), what file, how many rows and
    their total per currency (amounts as strings: exact, no float in the JSON)."""
    return DataExport.objects.create(
        kind=kind,
        period=period,
        scope=scope,
        rows=rows,
        totals={currency: str(amount) for currency, amount in sorted(totals.items())},
        exported_by=user if getattr(user, "is_authenticated", False) else None,
    )
