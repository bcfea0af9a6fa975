"""``manage.py payout_batch``: payout batches from the command line, through ``ledger.services.payouts`` (the same
steps and checks as the admin and the API; every step names its user, for maker-checker).

- ``--period YYYY-MM --user MAKER`` makes a draft batch and prints its lines by status;
- ``--batch ID --approve --user CHECKER`` approves it (another user than the maker);
- ``--batch ID --export FILE --user U`` writes the batch CSV (the batch becomes exported); ``--period YYYY-MM
  --export FILE`` exports the period's open approved or exported batch; its open draft, or one it makes when
  there is none, is answered as awaiting approval (nothing exported: a retried run makes no second draft).
  ``--period`` with ``--approve``, ``--mark-paid``, ``--fail`` or ``--discard`` is refused before anything is
  made (those steps take ``--batch``);
- ``--batch ID --mark-paid --user U`` marks every line still to pay paid (posting the payouts); with
  ``--fail PARTNER=REASON`` (repeatable) those partners' lines fail instead (back to payable, with the bank's
  reason) — ``--fail`` alone fails them and leaves the rest to pay;
- ``--batch ID --discard --user U`` discards a draft.

The user must be an active staff user holding the step's permission (``ledger.permissions``: finance's), as in the
admin and the API: a command is no way around the roles.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from core.audit import note_actor
from core.csv_export import csv_lines
from core.exceptions import ApplicationError
from core.management.base import AuditedCommand
from core.money import quantize
from ledger.models import PayoutBatch, PayoutLine
from ledger.payout_selectors import payout_batch_totals
from ledger.permissions import ADD_PAYOUT, APPROVE_PAYOUT, CHANGE_PAYOUT, EXPORT_PAYOUT, PAY_PAYOUT
from ledger.selectors import currency_places
from ledger.services.payouts import (
    EXPORT_HEADER,
    LineOutcome,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_discard,
    payout_batch_export,
    payout_export_rows,
    payout_lines_resolve,
)


class Command(AuditedCommand):
    help = "Make, approve, export and pay payout batches (maker-checker: every step names its --user)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--period", help="YYYY-MM: make a draft batch for it (or, with --export, export it)")
        parser.add_argument("--batch", type=int, help="The batch to approve, export or mark paid")
        parser.add_argument("--user", help="The username taking the step")
        parser.add_argument("--approve", action="store_true", help="Approve --batch")
        parser.add_argument("--export", metavar="FILE", help="Write the batch CSV to FILE")
        parser.add_argument("--mark-paid", action="store_true", help="Mark every line still to pay of --batch paid")
        parser.add_argument(
            "--fail",
            action="append",
            default=[],
            metavar="PARTNER=REASON",
            help="Mark this partner's line failed with the bank's reason (repeatable); with --mark-paid the rest paid",
        )
        parser.add_argument("--discard", action="store_true", help="Discard the draft --batch")

    def handle(self, *args, **options) -> None:
        user = self._user(options["user"])
        note_actor(user)  # the audit trail names the step's user, not only the command
        failures = self._failures(options["fail"])
        try:
            batch = self._batch(options, user)
            if options["discard"]:
                self._require(user, CHANGE_PAYOUT, "discard a batch")
                batch = payout_batch_discard(batch_id=batch.pk, user=user)
                self.stdout.write(f"Discarded {batch}.")
            if options["approve"]:
                self._require(user, APPROVE_PAYOUT, "approve a batch")
                batch = payout_batch_approve(batch_id=batch.pk, user=user)
                self.stdout.write(f"Approved {batch} (by {user.get_username()}).")
            if options["export"]:
                if batch.status == PayoutBatch.Status.DRAFT:
                    raise CommandError(f"{batch} awaits approval by another user than its maker: nothing exported.")
                self._require(user, EXPORT_PAYOUT, "export a batch")
                self._export(batch, Path(options["export"]), user)
            if options["mark_paid"] or failures:
                self._require(user, PAY_PAYOUT, "mark lines paid or failed")
                outcomes = None
                if failures:
                    outcomes = [
                        LineOutcome(partner=code, status=PayoutLine.Status.FAILED, reason=why) for code, why in failures
                    ]
                batch = payout_lines_resolve(
                    batch_id=batch.pk, user=user, outcomes=outcomes, pay_rest=bool(failures and options["mark_paid"])
                )
                self.stdout.write(f"Marked {'paid' if options['mark_paid'] else 'failed'}: {batch}.")
        except (ApplicationError, ValidationError) as exc:
            raise CommandError(getattr(exc, "message", None) or " ".join(exc.messages)) from exc
        self._summary(PayoutBatch.objects.get(pk=batch.pk))

    def _user(self, username: str | None):
        if not username:
            raise CommandError("--user NAME is required: every step of a batch is someone's (maker-checker).")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"{username} is not an active staff user: payout steps are finance's.")
        return user

    @staticmethod
    def _require(user, permission: str, step: str) -> None:
        if not user.has_perm(permission):
            raise CommandError(f"{user.get_username()}'s role lacks the permission {permission} (to {step}).")

    @staticmethod
    def _failures(values: list[str]) -> list[tuple[str, str]]:
        failures = []
        for value in values:
            code, _, reason = value.partition("=")
            if not code.strip() or not reason.strip():
                raise CommandError(f"--fail takes PARTNER=REASON (the bank's reason), got {value!r}.")
            failures.append((code.strip(), reason.strip()))
        return failures

    def _batch(self, options, user) -> PayoutBatch:
        if options["batch"] is not None:
            batch = PayoutBatch.objects.filter(pk=options["batch"]).first()
            if batch is None:
                raise CommandError(f"No payout batch {options['batch']}.")
            return batch
        if not options["period"]:
            raise CommandError("Give --period YYYY-MM (make a batch) or --batch ID (act on one).")
        # Refused before anything is made: a draft made here could not take these steps (it needs another user's
        # approval first), so a retried run would only pile up drafts.
        steps = [f"--{name.replace('_', '-')}" for name in ("approve", "mark_paid", "discard") if options[name]]
        steps += ["--fail"] if options["fail"] else []
        if steps:
            raise CommandError(f"{' and '.join(steps)} act on a batch: give --batch ID, not --period.")
        if options["export"]:
            # The period's open batch, if any: an approved or exported one is exported; a draft is waited for (a
            # cron retrying the export makes one draft, not one per run).
            of_period = PayoutBatch.objects.filter(period=options["period"]).order_by("-pk")
            ready = of_period.filter(status__in=[PayoutBatch.Status.APPROVED, PayoutBatch.Status.EXPORTED]).first()
            if ready is not None:
                return ready
            draft = of_period.filter(status=PayoutBatch.Status.DRAFT).first()
            if draft is not None:
                raise CommandError(f"{draft} awaits approval by another user than its maker: nothing exported.")
        self._require(user, ADD_PAYOUT, "make a batch")
        batch = payout_batch_create(period=options["period"], user=user)
        self.stdout.write(f"Made {batch} (by {user.get_username()}): another user approves it.")
        return batch

    def _export(self, batch: PayoutBatch, target: Path, user) -> None:
        batch = payout_batch_export(batch_id=batch.pk, user=user)
        target.parent.mkdir(parents=True, exist_ok=True)
        rows = 0
        with target.open("wb") as out:
            for line in csv_lines(EXPORT_HEADER, payout_export_rows(batch=batch)):
                out.write(line)
                rows += 1
        self.stdout.write(f"Exported {rows - 1} line(s) of {batch} to {target}.")

    def _summary(self, batch: PayoutBatch) -> None:
        self.stdout.write(f"{batch}:")
        for row in payout_batch_totals(batch=batch):
            amount = quantize(row["amount"], currency_places(row["currency"]))
            self.stdout.write(f"  {row['status']:<13} {row['lines']:>7} line(s) {amount:>18,} {row['currency']}")
