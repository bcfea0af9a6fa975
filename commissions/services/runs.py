"""Commission runs: request, chunking, leased chunk processing, completion and the lease sweeper.

The database, not the message broker, is the truth (ARCHITECTURE.md "Runs are safe to repeat"):
- one live run per (kind, period): a partial unique index plus a transaction-level advisory lock around the check;
- a chunk is processed only by the worker holding its lease (a conditional UPDATE claims it); its lines are
  COPYed into the run's own lines table (``run_lines``) and the chunk is marked done in the same transaction, so a
  chunk delivered twice, or finished late by a worker whose lease expired, adds nothing;
- a run is finished by counting its done chunk rows (no chord callback); the transaction that marks it computed
  indexes its lines (the natural key included) and attaches them as the run's partition of the lines table;
- the sweeper re-queues expired leases and finishes runs whose chunks are all done but whose finishing step
  did not complete.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from core.api.errors import Conflict
from core.periods import server_period

from ..models import Run, RunChunk
from .run_lines import run_lines_discard, run_lines_prepare, run_lines_publish, run_lines_write

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 300

# The line columns a chunk writes (engine output in integer micro-units).
STAGE_COLUMNS = {
    "run_id": "bigint",
    "period": "varchar(7)",
    "trade_id": "bigint",
    "account_id": "bigint",
    "partner_id": "bigint",
    "beneficiary_account_id": "bigint",
    "kind": "varchar(16)",
    "level": "smallint",
    "rule_id": "bigint",
    "base_micros": "bigint",
    "rate_micros": "bigint",
    "tier": "smallint",
    "multiplier_micros": "bigint",
    "amount_micros": "bigint",
    "currency": "varchar(3)",
    "reason": "varchar(32)",
    "adjusts_period": "varchar(7)",
}


@dataclass(frozen=True)
class RunRequestResult:
    run: Run
    created: bool


def _advisory_lock(*keys: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ["|".join(keys)])


def run_request(*, kind: str, period: str, user=None, recompute: bool = False) -> RunRequestResult:
    """Return the live run of (kind, period), creating and queueing one if there is none.

    Asking again for a queued, running or computed run returns it (so ten concurrent requests make one run);
    ``recompute=True`` supersedes a computed, unapproved run with a new one. An approved run locks its period.
    """
    bounds = server_period(period)
    with transaction.atomic():
        _advisory_lock("run", kind, bounds.label)
        live = (
            Run.objects.select_for_update()
            .filter(kind=kind, period=bounds.label, status__in=["queued", "running", "computed", "approved"])
            .first()
        )
        if live is not None:
            if live.status == Run.Status.APPROVED:
                if recompute:
                    raise Conflict(f"period {bounds.label} is approved and locked; later changes become adjustments")
                return RunRequestResult(live, False)
            if not recompute or live.status != Run.Status.COMPUTED:
                return RunRequestResult(live, False)
            live.status = Run.Status.SUPERSEDED
            live.save(update_fields=["status"])
        run = Run.objects.create(
            kind=kind,
            period=bounds.label,
            period_start=bounds.start,
            period_end=bounds.end,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            supersedes=live,
        )
        from .run_inputs import plan_chunks

        account_groups = plan_chunks(run=run, target_trades=settings.IBEX_RUN_CHUNK_TRADES)
        RunChunk.objects.bulk_create(
            RunChunk(run=run, index=i, account_ids=ids) for i, ids in enumerate(account_groups)
        )
        run.chunks_total = len(account_groups)
        run.save(update_fields=["chunks_total"])
        transaction.on_commit(lambda: _enqueue_start(run.pk))
    return RunRequestResult(run, True)


def _enqueue_start(run_id: int) -> None:
    from ..tasks import run_start

    run_start.delay(run_id)


def run_start(*, run_id: int, enqueue: Callable[[int, int], None]) -> None:
    """Mark the run running, prepare its period-wide context, and enqueue every unfinished chunk."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status not in (Run.Status.QUEUED, Run.Status.RUNNING):
            return
        if run.status == Run.Status.QUEUED:
            run.status = Run.Status.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
            run_lines_prepare(run_id=run.pk)
            from .run_inputs import prepare_run_context

            try:
                prepare_run_context(run=run)
            except Exception as exc:  # a missing rate, an inconsistent plan: the run fails with the reason
                run_fail(run_id=run.pk, error=str(exc))
                return
    pending = list(run.chunks.exclude(status=RunChunk.Status.DONE).values_list("index", flat=True))
    if not pending:
        run_check_finished(run_id=run.pk)
    for index in pending:
        enqueue(run.pk, index)


def run_fail(*, run_id: int, error: str) -> None:
    """Mark a queued or running run failed with the reason (the first failure's reason is kept: a later one is
    usually its consequence); a failed run keeps no lines."""
    with transaction.atomic():
        failed = Run.objects.filter(pk=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).update(
            status=Run.Status.FAILED, error=error[:10_000]
        )
        if failed:
            run_lines_discard(run_id=run_id)


def chunk_claim(*, run_id: int, index: int, worker: str, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> bool:
    """Claim a chunk if it is pending or its lease expired. Returns whether this worker now holds it."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE commissions_runchunk c
               SET status = 'claimed', lease_expires_at = %s, claimed_by = %s, attempts = c.attempts + 1
              FROM commissions_run r
             WHERE c.run_id = r.id AND c.run_id = %s AND c.index = %s AND r.status = 'running'
               AND (c.status = 'pending' OR (c.status = 'claimed' AND c.lease_expires_at < %s))
            """,
            [now + timedelta(seconds=lease_seconds), worker, run_id, index, now],
        )
        return cursor.rowcount == 1


