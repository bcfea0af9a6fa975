"""Celery tasks of the run framework: thin wrappers over the services, taking ids, never model objects.

Names are explicit and stable (``runs.<action>``) so a queued message survives code moves; the names they had when
runs lived in ``commissions`` stay registered as aliases, so messages queued before an upgrade still run.

acks_late + reject_on_worker_lost: a message whose worker died is delivered again; the chunk lease and the lines'
natural key make the second delivery harmless. The sweeper covers messages that are lost outright. A chunk task
has a soft time limit (``IBEX_RUN_CHUNK_TIME_LIMIT``) below the longest lease its heartbeat can hold (that limit plus
one lease), so a runaway chunk releases its lease itself, and a hard limit one lease later.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .dispatch import CHUNK_TASK, START_TASK, SWEEP_TASK
from .services.chunks import chunk_process, worker_name
from .services.lifecycle import run_start
from .services.sweep import runs_sweep
from .transient import TRANSIENT_ERRORS

_RUN_TASK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}
_CHUNK_LIMITS = {
    "soft_time_limit": settings.IBEX_RUN_CHUNK_TIME_LIMIT,
    "time_limit": settings.IBEX_RUN_CHUNK_TIME_LIMIT + settings.IBEX_RUN_LEASE_SECONDS,
}


def _start(run_id: int) -> None:
    run_start(run_id=run_id)


def _chunk(run_id: int, index: int) -> int:
    return chunk_process(run_id=run_id, index=index, worker=worker_name())


def _sweep() -> int:
    result = runs_sweep()
    return len(result.starts) + len(result.chunks) + len(result.settled)


start = shared_task(name=START_TASK, **_RUN_TASK)(_start)
chunk = shared_task(name=CHUNK_TASK, **_RUN_TASK, **_CHUNK_LIMITS)(_chunk)
sweep = shared_task(name=SWEEP_TASK)(_sweep)

# The names these tasks had inside ``commissions`` (messages queued before the move still run).
legacy_start = shared_task(name="commissions.run_start", **_RUN_TASK)(_start)
legacy_chunk = shared_task(name="commissions.run_chunk", **_RUN_TASK, **_CHUNK_LIMITS)(_chunk)
legacy_sweep = shared_task(name="commissions.sweep_run_leases")(_sweep)
