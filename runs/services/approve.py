"""Approving a computed run: one transaction posts the kind's money through the ledger's posting API, locks the
period for the kind, and makes the run's lines the period's lines of record. Approving twice posts nothing more
(the postings' source keys collide; the run is already approved). A kind may guard approval in the database
itself (a trigger on the run's status, as commissions' posting claims do): its refusal is a ``Conflict`` and
nothing of the approval stays.

A period that has not ended (its end, midnight at the turn of the month in the broker's server time zone, is still
ahead) cannot be approved: it is still receiving trades, and approving locks it. Computing it is allowed (an
estimate); approving it is a ``Conflict`` naming when it ends — here, so the API, the admin and the commands all
refuse it."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone

from core.actors import Actor, recorded_user
from core.exceptions import Conflict
from ledger.services.locks import period_lock
from ledger.services.posting import journal_post

from ..models import Run
from ..registry import LateChange, UnknownRunKind, get_kind, run_source_prefix
from ..signals import run_approved


@dataclass(frozen=True)
class RunApproval:
    run: Run
    approved_now: bool
    # What arrived after the run read its data, counted when it was approved (DOMAIN.md 3: late data).
    late: list[LateChange] = field(default_factory=list)


def run_approval(*, run_id: int, user: Actor = None) -> RunApproval:
    """Approve the run, saying whether this call approved it (``approved_now``) or found it approved already (by
    anyone: a colleague a moment before, a command, a double submit) and posted nothing, and what data arrived after
    the run read it (``late``: not in the approved figures)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status == Run.Status.APPROVED:
            return RunApproval(run=run, approved_now=False)
        if run.status != Run.Status.COMPUTED:
            raise Conflict(f"run {run.pk} is {run.status}; only a computed run can be approved")
        if run.period_end > timezone.now():
            ends = run.period_end.astimezone(ZoneInfo(settings.IBEX_SERVER_TIME_ZONE)).isoformat()
            raise Conflict(
                f"run {run.pk} cannot be approved: {run.kind} {run.period} has not ended (it ends {ends}, server "
                "time) and is still receiving trades",
                extra={"period": run.period, "period_end": run.period_end.isoformat()},
            )
        try:
            kind = get_kind(run.kind)
        except UnknownRunKind as exc:
            raise Conflict(f"run {run.pk} cannot be approved: {exc}") from exc
        postings = kind.postings(run)
        prefix = run_source_prefix(run)
        foreign = sorted(p.source_key for p in postings if not p.source_key.startswith(prefix))
        if foreign:
            raise Conflict(f"run {run.pk} cannot be approved: postings must be keyed {prefix}…, got {foreign[:3]}")
        journal_post(postings=postings, user=user)
        if not period_lock(kind=run.kind, period=run.period, scope=run.scope, source_key=f"run:{run.pk}", user=user):
            raise Conflict(f"{run.kind} {run.period} is already locked by another approval")
        late = kind.late_changes(run)  # under the lock: nothing written for the period after this goes unwarned
        kind.approving(run)
        run.status = Run.Status.APPROVED
        run.approved_by = recorded_user(user)
        run.approved_at = Now()
        try:
            run.save(update_fields=["status", "approved_by", "approved_at"])
        except IntegrityError as exc:
            # A kind's own database guarantee refused the approval (e.g. commissions: a trade version posted by
            # another approved run); nothing of this transaction stays.
            raise Conflict(f"run {run.pk} cannot be approved: {str(exc).splitlines()[0]}") from exc
        transaction.on_commit(lambda: run_approved.send(sender=Run, run_id=run_id, kind=run.kind))
    run.refresh_from_db()
    return RunApproval(run=run, approved_now=True, late=late)


def run_approve(*, run_id: int, user: Actor = None) -> Run:
    """Approve the run (see ``run_approval``); the approved run."""
    return run_approval(run_id=run_id, user=user).run
