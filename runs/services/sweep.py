"""The sweeper (celery beat, every ``IBEX_SWEEP_SECONDS``): recovers what lost messages and dead workers leave.

Each pass, by the database's clock:
- re-sends the start of runs still queued a lease period after their start was last sent (a lost start message);
- fails the open chunks that used up their attempts (their runs then fail with the reason);
- re-sends each chunk that is not done, whose lease (if any) has expired and whose last message is older than a
  lease period — only those: a chunk waiting in the queue, or being worked on, is not sent again on every pass;
- settles running runs none of whose chunks is open (their finishing step failed, or their last chunk failed).

Each message and each run is handled on its own: a message the broker refuses is unmarked (sent on the next pass)
and a run that cannot be settled now is retried next pass; neither keeps the others waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from kombu.exceptions import OperationalError as BrokerOperationalError

from ..dispatch import dispatch_chunk, dispatch_start_now
from ..models import Run, RunChunk
from .chunks import chunks_give_up
from .lifecycle import run_settle

logger = logging.getLogger(__name__)

# What a publish raises when the broker cannot be reached (kombu wraps socket errors; a bare one may come through).
BROKER_UNREACHABLE = (BrokerOperationalError, ConnectionError)

_CHUNKS = RunChunk._meta.db_table
_RUNS = Run._meta.db_table


@dataclass
class SweepResult:
    starts: list[int] = field(default_factory=list)
    chunks: list[tuple[int, int]] = field(default_factory=list)
    given_up: list[int] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)


def runs_sweep(
    *,
    enqueue_start: Callable[[int], None] = dispatch_start_now,
    enqueue_chunk: Callable[[int, int], None] = dispatch_chunk,
    lease_seconds: int | None = None,
) -> SweepResult:
    lease = lease_seconds or int(settings.IBEX_RUN_LEASE_SECONDS)
    result = SweepResult()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_RUNS} SET start_dispatched_at = clock_timestamp()
             WHERE status = 'queued'
               AND (start_dispatched_at IS NULL
                    OR start_dispatched_at < clock_timestamp() - make_interval(secs => %s))
            RETURNING id
            """,
            [lease],
        )
        marked = sorted(run_id for (run_id,) in cursor.fetchall())
    result.starts = _send_each(
        marked,
        send=lambda run_id: enqueue_start(run_id),
        unmark=f"UPDATE {_RUNS} SET start_dispatched_at = NULL WHERE id = %s",
        params=lambda run_id: [run_id],
    )

    result.given_up = chunks_give_up()

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_CHUNKS} c SET dispatched_at = clock_timestamp()
              FROM {_RUNS} r
             WHERE c.run_id = r.id AND r.status = 'running'
               AND (c.status = 'pending' OR (c.status = 'claimed' AND c.lease_expires_at < clock_timestamp()))
               AND (c.dispatched_at IS NULL OR c.dispatched_at < clock_timestamp() - make_interval(secs => %s))
            RETURNING c.run_id, c.index
            """,
            [lease],
        )
        marked_chunks = sorted(cursor.fetchall())
    result.chunks = _send_each(
        marked_chunks,
        send=lambda key: enqueue_chunk(*key),
        unmark=f"UPDATE {_CHUNKS} SET dispatched_at = NULL WHERE run_id = %s AND index = %s",
        params=list,
    )

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT r.id FROM {_RUNS} r
             WHERE r.status = 'running'
               AND NOT EXISTS (SELECT 1 FROM {_CHUNKS} c WHERE c.run_id = r.id AND c.status IN ('pending', 'claimed'))
             ORDER BY r.id
            """
        )
        stuck = [run_id for (run_id,) in cursor.fetchall()]
    for run_id in sorted(set(stuck) | set(result.given_up)):
        try:
            run_settle(run_id=run_id)
        except Exception:  # one run that cannot be settled now must not keep the others waiting
            logger.exception("sweeper: run %s could not be settled; retried on the next pass", run_id)
            continue
        result.settled.append(run_id)
    return result


def _send_each(marked: list, *, send: Callable, unmark: str, params: Callable) -> list:
    """Send each marked message on its own; return what was sent. A message refused for itself is unmarked again (the
    next pass sends it, not a lease later) and the others are still sent; once the broker itself is unreachable,
    this message and every one after it are unmarked and the pass stops sending (each would only wait out the
    broker's timeout)."""
    sent = []
    for position, key in enumerate(marked):
        try:
            send(key)
        except BROKER_UNREACHABLE:
            logger.exception(
                "sweeper: the broker is unreachable; %s message(s) left for the next pass", len(marked) - position
            )
            with connection.cursor() as cursor:
                for rest in marked[position:]:
                    cursor.execute(unmark, params(rest))
            break
        except Exception:
            logger.exception("sweeper: could not send %s; sent again on the next pass", key)
            with connection.cursor() as cursor:
                cursor.execute(unmark, params(key))
            continue
        sent.append(key)
    return sent
