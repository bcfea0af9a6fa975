"""``manage.py run_commissions`` and ``run_period``: request, follow and approve a period's run through the run
framework; a kind no app registers is refused."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from commissions.services.run_kind import CommissionRunKind
from ledger.models import JournalEntry, JournalTransaction
from runs.models import Run

from .runs_support import post_ok, setup_chain, setup_reference, trade

# Runs start on commit: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(staff_client):
    """Master (7/lot) → sub (5/lot) → account 1001; three 1-lot EURUSD trades closed in March 2026."""
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2), trade(3)])


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("run_commissions", *args, stdout=out, verbosity=0)
    return out.getvalue()


def test_computes_and_prints_progress_and_totals(broker):
    output = run_command("--period", "2026-03")
    run = Run.objects.get(period="2026-03")
    assert run.status == Run.Status.COMPUTED
    assert f"Requested commissions 2026-03 run #{run.pk}" in output
    assert f"Run #{run.pk}: computed, chunks {run.chunks_done}/{run.chunks_total}" in output
    assert run.chunks_total >= 1 and run.chunks_done == run.chunks_total
    assert "volume" in output and "21.000000" in output  # 3 lots × the master's 7 USD
    assert not JournalTransaction.objects.exists()

    # Asking again shows the live run; nothing new is made.
    again = run_command("--period", "2026-03")
    assert f"Live run: commissions 2026-03 run #{run.pk}" in again
    assert Run.objects.count() == 1


def test_approve_posts_the_journal_and_locks_the_period(broker):
    output = run_command("--period", "2026-03", "--approve")
    run = Run.objects.get(period="2026-03")
    assert run.status == Run.Status.APPROVED
    posted = JournalTransaction.objects.filter(source_key__startswith=f"run:{run.pk}:").count()
    assert posted >= 2 and f"approved: {posted} journal transaction(s) posted" in output
    payable = JournalEntry.objects.filter(account__purpose="partner_payable")
    assert sum(e.amount for e in payable) == -Decimal(21)

    with pytest.raises(CommandError, match="locked"):
        run_command("--period", "2026-03", "--recompute")
    assert Run.objects.count() == 1


def test_recompute_supersedes_a_computed_run(broker):
    run_command("--period", "2026-03")
    first = Run.objects.get()
    output = run_command("--period", "2026-03", "--recompute")
    first.refresh_from_db()
    second = Run.objects.exclude(pk=first.pk).get()
    assert first.status == Run.Status.SUPERSEDED and second.status == Run.Status.COMPUTED
    assert second.totals == first.totals and f"Requested commissions 2026-03 run #{second.pk}" in output


@pytest.mark.parametrize("period", ["2026-13", "03-2026"])
def test_bad_period_exits_non_zero(broker, period):
    with pytest.raises(CommandError) as excinfo:
        run_command("--period", period)
    assert excinfo.value.returncode == 1
    assert not Run.objects.exists()


def test_a_failed_run_exits_non_zero_with_the_reason(broker, monkeypatch):
    def broken(self, run):
        raise ValueError("no USD rate for XYZ on 2026-03-10")

    monkeypatch.setattr(CommissionRunKind, "prepare", broken)
    with pytest.raises(CommandError, match="failed: no USD rate for XYZ"):
        run_command("--period", "2026-03", "--approve")
    assert Run.objects.get().status == Run.Status.FAILED
    assert not JournalTransaction.objects.exists()


def test_follows_a_run_the_workers_compute(broker, monkeypatch):
    """With a broker the request only queues the run: the command polls the run row until it is computed."""
    from runs import tasks

    monkeypatch.setattr("runs.services.requests.dispatch_start", lambda run_id: None)
    polls = []

    def worker_runs_meanwhile(seconds):  # the first poll finds a worker has started and finished the run
        polls.append(seconds)
        if len(polls) == 1:
            tasks.start(Run.objects.get().pk)

    monkeypatch.setattr("runs.management.base.time.sleep", worker_runs_meanwhile)
    output = run_command("--period", "2026-03", "--poll", "0.5")
    assert polls == [0.5]
    assert Run.objects.get().status == Run.Status.COMPUTED and "computed" in output and "21.000000" in output


def test_gives_up_when_no_worker_picks_the_run_up(broker, monkeypatch):
    monkeypatch.setattr("runs.services.requests.dispatch_start", lambda run_id: None)
    with pytest.raises(CommandError, match=r"still queued .* are the Celery workers running"):
        run_command("--period", "2026-03", "--timeout", "0.05", "--poll", "0.01")


def test_run_commissions_computes_commissions_only(broker):
    """The live bug: ``run_commissions --kind fees`` made a "fees" run of commissions. The command has no kind."""
    with pytest.raises(CommandError, match="unrecognized arguments: --kind"):
        call_command("run_commissions", "--period", "2026-03", "--kind", "fees", stdout=StringIO())
    assert not Run.objects.exists()


def test_run_period_offers_only_registered_kinds(broker):
    with pytest.raises(CommandError, match=r"invalid choice: 'ghost' \(choose from '?commissions'?, '?fees'?\)"):
        call_command("run_period", "--kind", "ghost", "--period", "2026-03", stdout=StringIO())
    assert not Run.objects.exists()
    out = StringIO()
    call_command("run_period", "--kind", "commissions", "--period", "2026-03", stdout=out, verbosity=0)
    assert Run.objects.get().status == Run.Status.COMPUTED and "21.000000" in out.getvalue()


def test_approve_with_user_records_the_approver_who_must_hold_the_permission(broker):
    """``--user`` is optional: given, the approver must hold runs.approve_run (checked before anything is requested)
    and is recorded on the run; without it the approval is the operator's (the audit log's command and OS user)."""
    from core.roles import Role, sync_roles
    from tests.roles import staff_with_roles

    sync_roles()
    staff_with_roles("support-1", Role.SUPPORT)
    finance = staff_with_roles("finance-1", Role.FINANCE)
    with pytest.raises(CommandError, match=r"runs\.approve_run"):
        run_command("--period", "2026-03", "--approve", "--user", "support-1")
    with pytest.raises(CommandError, match="with --approve"):
        run_command("--period", "2026-03", "--user", "finance-1")
    assert not Run.objects.exists()
    run_command("--period", "2026-03", "--approve", "--user", "finance-1")
    run = Run.objects.get(period="2026-03")
    assert run.status == Run.Status.APPROVED and run.approved_by == finance
