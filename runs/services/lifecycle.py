"""A run's life after its request: start (snapshot, plan, prepare), fail, and settle (finish once every chunk is).

The database, not the message broker, is the truth:
- starting is idempotent: a redelivered or re-sent start finds the run running and only sends chunks never sent;
- the snapshot is taken in a transaction of its own before planning, and kept if the start is retried, so every chunk
  of the run reads the same data however often the start runs;
- a run is settled by counting its chunk rows (no chord callback): when none is pending or claimed, it is computed
  (its lines indexed and attached as its partition, its totals summed from the chunks' totals) or, if any chunk
  failed, failed with every chunk's reason merged;
- a transient database error while settling leaves the run running with its chunks done: a redelivered chunk or the
  sweeper settles it again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction
from django.db.models.functions import Now

from core.money import round_line

from ..dispatch import dispatch_chunk
from ..line_store import RunLinesError, run_lines_discard, run_lines_prepare, run_lines_publish
from ..models import Run, RunChunk
from ..registry import RunKind, UnknownRunKind, get_kind
from ..signals import run_computed
from ..transient import is_transient

logger = logging.getLogger(__name__)

ERROR_LIMIT = 10_000


def _parent_table(kind: RunKind) -> str:
    return kind.line_table


def run_start(*, run_id: int, enqueue: Callable[[int, int], None] = dispatch_chunk) -> None:
    """Snapshot, plan and prepare a queued run, mark it running, then send every chunk not sent yet."""
    run = Run.objects.get(pk=run_id)
    if run.status not in (Run.Status.QUEUED, Run.Status.RUNNING):
        return
    try:
        kind = get_kind(run.kind)
    except UnknownRunKind as exc:
        run_fail(run_id=run_id, error=str(exc))
        return
    if run.status == Run.Status.QUEUED:
        try:
            if not _take_snapshot(run_id=run_id, kind=kind) or not _plan_and_prepare(run_id=run_id, kind=kind):
                return
        except Exception as exc:
            if not is_transient(exc):
                raise
            # Left queued for the task's retry or the sweeper; the run says why it waits.
            Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
                error=f"start interrupted, retried: {exc}"[:ERROR_LIMIT]
            )
            raise
    _send_unsent_chunks(run_id=run_id, enqueue=enqueue)
    run_settle(run_id=run_id)


def _take_snapshot(*, run_id: int, kind: RunKind) -> bool:
    """Fix what the run reads, in a short transaction (the kind may lock its inputs briefly to do so)."""

    def snapshot(run: Run) -> None:
        if not run.snapshot:
            run.snapshot = kind.take_snapshot(run) or {"taken": True}
            run.save(update_fields=["snapshot"])

    return _start_step(run_id=run_id, step=snapshot, failure_prefix="snapshot: ")


def _plan_and_prepare(*, run_id: int, kind: RunKind) -> bool:
    """Plan the chunks, create the run's line table and the kind's period-wide context, and mark it running."""

    def plan(run: Run) -> None:
        planned = kind.plan_chunks(run)
        RunChunk.objects.bulk_create(
            RunChunk(run=run, index=i, spec_type=p.spec.type, spec=p.spec.to_json(), size=p.size)
            for i, p in enumerate(planned)
        )
        run_lines_prepare(parent=_parent_table(kind), run_id=run.pk)
        kind.prepare(run)
        run.status = Run.Status.RUNNING
        run.chunks_total = len(planned)
        run.started_at = Now()
        run.error = ""  # a transient failure of an earlier attempt is history now
        run.save(update_fields=["status", "chunks_total", "started_at", "error"])

    return _start_step(run_id=run_id, step=plan, failure_prefix="")


def _start_step(*, run_id: int, step: Callable[[Run], None], failure_prefix: str) -> bool:
    """Run one step of a queued run's start under its row lock; whether the start may go on. A data or code problem
    fails the run with its reason; a transient error propagates (the start is retried)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status != Run.Status.QUEUED:
            return run.status == Run.Status.RUNNING
        try:
            with transaction.atomic():
                step(run)
        except Exception as exc:
            if is_transient(exc):
                raise
            logger.exception("run %s could not start", run_id)
            failure = exc
        else:
            return True
    run_fail(run_id=run_id, error=f"{failure_prefix}{failure}", details=getattr(failure, "details", None))
    return False


