"""The run framework, with a kind that exists only in the tests (``widgets``, no line of commission code): typed
chunks, leases and heartbeats, redelivery, the attempt cap, transient errors, the sweeper (lost starts, lost chunks,
only expired ones), approval through the ledger, and the registry (unknown kinds refused everywhere)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError, connection
from django.urls import reverse

from commissions.models import AttributionLine, RunTierVolume
from core.exceptions import Conflict
from ledger.models import JournalEntry, JournalTransaction, PeriodLock
from runs.models import Run, RunChunk
from runs.services.approve import run_approve
from runs.services.chunks import chunk_claim, chunk_process
from runs.services.lifecycle import run_start
from runs.services.requests import run_request
from runs.services.sweep import SweepResult, runs_sweep

from .widgets import CHUNKS, WIDGET_LINES, expected_total, widget_kind, widget_lines

pytestmark = pytest.mark.django_db(transaction=True)

ALL_WIDGETS = [w for chunk in CHUNKS for w in chunk]


@pytest.fixture
def widgets():
    with widget_kind() as kind:
        yield kind


@pytest.fixture
def no_messages(monkeypatch):
    """Messages are lost: requests and starts send nothing (the sweeper's job to recover)."""
    monkeypatch.setattr("runs.services.requests.dispatch_start", lambda run_id: None)


def _started(period: str = "2026-03") -> Run:
    run = run_request(kind="widgets", period=period).run
    run_start(run_id=run.pk, enqueue=lambda run_id, index: None)
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and run.chunks_total == len(CHUNKS)
    return run


def _age(table: str, column: str, where: str, params: list, *, seconds: int) -> None:
    """Move a timestamp back on the database's clock (as if that much time had passed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = {column} - make_interval(secs => %s) WHERE {where}", [seconds, *params]
        )


def test_a_kind_registered_only_here_runs_through_the_whole_framework(widgets):
    result = run_request(kind="widgets", period="2026-03")  # eager Celery: start and chunks run on commit
    run = Run.objects.get(pk=result.run.pk)
    assert result.created and run.status == Run.Status.COMPUTED, run.error
    assert [(c.spec_type, c.spec) for c in run.chunks.order_by("index")] == [
        ("widgets", {"type": "widgets", "widget_ids": list(ids)}) for ids in CHUNKS
    ]
    assert widget_lines(run.pk) == [(w, w * 1_234_567) for w in ALL_WIDGETS]
    assert run.totals == {"volume": str(expected_total(ALL_WIDGETS))}  # 21 × 1.234567 = 25.925907

    # Every chunk delivered again: nothing is computed or written twice.
    for index in range(len(CHUNKS)):
        assert chunk_process(run_id=run.pk, index=index) == 0
    assert all(count == 1 for count in widgets.computed.values()) and len(widget_lines(run.pk)) == 6

    approved = run_approve(run_id=run.pk)
    assert approved.status == Run.Status.APPROVED
    legs = dict(
        JournalEntry.objects.filter(transaction__source_key=f"run:{run.pk}:widgets:USD").values_list(
            "account__purpose", "amount"
        )
    )
    assert legs == {
        "commission_expense": Decimal("25.925907"),
        "payout_clearing": Decimal("-25.93"),
        "rounding": Decimal("0.004093"),
    }
    assert PeriodLock.objects.filter(kind="widgets", period="2026-03", source_key=f"run:{run.pk}").exists()
    assert not PeriodLock.objects.filter(kind="commissions").exists()  # a lock of one kind locks only that kind
    run_approve(run_id=run.pk)
    assert JournalTransaction.objects.count() == 1
    # No commission code took part.
    assert not AttributionLine.objects.exists() and not RunTierVolume.objects.exists()


def test_the_api_offers_exactly_the_registered_kinds(staff_client, widgets):
    accepted = staff_client.post("/api/v1/runs/", {"kind": "widgets", "period": "2026-03"}, format="json")
    assert accepted.status_code == 202 and accepted.json()["status"] == "computed"
    for kind in ("payouts", "ghost"):
        refused = staff_client.post("/api/v1/runs/", {"kind": kind, "period": "2026-03"}, format="json")
        assert refused.status_code == 400 and "kind" in refused.json()
    schema = staff_client.get("/api/schema/?format=json").json()
    kinds = schema["components"]["schemas"]["RunCreateRequest"]["properties"]["kind"]
    enum = kinds.get("enum") or schema["components"]["schemas"][kinds["$ref"].rsplit("/", 1)[-1]]["enum"]
    assert set(enum) == {"commissions", "fees", "widgets"}


def test_a_run_of_a_kind_nobody_registers_cannot_start_or_be_approved(staff_client):
    ghost = Run.objects.create(
        kind="ghost", period="2026-03", period_start="2026-02-28T22:00Z", period_end="2026-03-31T22:00Z"
    )
    run_start(run_id=ghost.pk)
    ghost.refresh_from_db()
    assert ghost.status == Run.Status.FAILED and "unknown run kind 'ghost'" in ghost.error
    Run.objects.filter(pk=ghost.pk).update(status=Run.Status.COMPUTED)  # as a run computed before an upgrade
    response = staff_client.post(f"/api/v1/runs/{ghost.pk}/approve/", {}, format="json")
    assert response.status_code == 409 and "unknown run kind" in response.json()["detail"]
    assert not JournalTransaction.objects.exists()


def test_the_admin_compute_form_offers_and_accepts_only_registered_kinds(admin_client):
    url = reverse("admin:runs_run_compute")
    choices = dict(admin_client.get(url).context["form"].fields["kind"].choices)
    assert set(choices) == {"commissions", "fees"}
    response = admin_client.post(url, {"kind": "ghost", "period": "2026-03"})
    assert response.status_code == 200 and "kind" in response.context["form"].errors
    assert not Run.objects.exists()


def test_the_old_task_names_still_run_the_framework(monkeypatch):
    """Messages queued under the names the tasks had inside ``commissions`` run the framework's services."""
    from config.celery import app

    calls = []
    monkeypatch.setattr("runs.tasks.run_start", lambda **kwargs: calls.append(("start", kwargs)))
    monkeypatch.setattr("runs.tasks.chunk_process", lambda **kwargs: calls.append(("chunk", kwargs)) or 0)
    monkeypatch.setattr(
        "runs.tasks.runs_sweep",
        lambda: calls.append(("sweep", {})) or SweepResult(),
    )
    for name, args in (
        ("commissions.run_start", [7]),
        ("runs.start", [7]),
        ("commissions.run_chunk", [7, 2]),
        ("runs.chunk", [7, 2]),
        ("commissions.sweep_run_leases", []),
        ("runs.sweep", []),
    ):
        app.tasks[name].apply(args=args).get()
    assert [c[0] for c in calls] == ["start", "start", "chunk", "chunk", "sweep", "sweep"]
    assert calls[0][1] == calls[1][1] == {"run_id": 7}
    assert {k: v for k, v in calls[2][1].items() if k != "worker"} == {"run_id": 7, "index": 2}
    chunk = app.tasks["runs.chunk"]
    assert chunk.soft_time_limit < chunk.time_limit and chunk.acks_late and chunk.reject_on_worker_lost


def test_lost_chunk_messages_are_sent_again_only_once_their_dispatch_is_stale(widgets, no_messages):
    run = _started()
    sent: list[tuple[int, int]] = []

    def collect(run_id: int, index: int) -> None:
        sent.append((run_id, index))

    # Just sent: the sweeper waits (the messages may simply still be in the queue).
    assert runs_sweep(enqueue_chunk=collect).chunks == [] and sent == []
    _age(RunChunk._meta.db_table, "dispatched_at", "run_id = %s AND index = 1", [run.pk], seconds=3600)
    assert runs_sweep(enqueue_chunk=collect).chunks == [(run.pk, 1)] and sent == [(run.pk, 1)]
    # Re-sent now: the next pass leaves it alone again.
    assert runs_sweep(enqueue_chunk=collect).chunks == []
    # A chunk being worked on (lease held) is never re-sent, however old its message.
    assert chunk_claim(run_id=run.pk, index=0, worker="w1")
    _age(RunChunk._meta.db_table, "dispatched_at", "run_id = %s", [run.pk], seconds=3600)
    assert runs_sweep(enqueue_chunk=collect).chunks == [(run.pk, 1), (run.pk, 2)]

    # Once the worker holding chunk 0 is gone (its lease expired), the sweeper finishes the run.
    _age(RunChunk._meta.db_table, "lease_expires_at", "run_id = %s", [run.pk], seconds=3600)
    _age(RunChunk._meta.db_table, "dispatched_at", "run_id = %s", [run.pk], seconds=3600)
    runs_sweep(enqueue_chunk=lambda run_id, index: chunk_process(run_id=run_id, index=index))
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED and len(widget_lines(run.pk)) == 6


def test_a_run_stuck_in_queued_is_recovered_by_the_sweeper(widgets, no_messages):
    run = run_request(kind="widgets", period="2026-03").run
    starts: list[int] = []
    assert runs_sweep(enqueue_start=starts.append).starts == [] and starts == []  # its start may still be queued
    _age(Run._meta.db_table, "start_dispatched_at", "id = %s", [run.pk], seconds=3600)
    runs_sweep(
        enqueue_start=lambda run_id: run_start(run_id=run_id, enqueue=lambda r, i: chunk_process(run_id=r, index=i))
    )
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED and len(widget_lines(run.pk)) == 6


def test_a_start_delivered_twice_plans_and_sends_once(widgets, no_messages):
    run = run_request(kind="widgets", period="2026-03").run
    sent: list[int] = []
    run_start(run_id=run.pk, enqueue=lambda run_id, index: sent.append(index))
    run_start(run_id=run.pk, enqueue=lambda run_id, index: sent.append(index))
    assert sorted(sent) == [0, 1, 2] and RunChunk.objects.filter(run=run).count() == 3
    first_snapshot = Run.objects.get(pk=run.pk).snapshot
    run_start(run_id=run.pk)
    assert Run.objects.get(pk=run.pk).snapshot == first_snapshot


def test_a_chunk_slower_than_its_lease_keeps_it_by_heartbeat_and_is_processed_once(widgets, no_messages, settings):
    settings.IBEX_RUN_LEASE_SECONDS = 1
    run = _started()
    widgets.slow[CHUNKS[0]] = 3.0  # three leases long
    claims: list[int | None] = []
    resent: list[bool] = []

    def other_worker_and_sweeper() -> None:
        try:
            for _ in range(4):
                time.sleep(0.6)
                claims.append(chunk_claim(run_id=run.pk, index=0, worker="other", lease_seconds=1))
                sweep = runs_sweep(enqueue_chunk=lambda run_id, index: None, lease_seconds=1)
                resent.append((run.pk, 0) in sweep.chunks)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker_and_sweeper)
    thread.start()
    written = chunk_process(run_id=run.pk, index=0, worker="slow", lease_seconds=1)
    thread.join()
    chunk = RunChunk.objects.get(run=run, index=0)
    assert written == 2 and chunk.status == RunChunk.Status.DONE and chunk.claimed_by == "slow"
    assert chunk.attempts == 1 and widgets.computed[CHUNKS[0]] == 1
    # The other worker never got it and the sweeper never re-sent it, though each lease was only a second long.
    assert claims == [None] * 4 and resent == [False] * 4
    assert [w for w, _ in widget_lines(run.pk)] == []  # invisible until the run is computed
    for index in (1, 2):
        chunk_process(run_id=run.pk, index=index)
    assert [w for w, _ in widget_lines(run.pk)] == ALL_WIDGETS


