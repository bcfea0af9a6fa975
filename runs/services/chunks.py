"""Processing one chunk under a lease: claim, heartbeat, compute, write, settle.

Guarantees (for every kind):
- a chunk is computed only by the worker holding its lease: a conditional UPDATE claims it (pending, or claimed with
  an expired lease) and counts the attempt; leases are taken and compared by the database's clock;
- a long chunk keeps its lease: a heartbeat thread renews it every third of the lease while the chunk computes (for
  at most the chunk time limit, so a chunk stuck where the task's soft time limit cannot reach it still loses it);
- the chunk's lines are COPYed into the run's own table and the chunk is marked done in one transaction, by the lease
  holder only, so a redelivered or late duplicate adds nothing;
- a transient database error releases the chunk for a retry; a data problem (or any other error) fails the chunk
  with its reason, and its run fails once every chunk is settled (with every chunk's reasons merged);
- attempts are capped: a chunk that was claimed ``IBEX_RUN_MAX_ATTEMPTS`` times without finishing fails its run with
  the last reason, instead of being retried forever;
- a worker that lost its lease can neither write nor fail the chunk.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Now

from ..line_store import run_lines_write
from ..models import Run, RunChunk
from ..registry import ChunkFailure, RunKind, get_kind
from ..transient import is_transient
from .lifecycle import ERROR_LIMIT, run_settle

logger = logging.getLogger(__name__)

_CHUNKS = RunChunk._meta.db_table
_RUNS = Run._meta.db_table


def worker_name() -> str:
    """This process's name in ``claimed_by``: host and pid (one chunk at a time per worker process)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _lease_seconds() -> int:
    return int(settings.IBEX_RUN_LEASE_SECONDS)


def _max_attempts() -> int:
    return int(settings.IBEX_RUN_MAX_ATTEMPTS)


def chunk_claim(*, run_id: int, index: int, worker: str, lease_seconds: int | None = None) -> int | None:
    """Claim a chunk if it is pending or its lease expired and it has attempts left; return its id, else None."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_CHUNKS} c
               SET status = 'claimed', claimed_by = %(worker)s, attempts = c.attempts + 1,
                   lease_expires_at = clock_timestamp() + make_interval(secs => %(lease)s),
                   heartbeat_at = clock_timestamp()
              FROM {_RUNS} r
             WHERE c.run_id = r.id AND c.run_id = %(run)s AND c.index = %(index)s AND r.status = 'running'
               AND (c.status = 'pending' OR (c.status = 'claimed' AND c.lease_expires_at < clock_timestamp()))
               AND c.attempts < %(max)s
            RETURNING c.id
            """,
            {
                "worker": worker,
                "lease": lease_seconds or _lease_seconds(),
                "run": run_id,
                "index": index,
                "max": _max_attempts(),
            },
        )
        row = cursor.fetchone()
    return row[0] if row else None