def _send_unsent_chunks(*, run_id: int, enqueue: Callable[[int, int], None]) -> None:
    """Send each pending chunk that was never sent (a repeated start sends nothing twice; lost messages are the
    sweeper's)."""
    table = RunChunk._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET dispatched_at = clock_timestamp() "
            "WHERE run_id = %s AND status = 'pending' AND dispatched_at IS NULL RETURNING index",
            [run_id],
        )
        indexes = sorted(index for (index,) in cursor.fetchall())
    for index in indexes:
        enqueue(run_id, index)


def run_fail(*, run_id: int, error: str, details: dict | None = None) -> bool:
    """Mark a queued or running run failed with the reason (the first failure's reason is kept: a later one is
    usually its consequence). A failed run keeps no lines and no kind context. Returns whether it failed now."""
    with transaction.atomic():
        failed = Run.objects.filter(pk=run_id, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).update(
            status=Run.Status.FAILED, error=error[:ERROR_LIMIT], error_details=details or {}
        )
        if failed:
            _discard(Run.objects.get(pk=run_id))
    return bool(failed)


def _discard(run: Run) -> None:
    try:
        kind = get_kind(run.kind)
    except UnknownRunKind:
        return
    run_lines_discard(parent=_parent_table(kind), run_id=run.pk)
    kind.discard(run)


def merged_failure(chunks: list[RunChunk], total: int) -> tuple[str, dict[str, list[str]]]:
    """One message for every failed chunk: details merged label by label (e.g. every missing rate of the run, each
    once), other errors listed by chunk."""
    merged: dict[str, set[str]] = {}
    others: list[str] = []
    for chunk in sorted(chunks, key=lambda c: c.index):
        if chunk.error_details:
            for label, items in chunk.error_details.items():
                merged.setdefault(label, set()).update(items)
        else:
            others.append(f"chunk {chunk.index}: {chunk.error}")
    parts = [f"{label} ({len(items)}): {', '.join(sorted(items))}" for label, items in sorted(merged.items())]
    message = f"{len(chunks)} of {total} chunk(s) failed: " + "; ".join(parts + others)
    return message, {label: sorted(items) for label, items in sorted(merged.items())}


def run_settle(*, run_id: int) -> Run:
    """Count the run's chunks; once none is pending or claimed, compute the run (or fail it, if a chunk failed).

    If the lines themselves are refused (a duplicate natural key, a table that no longer matches the line table),
    the run fails with the database's message and keeps no lines. A transient error (a deadlock, a lock timeout, a
    lost connection) propagates with the run still running: a redelivered chunk or the sweeper settles it again."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        counts = Counter(run.chunks.values_list("status", flat=True))
        done = counts[RunChunk.Status.DONE]
        if done != run.chunks_done:
            run.chunks_done = done
            run.save(update_fields=["chunks_done"])
        settled = done + counts[RunChunk.Status.FAILED]
        if run.status != Run.Status.RUNNING or settled != run.chunks_total:
            return run
        try:
            kind = get_kind(run.kind)
        except UnknownRunKind as exc:
            run.status = Run.Status.FAILED
            run.error = str(exc)
            run.save(update_fields=["status", "error"])
            return run
        if counts[RunChunk.Status.FAILED]:
            failed = list(run.chunks.filter(status=RunChunk.Status.FAILED))
            message, details = merged_failure(failed, run.chunks_total)
            run.status = Run.Status.FAILED
            run.error = message[:ERROR_LIMIT]
            run.error_details = details
            run.save(update_fields=["status", "error", "error_details"])
            _discard(run)
            return run
        try:
            with transaction.atomic():
                run_lines_publish(parent=_parent_table(kind), run_id=run.pk)
        except (IntegrityError, ProgrammingError, DataError, RunLinesError) as exc:
            logger.error("run %s: its lines could not be published: %s", run_id, exc)
            run.status = Run.Status.FAILED
            run.error = f"lines rejected by the database: {exc}"[:ERROR_LIMIT]
            run.save(update_fields=["status", "error"])
            _discard(run)
            return run
        run.totals = _summed_totals(run)
        run.status = Run.Status.COMPUTED
        run.computed_at = Now()
        run.save(update_fields=["totals", "status", "computed_at"])
        transaction.on_commit(lambda: run_computed.send(sender=Run, run_id=run_id, kind=run.kind))
    run.refresh_from_db()
    return run


def _summed_totals(run: Run) -> dict[str, str]:
    """The run's totals from its chunks' totals: exact Decimal sums, never a rescan of the lines."""
    totals: dict[str, Decimal] = {}
    for chunk_totals in run.chunks.values_list("totals", flat=True):
        for key, amount in (chunk_totals or {}).items():
            totals[key] = totals.get(key, Decimal(0)) + Decimal(amount)
    return {key: str(round_line(amount)) for key, amount in sorted(totals.items())}