def test_a_transient_database_error_retries_the_chunk_instead_of_failing_the_run(widgets, no_messages):
    run = _started()
    widgets.failures[CHUNKS[1]] = [OperationalError("server closed the connection unexpectedly")]
    with pytest.raises(OperationalError):
        chunk_process(run_id=run.pk, index=1)  # the task's autoretry sends it again
    chunk = RunChunk.objects.get(run=run, index=1)
    assert chunk.status == RunChunk.Status.PENDING and "transient" in chunk.error and chunk.attempts == 1
    assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING
    for index in range(3):
        chunk_process(run_id=run.pk, index=index)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED and len(widget_lines(run.pk)) == 6
    assert RunChunk.objects.get(run=run, index=1).attempts == 2


def test_the_attempt_cap_fails_the_run_with_the_reason(widgets, no_messages, settings):
    settings.IBEX_RUN_MAX_ATTEMPTS = 2
    run = _started()
    widgets.failures[CHUNKS[1]] = [OperationalError("could not connect to server")] * 5
    for index in (0, 2):
        chunk_process(run_id=run.pk, index=index)
    for _ in range(2):
        with pytest.raises(OperationalError):
            chunk_process(run_id=run.pk, index=1)
    assert chunk_process(run_id=run.pk, index=1) == 0  # a third claim is refused: the chunk gives up
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "gave up after 2 attempt(s); last: transient: could not connect to server" in run.error
    assert widgets.computed[CHUNKS[1]] == 2
    assert not widget_lines(run.pk)  # a failed run keeps no lines

    # The sweeper gives up on a chunk whose worker died on its last attempt, too.
    widgets.failures.clear()
    other = _started("2026-04")
    RunChunk.objects.filter(run=other, index=0).update(status="claimed", attempts=2, claimed_by="dead")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RunChunk._meta.db_table} SET lease_expires_at = clock_timestamp() - interval '1 second' "
            "WHERE run_id = %s AND index = 0",
            [other.pk],
        )
    for index in (1, 2):
        chunk_process(run_id=other.pk, index=index)
    result = runs_sweep(enqueue_chunk=lambda run_id, index: None)
    other.refresh_from_db()
    assert result.given_up == [other.pk] and other.status == Run.Status.FAILED
    assert "its worker stopped before finishing" in other.error


