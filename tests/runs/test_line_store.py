"""A run's lines live in its own partition: written index-free while the run computes, indexed and attached when it
is computed, dropped when it fails (``runs.line_store``), here with the commission kind's line table."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from commissions.models import AttributionLine
from commissions.services.run_kind import CommissionRunKind
from runs import line_store
from runs.models import Run, RunChunk
from runs.services import lifecycle
from runs.services.chunks import chunk_process
from runs.services.lifecycle import run_fail, run_start
from runs.services.requests import run_request
from runs.services.sweep import runs_sweep
from tests.commissions.runs_support import post_ok, setup_chain, setup_reference, trade

LINES_TABLE = AttributionLine._meta.db_table


def run_lines_table(run_id: int) -> str:
    return line_store.run_lines_table(LINES_TABLE, run_id)


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def started_run(staff_client, monkeypatch):
    """A running March run with two chunks (account 1001's trades; a trade of an unknown login) not yet processed."""
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2, lots="2.50"), trade(3, login=4242)])
    monkeypatch.setattr("runs.services.requests.dispatch_start", lambda run_id: None)
    run = run_request(kind="commissions", period="2026-03").run
    run_start(run_id=run.pk, enqueue=lambda run_id, index: None)
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and run.chunks_total == 2
    return run


def _scalar(query: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def _attached(table: str) -> bool | None:
    return _scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid) FROM pg_class c "
        "WHERE c.relname = %s UNION ALL SELECT NULL LIMIT 1",
        [table],
    )


def test_lines_appear_all_at_once_when_the_run_is_computed(started_run):
    table = run_lines_table(started_run.pk)
    chunk_process(run_id=started_run.pk, index=0)
    written = RunChunk.objects.get(run=started_run, index=0).lines_written
    assert written > 0
    assert _scalar(f'SELECT COUNT(*) FROM "{table}"') == written
    assert _attached(table) is False
    assert not AttributionLine.objects.filter(run=started_run).exists()  # invisible while the run computes
    assert Run.objects.get(pk=started_run.pk).status == Run.Status.RUNNING

    chunk_process(run_id=started_run.pk, index=1)
    run = Run.objects.get(pk=started_run.pk)
    assert run.status == Run.Status.COMPUTED
    assert _attached(table) is True
    total = sum(RunChunk.objects.filter(run=run).values_list("lines_written", flat=True))
    assert AttributionLine.objects.filter(run=run).count() == total
    assert {line.run_id for line in AttributionLine.objects.filter(run=run)} == {run.pk}


@pytest.mark.parametrize(
    "statement",
    [
        'UPDATE "{table}" SET amount_micros = amount_micros + 1',
        'DELETE FROM "{table}"',
        "UPDATE \"{parent}\" SET reason = 'edited'",
        'DELETE FROM "{parent}" WHERE run_id = {run}',
        'TRUNCATE "{parent}"',
    ],
)
def test_published_lines_are_append_only_in_the_database(started_run, statement):
    """Like the journal: raw SQL cannot edit or delete a computed run's lines, through its partition or the parent
    table; the guards were cloned onto the partition when it was attached."""
    chunk_process(run_id=started_run.pk, index=0)
    chunk_process(run_id=started_run.pk, index=1)
    before = sorted(AttributionLine.objects.filter(run=started_run).values_list("id", "amount_micros", "reason"))
    assert before
    sql = statement.format(table=run_lines_table(started_run.pk), parent=LINES_TABLE, run=started_run.pk)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    after = sorted(AttributionLine.objects.filter(run=started_run).values_list("id", "amount_micros", "reason"))
    assert after == before


def test_the_partition_adopts_the_parent_indexes_without_building_more(started_run):
    for index in (0, 1):
        chunk_process(run_id=started_run.pk, index=index)
    table = run_lines_table(started_run.pk)
    parent_indexes = _scalar("SELECT COUNT(*) FROM pg_index WHERE indrelid = %s::regclass", [LINES_TABLE])
    partition_indexes = _scalar("SELECT COUNT(*) FROM pg_index WHERE indrelid = %s::regclass", [table])
    attached_indexes = _scalar(
        "SELECT COUNT(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass",
        [table],
    )
    assert parent_indexes == 4  # primary key, natural key, the partner index and the unpaid-for-set-up index
    assert partition_indexes == attached_indexes == parent_indexes


def test_a_duplicate_line_fails_the_run_when_its_lines_are_indexed(started_run):
    chunk_process(run_id=started_run.pk, index=0)
    table = run_lines_table(started_run.pk)
    with connection.cursor() as cursor:  # a slip the lease protocol prevents: the same line written twice
        cursor.execute(
            f'INSERT INTO "{table}" (run_id, period, trade_id, account_id, partner_id, kind, level, amount_micros, '
            "currency, reason, adjusts_period) SELECT run_id, period, trade_id, account_id, partner_id, kind, level, "
            f'amount_micros, currency, reason, adjusts_period FROM "{table}" ORDER BY id LIMIT 1'
        )
    chunk_process(run_id=started_run.pk, index=1)
    run = Run.objects.get(pk=started_run.pk)
    assert run.status == Run.Status.FAILED
    assert "could not create unique index" in run.error and "duplicated" in run.error
    assert _attached(table) is None  # dropped: a failed run keeps no lines
    assert not AttributionLine.objects.filter(run=run).exists()


