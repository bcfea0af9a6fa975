"""The shared body of the run commands (``run_period``, and each kind's own: ``run_commissions``, ``run_fees``):
request a run, follow it to the end with a progress bar, print its totals, optionally approve it.

``--approve`` from the shell is an operator's action: the audit log records it as the command with the server's OS
user (``core.management.base.AuditedCommand``); the spec asks no maker-checker for a run's approval. ``--user NAME``
(optional) names the staff user who approves: the run records it as ``approved_by`` and the audit log names it, and
that user must hold ``runs.approve_run`` (``runs.permissions``), as in the admin and the API."""

from __future__ import annotations

import time
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from core.audit import note_actor
from core.exceptions import ApplicationError
from core.management.base import AuditedCommand
from ledger.models import JournalTransaction

from ..models import Run
from ..permissions import APPROVE_RUN
from ..registry import kind_names, run_source_prefix
from ..services.approve import run_approval
from ..services.requests import run_request

FINAL_STATUSES = (Run.Status.COMPUTED, Run.Status.APPROVED, Run.Status.FAILED, Run.Status.SUPERSEDED)


class RunCommand(AuditedCommand):
    """Subclasses set ``kind`` (one kind) or leave it None to take ``--kind`` among the registered kinds."""

    kind: str | None = None

    def add_arguments(self, parser: CommandParser) -> None:
        if self.kind is None:
            parser.add_argument("--kind", required=True, choices=kind_names(), help="A registered run kind.")
        parser.add_argument("--period", required=True, help="YYYY-MM in the server time zone.")
        parser.add_argument("--scope", default="", help="Optional scope (e.g. one MAM group).")
        parser.add_argument("--recompute", action="store_true", help="Replace a computed, unapproved run.")
        parser.add_argument("--approve", action="store_true", help="Approve the computed run (posts the journal).")
        parser.add_argument(
            "--user", help="Optional: the staff user approving (recorded as approved_by; needs runs.approve_run)."
        )
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for the workers (3600).")
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between progress checks (1).")

    def handle(self, *args, period: str, scope: str, recompute: bool, approve: bool, **options) -> None:
        kind = self.kind or options["kind"]
        approver = self._approver(options.get("user"), approve=approve)
        try:
            result = run_request(kind=kind, period=period, scope=scope, recompute=recompute)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        run = result.run
        self.stdout.write(f"{'Requested' if result.created else 'Live run:'} {kind} {run.period} run #{run.pk}")
        run = self._follow(run.pk, timeout=options["timeout"], poll=options["poll"], quiet=options["verbosity"] == 0)
        self.stdout.write(f"Run #{run.pk}: {run.status}, chunks {run.chunks_done}/{run.chunks_total}")
        if run.status == Run.Status.FAILED:
            raise CommandError(f"run #{run.pk} failed: {run.error}")
        if run.status == Run.Status.SUPERSEDED:
            raise CommandError(f"run #{run.pk} was superseded by a recompute while this command waited")
        self._totals(run)
        if approve:
            try:
                result = run_approval(run_id=run.pk, user=approver)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            run = result.run
            posted = JournalTransaction.objects.filter(source_key__startswith=run_source_prefix(run)).count()
            self.stdout.write(self.style.SUCCESS(f"Run #{run.pk} approved: {posted} journal transaction(s) posted."))
            for late in result.late:
                self.stdout.write(self.style.WARNING(f"Warning: {late.message}"))

    @staticmethod
    def _approver(username: str | None, *, approve: bool):
        """The user ``--user`` names (None without it), checked before anything is requested."""
        if not username:
            return None
        if not approve:
            raise CommandError("--user names who approves: give it with --approve.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"{username} is not an active staff user.")
        if not user.has_perm(APPROVE_RUN):
            raise CommandError(f"{username}'s role lacks the permission {APPROVE_RUN} (to approve a run).")
        note_actor(user)  # the audit trail names the approver, not only the command
        return user

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
                bar.total = run.chunks_total
                bar.update(run.chunks_done - bar.n)
        return run

    def _totals(self, run: Run) -> None:
        if not run.totals:
            self.stdout.write("  no lines (nothing to compute in the period)")
            return
        for key, amount in sorted(run.totals.items()):
            self.stdout.write(f"  {key:<16} {Decimal(amount):>20,.6f}")
        total = sum((Decimal(a) for a in run.totals.values()), Decimal(0))
        self.stdout.write(f"  {'total':<16} {total:>20,.6f}")