def test_failures_of_several_chunks_are_merged_into_the_runs_reason(widgets, no_messages):
    from runs.registry import ChunkFailure

    run = _started()
    widgets.failures[CHUNKS[0]] = [ChunkFailure("a", details={"missing rates": ["EUR 2026-03-02", "GBP 2026-03-02"]})]
    widgets.failures[CHUNKS[2]] = [ChunkFailure("b", details={"missing rates": ["EUR 2026-03-02", "JPY 2026-03-09"]})]
    for index in range(3):
        chunk_process(run_id=run.pk, index=index)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert run.error == "2 of 3 chunk(s) failed: missing rates (3): EUR 2026-03-02, GBP 2026-03-02, JPY 2026-03-09"
    assert run.error_details == {"missing rates": ["EUR 2026-03-02", "GBP 2026-03-02", "JPY 2026-03-09"]}
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{WIDGET_LINES}_r{run.pk}"])
        assert cursor.fetchone()[0] is None


def test_leases_are_taken_and_compared_by_the_database_clock(widgets, no_messages):
    import time_machine

    run = _started()
    with time_machine.travel(timedelta(hours=6), tick=True):  # this process's clock is six hours ahead
        assert chunk_claim(run_id=run.pk, index=0, worker="w1", lease_seconds=300)
        # By the database's clock the lease has five minutes left: no other worker and no sweeper may take it.
        assert chunk_claim(run_id=run.pk, index=0, worker="w2", lease_seconds=300) is None
        assert (run.pk, 0) not in runs_sweep(enqueue_chunk=lambda run_id, index: None).chunks
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT lease_expires_at - now() FROM {RunChunk._meta.db_table} WHERE run_id = %s AND index = 0",
            [run.pk],
        )
        left = cursor.fetchone()[0]
    assert timedelta(seconds=250) < left <= timedelta(seconds=300)


