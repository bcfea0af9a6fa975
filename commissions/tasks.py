"""Celery tasks of the commissions app: thin wrappers over services, taking ids and storage names, never model
objects or local paths (a worker may run on another machine than the one that received the upload).

Names are explicit and stable (``commissions.<action>``) so a queued message survives code moves. The run tasks
live in ``runs.tasks`` (their old ``commissions.run_*`` names stay registered there as aliases).
"""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import OperationalError

from .services.trade_ingest import trades_import_stored


@shared_task(
    name="commissions.import_trades_file",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def import_trades_file(
    storage_name: str, fmt: str, server: str | None = None, user_id: int | None = None, source_name: str | None = None
) -> int:
    """Import the trades file kept in the default storage under ``storage_name`` (``fmt`` generic|mt4|mt5); return
    the TradeImport id. Safe to run twice (a lost acknowledgement, a retry): re-importing the same file changes
    nothing."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    trade_import = trades_import_stored(
        storage_name=storage_name, fmt=fmt, server=server or None, user=user, source_name=source_name
    )
    return trade_import.pk
