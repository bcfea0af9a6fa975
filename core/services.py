"""Writes of core's own plumbing (core has no domain models)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .models import IdempotencyRecord


def idempotency_records_purge(*, now: datetime | None = None, retention: timedelta | None = None) -> int:
    """Delete the ``Idempotency-Key`` records older than the retention (``IBEX_IDEMPOTENCY_RETENTION_HOURS``); a key
    reused after that runs again. Returns how many were deleted."""
    if retention is None:
        retention = timedelta(hours=settings.IBEX_IDEMPOTENCY_RETENTION_HOURS)
    cutoff = (now or timezone.now()) - retention
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