def test_a_snapshot_that_cannot_be_taken_fails_the_run_with_its_reason(widgets, no_messages):
    def broken(run):
        raise ValueError("accounts table has no column 'login'")

    widgets.take_snapshot = broken
    run = run_request(kind="widgets", period="2026-03").run
    run_start(run_id=run.pk, enqueue=lambda run_id, index: None)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and run.error == "snapshot: accounts table has no column 'login'"
    assert not RunChunk.objects.filter(run=run).exists()
    # A failed run is not live: asking again makes a new run, which computes once the cause is gone.
    del widgets.take_snapshot
    again = run_request(kind="widgets", period="2026-03")
    assert again.created and again.run.pk != run.pk


def test_a_transient_error_while_starting_leaves_the_run_queued_saying_why(widgets, no_messages):
    attempts = []

    def flaky(run):
        attempts.append(run.pk)
        if len(attempts) == 1:
            raise OperationalError("could not serialize access")
        return {"max_widget": 6}

    widgets.take_snapshot = flaky
    run = run_request(kind="widgets", period="2026-03").run
    with pytest.raises(OperationalError):  # the start task's autoretry (or the sweeper) starts it again
        run_start(run_id=run.pk, enqueue=lambda run_id, index: None)
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED and "could not serialize access" in run.error and not run.snapshot
    run_start(run_id=run.pk, enqueue=lambda run_id, index: chunk_process(run_id=run_id, index=index))
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED and run.error == "" and run.snapshot == {"max_widget": 6}