def test_a_failed_chunk_drops_the_runs_lines(started_run, monkeypatch):
    chunk_process(run_id=started_run.pk, index=0)

    def broken(self, run, spec):
        raise ValueError("no USD rate for XYZ on 2026-03-10")

    monkeypatch.setattr(CommissionRunKind, "compute_chunk", broken)
    assert chunk_process(run_id=started_run.pk, index=1) == 0
    run = Run.objects.get(pk=started_run.pk)
    assert run.status == Run.Status.FAILED and "chunk 1: no USD rate" in run.error
    assert _attached(run_lines_table(run.pk)) is None


def test_the_first_failure_is_the_reason_kept(started_run):
    run_fail(run_id=started_run.pk, error="chunk 0: no USD rate for XYZ on 2026-03-10")
    run_fail(run_id=started_run.pk, error='chunk 1: relation "commissions_attributionline_r1" does not exist')
    assert Run.objects.get(pk=started_run.pk).error == "chunk 0: no USD rate for XYZ on 2026-03-10"


def test_a_leftover_table_of_a_reused_run_id_is_replaced(staff_client, monkeypatch):
    """Run ids restart after ``manage.py flush``: an unpublished table of an earlier run with the same id goes."""
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    monkeypatch.setattr("runs.services.requests.dispatch_start", lambda run_id: None)
    run = run_request(kind="commissions", period="2026-03").run
    table = run_lines_table(run.pk)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{table}" (LIKE "{LINES_TABLE}" INCLUDING DEFAULTS INCLUDING GENERATED)')
        cursor.execute(
            f'INSERT INTO "{table}" (run_id, period, trade_id, kind, level, amount_micros, currency, reason, '
            f"adjusts_period) VALUES ({run.pk}, '2026-03', 999999, 'volume', 1, 123000000, 'USD', '', '')"
        )
    run_start(run_id=run.pk, enqueue=lambda run_id, index: chunk_process(run_id=run_id, index=index))
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED
    assert not AttributionLine.objects.filter(run=run, trade_id=999999).exists()
    assert AttributionLine.objects.filter(run=run).count() == RunChunk.objects.get(run=run).lines_written


def test_a_late_chunk_of_a_failed_run_writes_nothing(started_run):
    Run.objects.filter(pk=started_run.pk).update(status=Run.Status.FAILED)
    assert chunk_process(run_id=started_run.pk, index=0) == 0
    assert _scalar(f'SELECT COUNT(*) FROM "{run_lines_table(started_run.pk)}"') == 0


def test_a_worker_still_computing_when_the_run_fails_writes_nothing(started_run, monkeypatch):
    compute = CommissionRunKind.compute_chunk

    def another_worker_fails_the_run_meanwhile(self, run, spec):
        lines = compute(self, run, spec)
        run_fail(run_id=started_run.pk, error="chunk 1: no USD rate for XYZ on 2026-03-10")
        return lines

    monkeypatch.setattr(CommissionRunKind, "compute_chunk", another_worker_fails_the_run_meanwhile)
    assert chunk_process(run_id=started_run.pk, index=0) == 0
    run = Run.objects.get(pk=started_run.pk)
    assert run.status == Run.Status.FAILED and run.error == "chunk 1: no USD rate for XYZ on 2026-03-10"
    assert RunChunk.objects.get(run=run, index=0).status != RunChunk.Status.DONE
    assert _attached(run_lines_table(run.pk)) is None


def test_a_worker_whose_lease_expired_does_not_fail_the_run(started_run, monkeypatch):
    def lease_lost_then_broken(self, run, spec):
        RunChunk.objects.filter(run=started_run, index=0).update(claimed_by="another-worker")  # re-queued meanwhile
        raise ValueError("worker ran out of memory")

    monkeypatch.setattr(CommissionRunKind, "compute_chunk", lease_lost_then_broken)
    assert chunk_process(run_id=started_run.pk, index=0, worker="slow-worker") == 0
    assert Run.objects.get(pk=started_run.pk).status == Run.Status.RUNNING
    chunk = RunChunk.objects.get(run=started_run, index=0)
    assert (chunk.status, chunk.claimed_by) == (RunChunk.Status.CLAIMED, "another-worker")


@pytest.mark.parametrize("recovery", ["redelivery", "sweeper"])
def test_a_transient_error_while_publishing_leaves_the_run_to_be_finished_later(started_run, monkeypatch, recovery):
    from django.db import OperationalError

    publish = lifecycle.run_lines_publish

    def lock_timeout(**kwargs):
        raise OperationalError("canceling statement due to lock timeout")

    chunk_process(run_id=started_run.pk, index=0)
    monkeypatch.setattr(lifecycle, "run_lines_publish", lock_timeout)
    with pytest.raises(OperationalError):
        chunk_process(run_id=started_run.pk, index=1)
    run = Run.objects.get(pk=started_run.pk)
    assert run.status == Run.Status.RUNNING and run.chunks.filter(status=RunChunk.Status.DONE).count() == 2
    assert _attached(run_lines_table(run.pk)) is False  # the lines are kept for the next attempt

    monkeypatch.setattr(lifecycle, "run_lines_publish", publish)
    if recovery == "redelivery":
        assert chunk_process(run_id=run.pk, index=1) == 0
    else:
        result = runs_sweep(enqueue_start=lambda run_id: None, enqueue_chunk=lambda run_id, index: None)
        assert (result.chunks, result.settled) == ([], [run.pk])
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED
    assert AttributionLine.objects.filter(run=run).count() == sum(run.chunks.values_list("lines_written", flat=True))