def chunk_process(*, run_id: int, index: int, worker: str | None = None, lease_seconds: int = DEFAULT_LEASE_SECONDS):
    """Claim, compute and write one chunk; a chunk that is done, or leased by another worker, is left alone."""
    worker = worker or f"{socket.gethostname()}:{id(object())}"
    if not chunk_claim(run_id=run_id, index=index, worker=worker, lease_seconds=lease_seconds):
        # Done already (a redelivery, or a retry after the finishing step failed): make sure the run gets finished.
        if RunChunk.objects.filter(run_id=run_id, index=index, status=RunChunk.Status.DONE).exists():
            run_check_finished(run_id=run_id)
        return 0
    chunk = RunChunk.objects.select_related("run").get(run_id=run_id, index=index)
    from .run_inputs import compute_chunk_lines

    try:
        lines = compute_chunk_lines(run=chunk.run, account_ids=chunk.account_ids)
    except Exception as exc:
        logger.exception("run %s chunk %s failed", run_id, index)
        _chunk_failed(chunk, worker=worker, error=exc)
        raise
    written = 0
    with transaction.atomic():
        # Only the current lease holder may finish the chunk; a late duplicate finds it done and writes nothing.
        locked = (
            RunChunk.objects.select_for_update()
            .filter(pk=chunk.pk, status=RunChunk.Status.CLAIMED, claimed_by=worker)
            .first()
        )
        if locked is None:
            return 0
        try:
            written = lines_write(run_id=run_id, lines=lines)
        except Exception as exc:  # a write the database refuses fails the run with the reason, not silently
            transaction.set_rollback(True)
            failure = exc
        else:
            failure = None
            locked.status = RunChunk.Status.DONE
            locked.lines_written = written
            locked.done_at = timezone.now()
            locked.save(update_fields=["status", "lines_written", "done_at"])
    if failure is not None:
        logger.error("run %s chunk %s could not be written: %s", run_id, index, failure)
        _chunk_failed(chunk, worker=worker, error=failure)
        raise failure
    run_check_finished(run_id=run_id)
    return written


def _chunk_failed(chunk: RunChunk, *, worker: str, error: BaseException) -> None:
    """Fail the chunk and its run, but only while this worker still holds the chunk's lease: a worker whose lease
    expired (its chunk re-queued, maybe done by now) must not fail a run that is going well."""
    held = RunChunk.objects.filter(pk=chunk.pk, status=RunChunk.Status.CLAIMED, claimed_by=worker).update(
        status=RunChunk.Status.FAILED, error=str(error)[:10_000]
    )
    if held:
        run_fail(run_id=chunk.run_id, error=f"chunk {chunk.index}: {error}")


def lines_write(*, run_id: int, lines) -> int:
    """COPY a chunk's lines into the run's lines table (integer columns only; NUMERIC ones are generated).

    Callers hold the chunk's row lock and mark it done in the same transaction, so a chunk's lines are written at
    most once; the natural-key unique index, built when the run finishes, turns any slip into a failed run."""
    if lines.empty:
        return 0
    return run_lines_write(run_id=run_id, lines=lines[list(STAGE_COLUMNS)])


def run_check_finished(*, run_id: int) -> Run:
    """Count done chunks; when all are done, publish and total the lines and mark the run computed.

    If the lines themselves are refused (a duplicate natural key, a table that no longer matches the lines table),
    the run fails with the database's message and keeps no lines. A transient error (a deadlock, a lock timeout, a
    lost connection) propagates with the run still running and every chunk done: the task's retry, a redelivered
    chunk or the sweeper calls this again."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        done = run.chunks.filter(status=RunChunk.Status.DONE).count()
        fields = []
        if done != run.chunks_done:
            run.chunks_done = done
            fields.append("chunks_done")
        if run.status == Run.Status.RUNNING and done == run.chunks_total:
            from ..selectors import run_totals

            try:
                with transaction.atomic():
                    run_lines_publish(run_id=run.pk)
            except (IntegrityError, ProgrammingError, DataError) as exc:
                logger.error("run %s: its lines could not be published: %s", run_id, exc)
                run_lines_discard(run_id=run.pk)
                run.status = Run.Status.FAILED
                run.error = f"lines rejected by the database: {exc}"[:10_000]
                fields += ["status", "error"]
            else:
                run.totals = {kind: str(amount) for kind, amount in run_totals(run_id=run.pk).items()}
                run.status = Run.Status.COMPUTED
                run.computed_at = timezone.now()
                fields += ["totals", "status", "computed_at"]
        if fields:
            run.save(update_fields=fields)
    return run


def runs_sweep_expired_leases(
    *, enqueue: Callable[[int, int], None], lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> list[tuple[int, int]]:
    """Re-queue chunks of running runs whose lease expired (a worker died) or that were never claimed, and finish
    runs whose chunks are all done but that are still running."""
    now = timezone.now()
    # Pending chunks are re-sent only once their run has been running for a lease period (their first message
    # may simply still be in the queue); claimed chunks once their lease has expired.
    stale = list(
        RunChunk.objects.filter(run__status=Run.Status.RUNNING)
        .filter(
            Q(status=RunChunk.Status.PENDING, run__started_at__lt=now - timedelta(seconds=lease_seconds))
            | Q(status=RunChunk.Status.CLAIMED, lease_expires_at__lt=now)
        )
        .values_list("run_id", "index")
    )
    for run_id, index in stale:
        enqueue(run_id, index)
    # Runs whose chunks are all done but whose finishing step did not complete (its worker died while indexing).
    finished = Run.objects.filter(status=Run.Status.RUNNING).annotate(
        done=Count("chunks", filter=Q(chunks__status=RunChunk.Status.DONE))
    )
    for run in finished.filter(done=F("chunks_total")).only("pk"):
        run_check_finished(run_id=run.pk)
    return stale
