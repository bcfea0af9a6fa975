"""Periodic jobs of core's plumbing (names explicit and stable: ``core.<action>``)."""

from __future__ import annotations

from celery import shared_task

from .services import idempotency_records_purge


@shared_task(name="core.purge_idempotency")
def purge_idempotency() -> int:
    """Drop expired ``Idempotency-Key`` records (celery beat, ``IBEX_IDEMPOTENCY_PURGE_SECONDS``)."""
    return idempotency_records_purge()