def test_one_run_the_sweeper_cannot_settle_does_not_hold_up_the_others(widgets, no_messages, monkeypatch):
    from runs.services import sweep

    first, second = _started("2026-03"), _started("2026-04")
    for run in (first, second):
        for index in range(len(CHUNKS)):
            chunk_process(run_id=run.pk, index=index)
    # Both runs' chunks are done, but their settling was lost (as if the workers died before it).
    Run.objects.filter(pk__in=[first.pk, second.pk]).update(status=Run.Status.RUNNING, chunks_done=3)
    _age(Run._meta.db_table, "start_dispatched_at", "id IN (%s, %s)", [first.pk, second.pk], seconds=3600)
    real_settle = sweep.run_settle

    def settle(*, run_id):
        if run_id == first.pk:
            raise OperationalError("deadlock detected")
        return real_settle(run_id=run_id)

    monkeypatch.setattr(sweep, "run_settle", settle)
    result = runs_sweep(enqueue_chunk=lambda run_id, index: None)
    assert second.pk in result.settled and first.pk not in result.settled
    assert Run.objects.get(pk=second.pk).status == Run.Status.COMPUTED
    monkeypatch.setattr(sweep, "run_settle", real_settle)
    assert first.pk in runs_sweep(enqueue_chunk=lambda run_id, index: None).settled  # the next pass finishes it
    assert Run.objects.get(pk=first.pk).status == Run.Status.COMPUTED


def test_settling_a_run_whose_kind_is_gone_fails_it_instead_of_raising():
    from runs.services.lifecycle import run_settle

    ghost = Run.objects.create(
        kind="ghost",
        period="2026-03",
        status=Run.Status.RUNNING,
        chunks_total=0,
        period_start="2026-02-28T22:00Z",
        period_end="2026-03-31T22:00Z",
    )
    assert run_settle(run_id=ghost.pk).status == Run.Status.FAILED
    assert "unknown run kind 'ghost'" in Run.objects.get(pk=ghost.pk).error


def test_a_scoped_kind_never_has_two_live_runs_that_cover_the_same_money(widgets, no_messages):
    widgets.scoped = True  # as a kind that computes one MAM group at a time
    group_a = run_request(kind="widgets", period="2026-03", scope="group-a").run
    assert run_request(kind="widgets", period="2026-03", scope="group-b").created  # disjoint scopes coexist
    with pytest.raises(Conflict, match="overlaps the whole period"):
        run_request(kind="widgets", period="2026-03")  # the whole period would pay group-a again
    assert run_request(kind="widgets", period="2026-04").created  # another period is another matter

    # Once group-a's run failed (not live), still group-b's blocks the whole period; with none live it may run.
    Run.objects.filter(period="2026-03").update(status=Run.Status.FAILED)
    whole = run_request(kind="widgets", period="2026-03").run
    with pytest.raises(Conflict, match="overlaps group-a"):
        run_request(kind="widgets", period="2026-03", scope="group-a")
    assert Run.objects.filter(period="2026-03", status__in=[Run.Status.QUEUED]).get() == whole
    assert group_a.pk != whole.pk

    # A lock of one scope locks the whole period's runs too, and a whole-period lock every scope.
    PeriodLock.objects.create(kind="widgets", period="2026-05", scope="group-a", source_key="test:lock")
    with pytest.raises(Conflict, match="locked"):
        run_request(kind="widgets", period="2026-05")
    assert run_request(kind="widgets", period="2026-05", scope="group-b").created
    PeriodLock.objects.create(kind="widgets", period="2026-06", scope="", source_key="test:lock-whole")
    with pytest.raises(Conflict, match="locked"):
        run_request(kind="widgets", period="2026-06", scope="group-b")


def test_a_kind_without_scopes_refuses_one_at_every_door(staff_client, admin_client):
    from io import StringIO

    from django.core.management import CommandError, call_command

    response = staff_client.post("/api/v1/runs/", {"kind": "commissions", "period": "2026-03", "scope": "g1"})
    assert response.status_code == 400 and "whole period" in str(response.json()["scope"])
    form = admin_client.post(
        reverse("admin:runs_run_compute"), {"kind": "commissions", "period": "2026-03", "scope": "g1"}
    ).context["form"]
    assert "whole period" in str(form.errors["scope"])
    with pytest.raises(CommandError, match="whole period"):
        call_command("run_period", kind="commissions", period="2026-03", scope="g1", stdout=StringIO())
    assert not Run.objects.exists()


