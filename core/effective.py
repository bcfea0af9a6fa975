"""Writing an effective-dated series: a partner's parents and plans, an account's IBs, a rebate's terms.

A series is an owner's rows ``[valid_from, valid_to)`` that never overlap (``effective_dated_constraints``). Every
writer goes through ``series_set_from`` so the dating rules of DOMAIN.md 4.0 hold the same way everywhere:

- **Set-up is not history.** The first row of a series given without a date starts at ``SINCE_ALWAYS``: a network
  set up today pays the trades imported for last month. It alters no posted money by itself being written (trades of
  approved periods it now attributes are late data, paid as adjustments), so it is not checked against approvals.
- **Changes default to now** and may be back-dated while no approved period is affected (``core.history``): the
  value holds from ``effective_from`` on, replacing whatever the series said from that instant (a stretch that
  started later, or a change scheduled for later, is dropped — the caller states the series from then on). A
  change reaching into an approved period is a ``Conflict`` naming it.
- **Nothing is reported as done that was not.** Setting the value already in force, from an instant it already
  covers with nothing scheduled after it, changes nothing and says so (``changed`` False); the same value from an
  earlier instant is a back-dating of its start (subject to the same guard), never a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from .history import ensure_history_open
from .periods import SINCE_ALWAYS

Row = TypeVar("Row", bound=models.Model)


@dataclass(frozen=True)
class SeriesChange(Generic[Row]):
    row: Row | None  # the row in force from ``start`` on (None: the series ends at ``start``)
    start: datetime
    changed: bool


def require_aware(value: datetime | None, *, field: str = "effective_from") -> datetime | None:
    if value is not None and timezone.is_naive(value):
        raise ValidationError({field: ["A time zone is required (times are stored in UTC)."]})
    return value


def series_set_from(
    *,
    rows: models.QuerySet[Row],
    effective_from: datetime | None,
    same: Callable[[Row], bool],
    create: Callable[[datetime], Row | None],
    subject: str,
    ends: bool = False,
    now: datetime | None = None,
) -> SeriesChange[Row]:
    """Make the series ``rows`` (one owner's rows, any order) hold ``create``'s value from ``effective_from`` on.

    ``same(row)`` says whether a row already holds the wanted value; ``create(start)`` writes the new row from
    ``start`` (open-ended). With ``ends`` the series stops at ``start`` instead (``create`` is not called). Runs in
    (or opens) a transaction and locks the owner's rows; callers serialise the first row of an owner themselves
    (a lock on the owner).
    """
    require_aware(effective_from)
    with transaction.atomic():
        existing = list(rows.select_for_update().order_by("valid_from"))
        if not existing:
            start = effective_from or SINCE_ALWAYS
            return SeriesChange(None, start, False) if ends else SeriesChange(create(start), start, True)
        start = effective_from or now or timezone.now()
        in_force = next(
            (r for r in existing if r.valid_from <= start and (r.valid_to is None or start < r.valid_to)), None
        )
        later = [r for r in existing if r.valid_from > start]
        if ends and in_force is None and not later:
            return SeriesChange(None, start, False)
        if not ends and in_force is not None and same(in_force) and in_force.valid_to is None:
            return SeriesChange(in_force, in_force.valid_from, False)
        ensure_history_open(since=start, subject=subject)
        model = type(existing[0])
        if later:
            model.objects.filter(pk__in=[r.pk for r in later]).delete()
        if not ends and in_force is not None and same(in_force):
            in_force.valid_to = None  # the value simply goes on: no seam in the series
            in_force.save(update_fields=["valid_to"])
            return SeriesChange(in_force, in_force.valid_from, True)
        if in_force is not None and in_force.valid_from == start:
            in_force.delete()  # replaced from its very first instant
        elif in_force is not None:
            in_force.valid_to = start
            in_force.save(update_fields=["valid_to"])
        return SeriesChange(None if ends else create(start), start, True)
