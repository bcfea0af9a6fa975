"""Writing an effective-dated series: a partner's parents and plans, an account's IBs, a rebate's terms.

A series is an owner's rows ``[valid_from, valid_to)`` that never overlap (``effective_dated_constraints``). Every
writer goes through ``series_set_from`` so the dating rules of DOMAIN.md 4.0 hold the same way everywhere:

- **Set-up is not history.** The first row of a series given without a date starts at ``SINCE_ALWAYS``: a network
  set up today pays the trades imported for last month. It is not checked against approvals: trades of an
  approved period that it now attributes were posted as earning nothing, and what they earn now is late data,
  paid once as an adjustment in the next open period (``commissions.services.late_setup``).
- **Changes default to now** and may be back-dated while no approved period is affected (``core.history``): the
  value holds from ``effective_from`` for as long as the value it replaces held (a change scheduled for later is
  kept, never silently dropped; an end already recorded stays; where nothing held, until the next recorded change;
  a stretch starting at that very instant is replaced). A change reaching
  into an approved period is a ``Conflict`` naming it.
- **Nothing is reported as done that was not.** Setting the value already in force at that instant changes
  nothing and says so (``changed`` False) — so re-sending today's IB with an account's other fields leaves a
  scheduled IB change alone; the same value as a later stretch, from an earlier instant, back-dates that
  stretch's start (subject to the same guard), never a silent no-op.
- **Dates stay within bounds**: from ``SINCE_ALWAYS`` to the last year a period can have (``core.periods``), so
  nothing dated overflows a period computation (rebate bounds are clamped into the engine's range when read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from .history import EVERYONE, Area, Reach, ensure_history_open, hold_approvals, record_change
from .periods import LAST_YEAR, SINCE_ALWAYS

Row = TypeVar("Row", bound=models.Model)
_AFTER_LAST_YEAR = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeriesChange(Generic[Row]):
    row: Row | None  # the row in force from ``start`` on (None: the series ends at ``start``)
    start: datetime
    changed: bool


def require_aware(value: datetime | None, *, field: str = "effective_from") -> datetime | None:
    """``value`` if it is a time-zone-aware instant from ``SINCE_ALWAYS`` to the last year a period can have (else
    ValidationError)."""
    if value is None:
        return None
    if timezone.is_naive(value):
        raise ValidationError({field: ["A time zone is required (times are stored in UTC)."]})
    if not SINCE_ALWAYS <= value < _AFTER_LAST_YEAR:
        raise ValidationError({field: [f"Must be between {SINCE_ALWAYS.year} (since always) and {LAST_YEAR}."]})
    return value


def series_latest(rows: models.QuerySet[Row]) -> Row | None:
    """The series' latest stretch (the one starting last): what a mirrored plain column shows."""
    return rows.order_by("-valid_from").first()


def series_until(rows: models.QuerySet[Row], start: datetime) -> datetime | None:
    """Where a change of the series ``rows`` from ``start`` would stop holding (``series_set_from``'s rule): the end
    of the stretch in force then, else the next stretch's start; None when open-ended."""
    existing = sorted(rows, key=lambda r: r.valid_from)
    in_force = next((r for r in existing if r.valid_from <= start and (r.valid_to is None or start < r.valid_to)), None)
    if in_force is not None:
        return in_force.valid_to
    following = next((r for r in existing if r.valid_from > start), None)
    return following.valid_from if following is not None else None


def series_set_from(
    *,
    rows: models.QuerySet[Row],
    effective_from: datetime | None,
    same: Callable[[Row], bool],
    create: Callable[[datetime, datetime | None], Row],
    subject: str,
    ends: bool = False,
    now: datetime | None = None,
    guard_first: bool = False,
    reach: Reach = EVERYONE,
    area: Area | None = None,
) -> SeriesChange[Row]:
    """Make the series ``rows`` (one owner's rows, any order) hold ``create``'s value from ``effective_from`` until
    the next change already recorded after it: the end of the stretch in force then (which may be an end with
    nothing after it, e.g. a rebate that stops), else the next stretch's start (open-ended if none).

    ``same(row)`` says whether a row already holds the wanted value; ``create(start, until)`` writes the new row for
    ``[start, until)``. With ``ends`` the series holds nothing from ``start`` until that next change (``create`` is
    not called). Runs in (or opens) a transaction and locks the owner's rows; callers serialise the first row of an
    owner themselves (a lock on the owner). ``guard_first``: a first row that would change what approved periods
    paid (a first rebate takes from what was paid) is guarded like a change. ``reach``: whose trades the series
    prices (``core.history.Reach``), recorded with the change; ``area``: what the series is (``core.history.Area``),
    so that only the kinds of run that read it refuse a change into their approved periods.

    Every write, a first row too, is made under the approvals hold (``core.history``), taken before the series'
    rows are locked: the fixed order of every dated write (owner, approvals, series).
    """
    require_aware(effective_from)
    with transaction.atomic():
        hold_approvals()
        existing = list(rows.select_for_update().order_by("valid_from"))
        if not existing:
            start = effective_from or SINCE_ALWAYS
            if ends:
                return SeriesChange(None, start, False)
            if guard_first:
                ensure_history_open(since=start, subject=subject, reach=reach, area=area)
            else:
                record_change(since=start, subject=subject, reach=reach)
            return SeriesChange(create(start, None), start, True)
        start = effective_from or now or timezone.now()
        in_force = next(
            (r for r in existing if r.valid_from <= start and (r.valid_to is None or start < r.valid_to)), None
        )
        following = next((r for r in existing if r.valid_from > start), None)
        if ends and in_force is None:
            return SeriesChange(None, start, False)
        if not ends and in_force is not None and same(in_force):
            return SeriesChange(in_force, in_force.valid_from, False)  # already in force then: nothing changes
        # The new value replaces what held at ``start`` for as long as that held (an end already recorded stays),
        # or, in a stretch where nothing held, lasts until the next recorded change: only ``[start, until)`` changes,
        # so only approved periods inside it refuse the change.
        until = in_force.valid_to if in_force is not None else following.valid_from if following is not None else None
        ensure_history_open(since=start, subject=subject, until=until, reach=reach, area=area)
        if in_force is not None and in_force.valid_from == start:
            in_force.delete()  # replaced from its very first instant
        elif in_force is not None:
            in_force.valid_to = start
            in_force.save(update_fields=["valid_to"])
        if ends:
            return SeriesChange(None, start, True)
        if following is not None and following.valid_from == until and same(following):
            following.valid_from = start  # the same value, from earlier: its start is back-dated, no seam
            following.save(update_fields=["valid_from"])
            return SeriesChange(following, start, True)
        return SeriesChange(create(start, until), start, True)
