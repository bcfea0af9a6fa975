"""Requesting a run: one live run per (kind, period, scope), whatever the number of callers.

Ten concurrent requests make one run: a transaction-level advisory lock on (kind, period, scope) serialises the
check-then-create, and a partial unique index backs it. Asking again for a queued, running or computed run returns
it; ``recompute`` supersedes a computed, unapproved run. An approved run's period is locked for its kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from core.actors import Actor, recorded_user
from core.exceptions import Conflict
from core.periods import server_period
from ledger.selectors import period_is_locked

from ..dispatch import dispatch_start
from ..models import LIVE_STATUSES, Run
from ..registry import get_kind


@dataclass(frozen=True)
class RunRequestResult:
    run: Run
    created: bool


def advisory_lock(*keys: str) -> None:
    """A transaction-level advisory lock on ``keys`` (released at commit or rollback)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ["|".join(keys)])


def run_request(
    *, kind: str, period: str, scope: str = "", user: Actor = None, recompute: bool = False
) -> RunRequestResult:
    """Return the live run of (kind, period, scope), creating and queueing one if there is none.

    Refused: an unknown kind (``UnknownRunKind``), a malformed period or a scope the kind does not take
    (``ValidationError``), a period that has not started yet (``ValidationError``; the current, open period may be
    computed as an estimate, but not approved: ``runs.services.approve``), a recompute of an approved run, any new
    run of a locked period, or a run overlapping a live run of another scope (the whole period and one of its
    scopes) (``Conflict``)."""
    run_kind = get_kind(kind)
    run_kind.check_scope(scope)
    try:
        bounds = server_period(period)
        start, end = bounds.start, bounds.end
    except (ValueError, OverflowError) as exc:
        raise ValidationError({"period": [str(exc)]}) from exc
    if start > timezone.now():
        # Nothing can have traded in it yet; a run of the open period is an estimate, one of the future is a mistake.
        raise ValidationError({"period": [f"{bounds.label} has not started yet (server time)."]})
    with transaction.atomic():
        advisory_lock("run", kind, bounds.label)  # per period, not per scope: overlapping scopes are checked here
        candidates = Run.objects.select_for_update().filter(kind=kind, period=bounds.label, status__in=LIVE_STATUSES)
        overlapping = list(candidates.filter(scope__in=[scope, ""]) if scope else candidates)
        live = next((r for r in overlapping if r.scope == scope), None)
        other = next((r for r in overlapping if r.scope != scope), None)
        if other is not None:
            raise Conflict(
                f"{kind} {bounds.label} has a live run of scope {other.scope or '(whole period)'} (#{other.pk}), "
                f"which overlaps {scope or 'the whole period'}"
            )
        if live is not None:
            if live.status == Run.Status.APPROVED:
                if recompute:
                    raise Conflict(f"{kind} {bounds.label} is approved and locked; later changes become adjustments")
                return RunRequestResult(live, False)
            if not recompute or live.status != Run.Status.COMPUTED:
                return RunRequestResult(live, False)
        if period_is_locked(kind=kind, period=bounds.label, scope=scope):
            raise Conflict(f"{kind} {bounds.label} is locked: its money is posted; later changes become adjustments")
        if live is not None:
            live.status = Run.Status.SUPERSEDED
            live.save(update_fields=["status"])
            run_kind.discard(live)
        run = Run.objects.create(
            kind=kind,
            period=bounds.label,
            scope=scope,
            period_start=start,
            period_end=end,
            created_by=recorded_user(user),
            supersedes=live,
            start_dispatched_at=Now(),
        )
        dispatch_start(run.pk)
    return RunRequestResult(Run.objects.get(pk=run.pk), True)
