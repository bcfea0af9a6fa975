"""Runs under real Celery workers (separate processes, Redis broker, the committed test database): a worker killed
mid-run, every chunk delivered twice, ten concurrent requests, two workers sharing a run. In each case the database
must end with exactly the lines an undisturbed, eager run writes."""

from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
import redis
from django.db import connection

from commissions.models import AttributionLine
from config.celery import app
from demo.bench.commissions import BrokerShape, broker_load
from runs.models import Run, RunChunk
from runs.services.lifecycle import run_start as service_run_start
from runs.services.requests import run_request
from runs.tasks import chunk as run_chunk
from runs.tasks import sweep as sweep_run_leases
from tests.worker import celery_worker, kill_hard, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

PERIOD = "2026-03"
LEASE_SECONDS = 3
CHUNK_TRADES = 200
# A few hundred accounts and some thousands of trades under 2-3 level chains: 10-30 chunks of ~200 trades.
SHAPE = BrokerShape(trades=3_000, ibs=40, accounts=300, max_depth=3, seed=11, period=PERIOD, prefix="rel")
LINE_FIELDS = (
    "period",
    "trade_id",
    "account_id",
    "partner_id",
    "beneficiary_account_id",
    "kind",
    "level",
    "rule_id",
    "base_micros",
    "rate_micros",
    "tier",
    "multiplier_micros",
    "amount_micros",
    "currency",
    "reason",
    "adjusts_period",
)


@pytest.fixture
def broker(settings):
    settings.IBEX_RUN_CHUNK_TRADES = CHUNK_TRADES
    settings.IBEX_RUN_LEASE_SECONDS = LEASE_SECONDS
    return broker_load(shape=SHAPE)


@pytest.fixture
def celery_redis():
    """The test process's Celery app sends to Redis instead of running tasks in-process; restored afterwards."""
    url = os.environ["REDIS_URL"]
    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = url
    _reset_producers()
    app.control.purge()
    yield redis.Redis.from_url(url)
    app.control.purge()
    app.conf.task_always_eager, app.conf.broker_url = saved
    _reset_producers()


def _reset_producers() -> None:
    # Producer pools are bound to the broker URL they were created with (kombu keeps one pool per URL).
    app._pool = None
    app.amqp._producer_pool = None


def _workers(tmp_path, *names: str):
    env = {"IBEX_RUN_LEASE_SECONDS": str(LEASE_SECONDS), "IBEX_RUN_CHUNK_TRADES": str(CHUNK_TRADES)}
    return [celery_worker(name, log_path=tmp_path / f"{name}.log", **env) for name in names]


def _wait_workers_ready(count: int) -> None:
    wait_for(lambda: len(app.control.ping(timeout=0.5)) >= count, timeout=60, what=f"{count} worker(s) to answer")


def _run(run_id: int) -> Run:
    return Run.objects.get(pk=run_id)


def _wait_computed(run_id: int, *, sweep: bool = False, timeout: float = 90) -> Run:
    def computed():
        if sweep:
            sweep_run_leases()
        run = _run(run_id)
        assert run.status != Run.Status.FAILED, run.error
        return run if run.status == Run.Status.COMPUTED else None

    return wait_for(computed, timeout=timeout, interval=1.0 if sweep else 0.3, what=f"run {run_id} to compute")


def _lines(run_id: int) -> Counter:
    return Counter(AttributionLine.objects.filter(run_id=run_id).values_list(*LINE_FIELDS))


def _undisturbed_lines(run_id: int) -> Counter:
    """Recompute the period eagerly in this process (the reference run) and return its lines."""
    app.conf.task_always_eager = True
    try:
        result = run_request(kind="commissions", period=PERIOD, recompute=True)
    finally:
        app.conf.task_always_eager = False
    assert result.created and result.run.pk != run_id
    reference = _run(result.run.pk)
    assert reference.status == Run.Status.COMPUTED, reference.error
    assert _run(run_id).status == Run.Status.SUPERSEDED
    return _lines(reference.pk)


def _assert_complete(run: Run) -> Counter:
    lines = _lines(run.pk)
    chunks = list(RunChunk.objects.filter(run=run))
    assert 10 <= run.chunks_total <= 30, run.chunks_total
    assert run.chunks_done == run.chunks_total == len(chunks)
    assert all(chunk.status == RunChunk.Status.DONE for chunk in chunks)
    assert max(lines.values()) == 1, "a line was written twice"
    assert sum(chunk.lines_written for chunk in chunks) == sum(lines.values())
    assert sum(lines.values()) > SHAPE.trades  # several levels and rebates per trade
    return lines


