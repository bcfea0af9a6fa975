"""Sending the framework's messages by their stable task names (``runs.start``, ``runs.chunk``).

Services look the task up in the Celery app's registry by name instead of importing ``runs.tasks`` (which imports
the services): imports run one way only, ``tasks → services``. With no broker (eager Celery) the task runs here.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

START_TASK = "runs.start"
CHUNK_TASK = "runs.chunk"
SWEEP_TASK = "runs.sweep"


def dispatch_start(run_id: int) -> None:
    """Send the run's start once the current transaction commits (a worker must find the committed run)."""
    transaction.on_commit(lambda: current_app.tasks[START_TASK].delay(run_id))


def dispatch_start_now(run_id: int) -> None:
    """Send a start outside any transaction of the caller's (the sweeper's re-sends)."""
    current_app.tasks[START_TASK].delay(run_id)


def dispatch_chunk(run_id: int, index: int) -> None:
    current_app.tasks[CHUNK_TASK].delay(run_id, index)