@pytest.mark.parametrize("period", ["0000-01", "9999-12", "1969-12", "3000-01", "２０２６-03", "2026-3", "2026-13"])
def test_a_period_outside_the_years_trades_have_is_a_field_error_at_every_door(staff_client, admin_client, period):
    from io import StringIO

    from django.core.management import CommandError, call_command

    response = staff_client.post("/api/v1/runs/", {"kind": "commissions", "period": period})
    assert response.status_code == 400 and "period" in response.json()
    form = admin_client.post(reverse("admin:runs_run_compute"), {"kind": "commissions", "period": period}).context[
        "form"
    ]
    assert "period" in form.errors
    with pytest.raises(CommandError, match=r"between 1970-01 and 2999-12|must look like YYYY-MM"):
        call_command("run_period", kind="commissions", period=period, stdout=StringIO())
    assert not Run.objects.exists()


def test_a_message_the_broker_refuses_is_sent_on_the_next_pass_and_holds_up_no_other(widgets, no_messages):
    run = _started()
    _age(RunChunk._meta.db_table, "dispatched_at", "run_id = %s", [run.pk], seconds=3600)
    sent: list[tuple[int, int]] = []

    def flaky_broker(run_id: int, index: int) -> None:
        if index == 1:
            raise ValueError("message refused: too large")  # this message, not the broker
        sent.append((run_id, index))

    result = runs_sweep(enqueue_chunk=flaky_broker)
    assert result.chunks == [(run.pk, 0), (run.pk, 2)] and sent == [(run.pk, 0), (run.pk, 2)]
    # The refused one was unmarked: the next pass sends it at once, not a lease later; the sent ones wait.
    assert runs_sweep(enqueue_chunk=lambda run_id, index: sent.append((run_id, index))).chunks == [(run.pk, 1)]
    assert sent[-1] == (run.pk, 1)


def test_once_the_broker_is_unreachable_the_pass_stops_sending_and_leaves_the_rest_for_the_next(widgets, no_messages):
    from kombu.exceptions import OperationalError as BrokerOperationalError

    run = _started()
    _age(RunChunk._meta.db_table, "dispatched_at", "run_id = %s", [run.pk], seconds=3600)
    attempts: list[int] = []

    def broker_down(run_id: int, index: int) -> None:
        attempts.append(index)
        if index >= 1:
            raise BrokerOperationalError("[Errno 111] Connection refused")

    assert runs_sweep(enqueue_chunk=broker_down).chunks == [(run.pk, 0)]
    assert attempts == [0, 1]  # chunk 2 did not wait out a second timeout
    resent = runs_sweep(enqueue_chunk=lambda run_id, index: None).chunks
    assert resent == [(run.pk, 1), (run.pk, 2)]  # both unmarked: sent on the very next pass


@pytest.mark.parametrize("first", ["colleague", "command", "same admin"])
def test_an_approval_made_a_moment_before_is_not_counted_as_ours(widgets, admin_client, admin_user, monkeypatch, first):
    from django.contrib.auth import get_user_model

    from runs.services import approve

    run = run_request(kind="widgets", period="2026-03").run
    earlier = {
        "colleague": get_user_model().objects.create_user("colleague", is_staff=True),
        "command": None,  # manage.py run_period --approve records nobody
        "same admin": admin_user,  # a double submit
    }[first]
    real = approve.run_approval

    def raced(*, run_id, user=None):
        real(run_id=run_id, user=earlier)  # the other click lands first
        return real(run_id=run_id, user=user)

    monkeypatch.setattr("runs.admin.run_approval", raced)
    response = admin_client.post(
        reverse("admin:runs_run_changelist"),
        {"action": "approve_selected", "_selected_action": [run.pk]},
        follow=True,
    )
    by = f" (by {earlier})" if earlier else ""
    assert [str(m) for m in response.context["messages"]] == [f"Already approved, nothing posted: #{run.pk}{by}."]
    assert Run.objects.get(pk=run.pk).approved_by == earlier
    assert JournalTransaction.objects.filter(source_key__startswith=f"run:{run.pk}:").count() == 1