def test_worker_killed_mid_run_is_recovered_by_the_sweeper(broker, celery_redis, tmp_path):
    first, second = _workers(tmp_path, "w1", "w2")
    with first as proc:
        _wait_workers_ready(1)
        run_id = run_request(kind="commissions", period=PERIOD).run.pk
        wait_for(
            lambda: RunChunk.objects.filter(run_id=run_id, status=RunChunk.Status.DONE).count() >= 3,
            timeout=60,
            interval=0.05,
            what="a few chunks done",
        )
        kill_hard(proc)
    done_before = RunChunk.objects.filter(run_id=run_id, status=RunChunk.Status.DONE).count()
    assert done_before < _run(run_id).chunks_total, "the worker finished before it could be killed"
    assert _run(run_id).status == Run.Status.RUNNING

    with second:
        _wait_workers_ready(1)
        # The killed worker's unacknowledged messages stay invisible in Redis for an hour: only the sweeper
        # (re-queueing expired leases and unclaimed chunks) can finish the run.
        run = _wait_computed(run_id, sweep=True)
    lines = _assert_complete(run)
    assert lines == _undisturbed_lines(run_id)


def test_every_chunk_delivered_twice_writes_each_line_once(broker, celery_redis, tmp_path):
    run_id = run_request(kind="commissions", period=PERIOD).run.pk
    app.control.purge()  # drop the run_start message: this test starts the run itself, doubling every chunk
    sent = []

    def enqueue_twice(run_pk: int, index: int) -> None:
        for _ in range(2):
            run_chunk.delay(run_pk, index)
            sent.append(index)

    service_run_start(run_id=run_id, enqueue=enqueue_twice)
    total = _run(run_id).chunks_total
    assert sorted(sent) == sorted(list(range(total)) * 2)
    assert celery_redis.llen("celery") == 2 * total

    first, second = _workers(tmp_path, "w1", "w2")
    with first, second:
        run = _wait_computed(run_id)
        wait_for(lambda: celery_redis.llen("celery") == 0, timeout=60, what="every duplicate consumed")
    lines = _assert_complete(run)
    assert lines == _undisturbed_lines(run_id)


def test_ten_concurrent_requests_make_one_run(broker, celery_redis):
    barrier = threading.Barrier(10)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def request() -> None:
        try:
            barrier.wait(timeout=30)
            result = run_request(kind="commissions", period=PERIOD)
            results.append((result.run.pk, result.created))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=request) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == 10
    assert len({run_id for run_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Run.objects.filter(kind="commissions", period=PERIOD).count() == 1
    assert celery_redis.llen("celery") == 1  # one run_start message, not ten


def test_two_workers_share_a_run_and_match_a_single_worker(broker, celery_redis, tmp_path):
    first, second = _workers(tmp_path, "w1", "w2")
    with first, second:
        _wait_workers_ready(2)
        run_id = run_request(kind="commissions", period=PERIOD).run.pk
        run = _wait_computed(run_id)
    lines = _assert_complete(run)
    claimed_by = set(RunChunk.objects.filter(run=run).values_list("claimed_by", flat=True))
    assert len(claimed_by) == 2, claimed_by

    single = _workers(tmp_path, "solo")[0]
    with single:
        _wait_workers_ready(1)
        app.control.purge()
        result = run_request(kind="commissions", period=PERIOD, recompute=True)
        solo = _wait_computed(result.run.pk)
    assert len(set(RunChunk.objects.filter(run=solo).values_list("claimed_by", flat=True))) == 1
    assert _assert_complete(solo) == lines


def test_a_workers_changes_name_the_task_and_who_queued_it(broker, celery_redis, tmp_path):
    """The audit trail across processes: the run's state changes made on the worker carry the task's name and the
    user and command that requested the run (a message header, core.audit.carry_actor)."""
    from core.audit import audit_context
    from core.models import AuditEvent

    (worker,) = _workers(tmp_path, "w1")
    with worker:
        _wait_workers_ready(1)
        with audit_context(via="command", command="run_period", user=42, username="operator"):
            run_id = run_request(kind="commissions", period=PERIOD).run.pk
        run = _wait_computed(run_id)
    changes = {
        (event.pgh_diff or {}).get("status", [None, None])[1]: event
        for event in AuditEvent.objects.tracks(run).filter(pgh_label="update")
    }
    for status in ("running", "computed"):
        event = changes[status]
        assert (event.via, event.username, event.user_id, event.command) == ("task", "operator", 42, "run_period")
        assert event.task in ("runs.start", "runs.chunk"), event.pgh_context
    assert changes["running"].task == "runs.start"
