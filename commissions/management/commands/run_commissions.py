"""``manage.py run_commissions --period YYYY-MM [--kind commissions|fees] [--recompute] [--approve]``: a thin wrapper
over :func:`commissions.services.runs.run_request` and :func:`commissions.services.journal.run_approve` that follows
the run to the end and prints its totals."""

from __future__ import annotations

import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from commissions.models import JournalTransaction, Run
from commissions.services.journal import run_approve
from commissions.services.runs import run_request
from core.api.errors import Conflict
from core.periods import server_period

FINAL_STATUSES = (Run.Status.COMPUTED, Run.Status.APPROVED, Run.Status.FAILED, Run.Status.SUPERSEDED)


class Command(BaseCommand):
    help = (
        "Compute a period's run (or show the live one), optionally recompute an unapproved run and approve it. "
        "With a Redis broker the chunks run on the workers and this command follows the run's progress. Exits "
        "non-zero when the run fails, the period is locked for a recompute, or the wait times out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, help="YYYY-MM in the server time zone.")
        parser.add_argument("--kind", choices=Run.Kind.values, default=Run.Kind.COMMISSIONS)
        parser.add_argument("--recompute", action="store_true", help="Replace a computed, unapproved run.")
        parser.add_argument("--approve", action="store_true", help="Approve the computed run (posts the journal).")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for the workers (3600).")
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between progress checks (1).")

    def handle(self, *args, period: str, kind: str, recompute: bool, approve: bool, **options) -> None:
        try:
            label = server_period(period).label
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            result = run_request(kind=kind, period=label, recompute=recompute)
        except Conflict as exc:
            raise CommandError(str(exc.detail)) from exc
        run = result.run
        self.stdout.write(f"{'Requested' if result.created else 'Live run:'} {kind} {label} run #{run.pk}")
        run = self._follow(run.pk, timeout=options["timeout"], poll=options["poll"], quiet=options["verbosity"] == 0)
        self.stdout.write(f"Run #{run.pk}: {run.status}, chunks {run.chunks_done}/{run.chunks_total}")
        if run.status == Run.Status.FAILED:
            raise CommandError(f"run #{run.pk} failed: {run.error}")
        if run.status == Run.Status.SUPERSEDED:
            raise CommandError(f"run #{run.pk} was superseded by a recompute while this command waited")
        self._totals(run)
        if approve:
            try:
                run = run_approve(run_id=run.pk)
            except Conflict as exc:
                raise CommandError(str(exc.detail)) from exc
            posted = JournalTransaction.objects.filter(run=run).count()
            self.stdout.write(self.style.SUCCESS(f"Run #{run.pk} approved: {posted} journal transaction(s) posted."))

    def _follow(self, run_id: int, *, timeout: float, poll: float, quiet: bool) -> Run:
        """Wait until the run is computed or failed. With eager tasks (no REDIS_URL) it already is."""
        run = Run.objects.get(pk=run_id)
        if run.status in FINAL_STATUSES:
            return run
        deadline = time.monotonic() + timeout
        with tqdm(total=run.chunks_total, desc=f"run #{run.pk}", unit=" chunks", disable=quiet or None) as bar:
            while run.status not in FINAL_STATUSES:
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"run #{run.pk} still {run.status} after {timeout:g}s ({run.chunks_done}/{run.chunks_total} "
                        "chunks): are the Celery workers running?"
                    )
                time.sleep(poll)
                run.refresh_from_db()
                bar.update(run.chunks_done - bar.n)
        return run

    def _totals(self, run: Run) -> None:
        if not run.totals:
            self.stdout.write("  no lines (no trades closed in the period)")
            return
        for kind, amount in sorted(run.totals.items()):
            self.stdout.write(f"  {kind:<16} {Decimal(amount):>20,.6f} USD")
        total = sum((Decimal(a) for a in run.totals.values()), Decimal(0))
        self.stdout.write(f"  {'total':<16} {total:>20,.6f} USD")