def chunks_give_up(*, run_id: int | None = None, index: int | None = None) -> list[int]:
    """Fail every open chunk (pending, or claimed with an expired lease) that has used up its attempts; return the
    runs concerned. Only the sweeper and a refused claim call this."""
    filters, params = ["r.status = 'running'"], {"max": _max_attempts()}
    if run_id is not None:
        filters.append("c.run_id = %(run)s AND c.index = %(index)s")
        params.update(run=run_id, index=index)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_CHUNKS} c
               SET status = 'failed', claimed_by = '', lease_expires_at = NULL,
                   error = left('gave up after ' || c.attempts || ' attempt(s); last: '
                                || COALESCE(NULLIF(c.error, ''), 'its worker stopped before finishing'), {ERROR_LIMIT})
              FROM {_RUNS} r
             WHERE c.run_id = r.id AND {" AND ".join(filters)} AND c.attempts >= %(max)s
               AND (c.status = 'pending' OR (c.status = 'claimed' AND c.lease_expires_at < clock_timestamp()))
            RETURNING c.run_id
            """,
            params,
        )
        return sorted({run for (run,) in cursor.fetchall()})


class LeaseKeeper(threading.Thread):
    """Renews a claimed chunk's lease while it computes (its own database connection, as every thread has).

    Stops when told to, when the lease was lost (another worker took the chunk after it expired) or once the chunk
    has computed for longer than the chunk time limit."""

    def __init__(self, *, chunk_id: int, worker: str, lease_seconds: int, limit_seconds: float) -> None:
        super().__init__(name=f"lease-keeper-{chunk_id}", daemon=True)
        self.chunk_id, self.worker, self.lease_seconds = chunk_id, worker, lease_seconds
        self.interval = max(lease_seconds / 3, 0.05)
        self.beats_left = int(limit_seconds // self.interval) + 1
        self.renewals = 0
        self.lost = False
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while self.beats_left > 0 and not self._stopping.wait(self.interval):
                self.beats_left -= 1
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"UPDATE {_CHUNKS} SET lease_expires_at = clock_timestamp() + make_interval(secs => %s), "
                            "heartbeat_at = clock_timestamp() WHERE id = %s AND status = 'claimed' AND claimed_by = %s",
                            [self.lease_seconds, self.chunk_id, self.worker],
                        )
                        renewed = cursor.rowcount == 1
                except DatabaseError:
                    logger.warning("chunk %s: lease renewal failed; retrying", self.chunk_id, exc_info=True)
                    connection.close()
                    continue
                if not renewed:
                    self.lost = True
                    return
                self.renewals += 1
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=max(self.interval, 5))


def chunk_process(*, run_id: int, index: int, worker: str | None = None, lease_seconds: int | None = None) -> int:
    """Claim, compute and write one chunk; return the number of lines written (0 if it was not ours to do).

    A chunk that is done already, or leased by another worker, is left alone (its run is settled again, in case the
    finishing step failed after the chunk was written)."""
    worker = worker or f"{worker_name()}:{uuid.uuid4().hex[:8]}"
    lease = lease_seconds or _lease_seconds()
    chunk_id = chunk_claim(run_id=run_id, index=index, worker=worker, lease_seconds=lease)
    if chunk_id is None:
        if (
            chunks_give_up(run_id=run_id, index=index)
            or RunChunk.objects.filter(
                run_id=run_id, index=index, status__in=[RunChunk.Status.DONE, RunChunk.Status.FAILED]
            ).exists()
        ):
            run_settle(run_id=run_id)
        return 0
    chunk = RunChunk.objects.select_related("run").get(pk=chunk_id)
    keeper = LeaseKeeper(
        chunk_id=chunk_id, worker=worker, lease_seconds=lease, limit_seconds=settings.IBEX_RUN_CHUNK_TIME_LIMIT
    )
    keeper.start()
    try:
        kind = get_kind(chunk.run.kind)
        lines = kind.compute_chunk(chunk.run, kind.decode_spec(chunk.spec))
        written = _write(chunk=chunk, kind=kind, worker=worker, lines=lines)
    except SoftTimeLimitExceeded:
        _release(chunk_id=chunk_id, worker=worker, error="stopped at the chunk time limit")
        raise
    except Exception as exc:
        if is_transient(exc):
            logger.warning("run %s chunk %s: transient error, released for a retry: %s", run_id, index, exc)
            _release(chunk_id=chunk_id, worker=worker, error=f"transient: {exc}")
            raise
        logger.exception("run %s chunk %s failed", run_id, index)
        _fail(chunk_id=chunk_id, worker=worker, error=exc)
        written = 0
    finally:
        keeper.stop()
    run_settle(run_id=run_id)
    return written


def _write(*, chunk: RunChunk, kind: RunKind, worker: str, lines) -> int:
    """Write the chunk's lines and mark it done in one transaction, if this worker still holds its lease."""
    columns = list(kind.line_columns)
    if not lines.empty and list(lines.columns) != columns:
        missing = [c for c in columns if c not in lines.columns]
        if missing:
            raise ChunkFailure(f"kind {kind.name} returned lines without the columns {missing}")
        lines = lines[columns]
    totals = kind.chunk_totals(lines)
    with transaction.atomic():
        held = (
            RunChunk.objects.select_for_update()
            .filter(pk=chunk.pk, status=RunChunk.Status.CLAIMED, claimed_by=worker)
            .first()
        )
        if held is None:
            return 0  # our lease expired and another worker took the chunk: its result counts, not ours
        if not Run.objects.filter(pk=chunk.run_id, status=Run.Status.RUNNING).exists():
            return 0  # the run failed or was superseded meanwhile: its line table is gone
        written = run_lines_write(parent=kind.line_table, run_id=chunk.run_id, lines=lines)
        held.status = RunChunk.Status.DONE
        held.lines_written = written
        held.totals = {key: str(amount) for key, amount in totals.items()}
        held.error = ""
        held.done_at = Now()
        held.save(update_fields=["status", "lines_written", "totals", "error", "done_at"])
    return written


def _release(*, chunk_id: int, worker: str, error: str) -> None:
    """Give the chunk back (pending, sent again by the retry) if this worker still holds it. A failure to release is
    harmless: the lease then expires and the sweeper sends the chunk again."""
    for _ in range(2):
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {_CHUNKS} SET status = 'pending', claimed_by = '', lease_expires_at = NULL, "
                    "dispatched_at = clock_timestamp(), error = %s "
                    "WHERE id = %s AND status = 'claimed' AND claimed_by = %s",
                    [error[:ERROR_LIMIT], chunk_id, worker],
                )
            return
        except DatabaseError:
            connection.close()


def _fail(*, chunk_id: int, worker: str, error: BaseException) -> None:
    """Fail the chunk with its reason, but only while this worker holds its lease: a worker whose lease expired
    (its chunk re-sent, maybe done by now) must not fail a run that is going well."""
    details = error.details if isinstance(error, ChunkFailure) else {}
    message = str(error) or type(error).__name__
    RunChunk.objects.filter(pk=chunk_id, status=RunChunk.Status.CLAIMED, claimed_by=worker).update(
        status=RunChunk.Status.FAILED, error=message[:ERROR_LIMIT], error_details=details, lease_expires_at=None
    )
