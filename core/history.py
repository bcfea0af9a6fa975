"""The back-dating guard: an effective-dated change never alters an approved period (DOMAIN.md 4.0).

A change to a dated thing (a partner's parent, plan or status, an account's IB, a rebate, plan or program terms)
may start in the past while no approved period it would alter exists: the broker corrects a mistake before
approving. Once a period is approved for a kind of run, a change reaching back into it is refused
(``core.exceptions.Conflict``, a 409 naming the period); the remedy for a paid period is an adjustment in an open
one, never a rewrite.

Which kinds a change can alter is known only to the apps above: each kind's app registers a guard from its
``AppConfig.ready`` (``commissions`` for commission runs; MAM's fee kind will be the second). A guard returns the
approved periods (``YYYY-MM``, ascending) that end after ``since`` and holds, until the caller's transaction ends, a
lock that keeps new approvals of that kind out, so a change checked here cannot race an approval. The kind also
registers that hold alone (``hold``), which every recorded change takes — a first assignment too, which is not
checked (set-up is not history) but which an approval counting the changes made since its run started must either
see or come after (``hold_approvals``).

Lock order, for every dated write: the owners' rows (callers lock them; a transaction writing the series of several
owners locks them all first), then the approvals holds (kinds in name order), then the series' rows
(``core.effective``). An approval takes its exclusive lock once it has posted (posting may lock an owner's row
for a new ledger account) and locks no owner or series row after it: a dated write never waits for an owner's row
while it holds approvals off, so the two never wait on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings

from .exceptions import Conflict
from .models import DatedChange
from .periods import server_period


@dataclass(frozen=True)
class Reach:
    """Whose trades a dated change can alter, recorded with it so that an approval restates only those: trades in
    whose chain one of ``partners`` takes part (a partner's parent, plan, status, program or rebate; a plan's
    or a program's terms: the partners on it) and trades of ``accounts`` (an account's IB, group or flag).
    Neither: anyone's (a rate) — the safe default for a writer that does not say."""

    partners: tuple[int, ...] = ()
    accounts: tuple[int, ...] = ()

    @classmethod
    def of(cls, *, partners: Iterable[int] = (), accounts: Iterable[int] = ()) -> Reach:
        return cls(partners=tuple(sorted(set(partners))), accounts=tuple(sorted(set(accounts))))


EVERYONE = Reach()


class Area(StrEnum):
    """What a dated change is to — so that only the kinds of run that read it refuse it: an approved fee month
    does not hold back a plan back-dated into it (fees never read plans), an approved commission month does not
    hold back a MAM group's fee terms. A writer that names no area reaches every kind (the safe default)."""

    TREE = "tree"  # a partner's parent, program and status; a program's terms
    PLANS = "plans"  # plans' terms, partners' plans, client rebates
    ATTRIBUTION = "attribution"  # an account's IB
    ACCOUNT_TERMS = "account_terms"  # an account's group and commission flag
    INSTRUMENTS = "instruments"  # instruments' pricing fields and symbol resolution
    RATES = "rates"  # daily conversion rates
    MAM_FEE_TERMS = "mam_fee_terms"  # a MAM group's fee terms


HistoryGuard = Callable[[datetime], Sequence[str]]
ApprovalsHold = Callable[[], None]
_GUARDS: dict[str, HistoryGuard] = {}
_HOLDS: dict[str, ApprovalsHold] = {}
_READS: dict[str, frozenset[Area] | None] = {}


def register_history_guard(
    kind: str, guard: HistoryGuard, *, hold: ApprovalsHold, reads: Iterable[Area] | None = None
) -> None:
    """``guard(since)``: the approved periods of ``kind`` ending after ``since``, holding approvals of ``kind`` off
    until the transaction ends; ``hold()``: that hold alone; ``reads``: the areas whose changes alter the kind's
    runs (None: all of them)."""
    _GUARDS[kind] = guard
    _HOLDS[kind] = hold
    _READS[kind] = frozenset(reads) if reads is not None else None


