"""Celery tasks of the commissions app: thin wrappers over services, taking ids and paths, never model objects.

Names are explicit and stable (``commissions.<action>``) so a queued message survives code moves. Enqueue with
``transaction.on_commit`` so a worker never looks for rows the request has not committed yet.
"""

from __future__ import annotations

from pathlib import Path

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import OperationalError

from .services.trade_ingest import trades_import_file


@shared_task(
    name="commissions.import_trades_file",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def import_trades_file(
    path: str, fmt: str, server: str | None = None, user_id: int | None = None, source_name: str | None = None
) -> int:
    """Import the trades file at ``path`` (``fmt`` generic|mt4|mt5); return the TradeImport id.

    Safe to run twice (a lost acknowledgement, a retry): re-importing the same file changes nothing.
    """
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    trade_import = trades_import_file(
        path=Path(path), fmt=fmt, server=server or None, user=user, source_name=source_name
    )
    return trade_import.pk


# --- commission runs ---------------------------------------------------------------------------------------------
# acks_late + reject_on_worker_lost: a message whose worker died is delivered again; the chunk lease and the lines'
# natural key make the second delivery harmless. The sweeper covers messages that are lost outright.

_RUN_TASK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
}


def _enqueue_chunk(run_id: int, index: int) -> None:
    run_chunk.delay(run_id, index)


@shared_task(name="commissions.run_start", **_RUN_TASK)
def run_start(run_id: int) -> None:
    """Start a queued run: prepare its period context and enqueue its chunks."""
    from .services.runs import run_start as start

    start(run_id=run_id, enqueue=_enqueue_chunk)


@shared_task(name="commissions.run_chunk", **_RUN_TASK)
def run_chunk(run_id: int, index: int) -> int:
    """Claim, compute and write one chunk of a run; returns the number of lines written (0 if it was not ours)."""
    import os
    import socket

    from django.conf import settings

    from .services.runs import chunk_process

    return chunk_process(
        run_id=run_id,
        index=index,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        lease_seconds=settings.IBEX_RUN_LEASE_SECONDS,
    )


@shared_task(name="commissions.sweep_run_leases")
def sweep_run_leases() -> int:
    """Re-queue chunks whose lease expired or whose message never arrived (beat runs this periodically)."""
    from django.conf import settings

    from .services.runs import runs_sweep_expired_leases

    return len(runs_sweep_expired_leases(enqueue=_enqueue_chunk, lease_seconds=settings.IBEX_RUN_LEASE_SECONDS))