def _guarded(area: Area | None, since: datetime) -> Iterator[tuple[str, Sequence[str]]]:
    """``(kind, approved periods ending after since)`` for each kind a change of ``area`` would alter, in name
    order; every other kind's approvals are held off alone (in the same order), so a change recorded after this
    holds all of them, as ``record_change`` does."""
    for kind in sorted(_GUARDS):
        if area is None or _READS.get(kind) is None or area in _READS[kind]:
            yield kind, _GUARDS[kind](since)
        else:
            _HOLDS[kind]()


def hold_approvals() -> None:
    """Keep approvals of every kind from committing until the caller's transaction ends (a shared lock each, taken
    in a fixed order): an approval then counts this transaction's dated changes, or starts after it committed."""
    for kind in sorted(_HOLDS):
        _HOLDS[kind]()


def record_change(*, since: datetime, subject: str, until: datetime | None = None, reach: Reach = EVERYONE) -> None:
    """Note that ``subject`` changes what holds from ``since`` on (inside the writing transaction) for the trades
    of ``reach``, under the approvals hold: an approval of a run that this change alters either sees it (it warns,
    and restates the trades it reaches for the next adjustments) or is committed before it."""
    hold_approvals()
    _record(since=since, subject=subject, until=until, reach=reach)


def _record(*, since: datetime, subject: str, until: datetime | None, reach: Reach) -> None:
    """``record_change`` for a caller whose guards already hold approvals off (one query less on bulk paths)."""
    DatedChange.objects.create(
        since=since,
        until=until,
        subject=subject[:300],
        partner_ids=list(reach.partners),
        account_ids=list(reach.accounts),
    )


def ensure_history_open(
    *,
    since: datetime,
    subject: str,
    until: datetime | None = None,
    reach: Reach = EVERYONE,
    area: Area | None = None,
) -> None:
    """Raise ``Conflict`` if a change of ``subject`` from ``since`` on (until ``until``, open-ended if None) would
    alter an approved period of any kind; else record it (``record_change``, for the trades of ``reach``), so a
    computed run it alters says so when approved.

    Call it inside the transaction that writes the change, before writing.
    """
    check_history_open(since=since, subject=subject, until=until, area=area)  # the guards hold approvals off
    _record(since=since, subject=subject, until=until, reach=reach)


def check_history_open(
    *, since: datetime, subject: str, until: datetime | None = None, area: Area | None = None
) -> None:
    """``ensure_history_open`` without recording anything: for a form that refuses a date before it saves."""
    for kind, approved in list(_guarded(area, since)):
        periods = [p for p in approved if until is None or server_period(p).start < until]
        if periods:
            first, last = periods[0], periods[-1]
            reopen = server_period(last).end.astimezone(ZoneInfo(settings.IBEX_SERVER_TIME_ZONE))  # local midnight
            raise Conflict(
                f"{subject} from {since.isoformat()} would change the approved {kind} period {first}, and approved "
                f"periods are never rewritten: make the change from {reopen.isoformat()} on (after {last}).",
                extra={"kind": kind, "period": first, "approved_periods": periods},
            )


def first_open_instant(*, since: datetime, area: Area | None = None) -> datetime:
    """``since``, or — when approved periods (of any kind) end after it — the server's midnight ending the last of
    them: where a first assignment that cannot reach into paid periods starts. Holds the guards' locks."""
    latest = since
    for _kind, approved in list(_guarded(area, since)):
        periods = list(approved)
        if periods:
            latest = max(latest, server_period(periods[-1]).end)
    return latest


def ensure_periods_open(
    *, periods: Iterable[str], subject: str, reach: Reach = EVERYONE, area: Area | None = None
) -> None:
    """Raise ``Conflict`` if any of ``periods`` (``YYYY-MM``) is approved for any kind: for data of a day, such as
    a conversion rate, which alters its own period only. Call it inside the writing transaction, before writing."""
    wanted = set(periods)
    if not wanted:
        return
    since, until = server_period(min(wanted)).start, server_period(max(wanted)).end
    for kind, approved in list(_guarded(area, since)):
        hit = sorted(wanted & set(approved))
        if hit:
            raise Conflict(
                f"{subject} would change the approved {kind} period {hit[0]}, and approved periods are never "
                "rewritten: a paid period keeps the data it was paid on.",
                extra={"kind": kind, "period": hit[0], "approved_periods": hit},
            )
    _record(since=since, subject=subject, until=until, reach=reach)  # the guards hold approvals off
