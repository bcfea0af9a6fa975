"""Members: a client account joins, changes its settings, leaves (DOMAIN.md 5.0).

``member_upsert`` is keyed by (group, account): with a running membership of that account in this group it changes
that membership's settings (and ``joined``/``left`` when given); without one it starts a new membership. Decisions:

- Every member trades on the master's server (a MAM master copies within its own server): another server is a 400.
- An account is in one group at a time: joining while a membership elsewhere runs is a 409 naming that group (it
  must leave first: ``left`` on that group). The database enforces it too (``member_one_group_at_a_time``).
- ``joined`` omitted means the day of the account's first equity snapshot; for an account that was a member
  before, the first snapshot on or after the day its previous membership ended (``since``).
- ``left`` is the first day the account is no longer a member; leaving is dated, never a delete, so past
  allocations keep their membership. A member that left keeps following the closes of what it holds.
- The methods that read ``param`` (lot, percent, multiplier, fixed_lot) need one: a member without it is a 400.
- Fees read a membership's days — from joining (``joined``, else its first snapshot on or after ``since``) to
  ``left``, the leaving day included (it crystallises then). A join, a leave or a new joining day that adds or
  removes days of a period whose fees are approved for the group is a 409 naming the period (nothing is written),
  as snapshots and cash flows dated there are: those fees are posted and paid, and fee adjustments do not exist.
  The other settings (active, param, risk limits) steer allocation only, so they change at any time.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from core.exceptions import Conflict
from core.periods import FIRST_YEAR, LAST_YEAR, server_period
from ledger.services.locks import approvals_hold
from partners.models import ClientAccount

from ..fee_selectors import FEES_KIND, fee_approved_periods
from ..models import EquitySnapshot, MamGroup, Member
from ..models.members import SINCE_ALWAYS_DAY
from ..vocabulary import AllocationMethod

PARAM_METHODS = frozenset(
    {AllocationMethod.LOT, AllocationMethod.PERCENT, AllocationMethod.MULTIPLIER, AllocationMethod.FIXED_LOT}
)
_UNSET = object()


def _check_day(errors: dict, name: str, value: date | None) -> None:
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        errors[name] = [f"Must be between the years {FIRST_YEAR} and {LAST_YEAR}."]


# A new membership's settings where the caller gives none; a running one keeps what it has (an upsert changes only
# what it is given: a CRM re-sending {server, login, left} must not re-activate a stopped investor or drop its limits).
NEW_MEMBER_SETTINGS: dict[str, object] = {
    "param": None,
    "risk_factor": Decimal(1),
    "active": True,
    "max_lots": None,
    "equity_stop": None,
    "max_drawdown_pct": None,
}


def member_upsert(
    *,
    group: MamGroup,
    account: ClientAccount,
    param: Decimal | object | None = _UNSET,
    risk_factor: Decimal | object = _UNSET,
    active: bool | object = _UNSET,
    joined: date | None = None,
    left: date | None = None,
    max_lots: Decimal | object | None = _UNSET,
    equity_stop: Decimal | object | None = _UNSET,
    max_drawdown_pct: Decimal | object | None = _UNSET,
) -> tuple[Member, bool]:
    """Add ``account`` to ``group`` or change its running membership; return the membership and whether it was
    created. A setting left out keeps the running membership's value (a new one takes ``NEW_MEMBER_SETTINGS``);
    re-sending the ``left`` of a membership that already ended that day changes nothing."""
    given = {
        name: value
        for name, value in {
            "param": param,
            "risk_factor": risk_factor,
            "active": active,
            "max_lots": max_lots,
            "equity_stop": equity_stop,
            "max_drawdown_pct": max_drawdown_pct,
        }.items()
        if value is not _UNSET
    }
    with transaction.atomic():
        MamGroup.objects.select_for_update().get(pk=group.pk)  # the group first, as the master-trade services do
        ClientAccount.objects.select_for_update().get(pk=account.pk)  # serialises this account's memberships
        memberships = list(Member.objects.filter(account=account).select_related("group").order_by("since"))
        running = next((m for m in memberships if m.left is None), None)
        if running is None and left is not None and not given and joined is None:
            ended = next((m for m in memberships if m.group_id == group.pk and m.left == left), None)
            if ended is not None:
                return ended, False  # a repeated leave
        base = {name: getattr(running, name) for name in NEW_MEMBER_SETTINGS} if running else NEW_MEMBER_SETTINGS
        settings = {**base, **given}
        _validate(group=group, account=account, settings=settings, joined=joined, left=left)
        if running is not None and running.group_id != group.pk:
            raise Conflict(
                f"{account} is a member of group {running.group.code}: it must leave that group first.",
                extra={"group": running.group.code},
            )
        if running is not None:
            before = _fee_days(running)
            member = _change(running, settings=settings, joined=joined, left=left)
            _refuse_fee_days_changing(group=group, account=account, before=before, after=_fee_days(member))
            return member, False
        previous_end = max((m.left for m in memberships if m.left is not None), default=None)
        since = previous_end or SINCE_ALWAYS_DAY
        if joined is not None and joined < since:
            raise Conflict(
                f"{account} was a member until {previous_end.isoformat()}: a new membership starts on or after it.",
                extra={"left": previous_end.isoformat()},
            )
        if left is not None and left <= (joined or since):
            raise ValidationError({"left": ["The first day no longer a member comes after the joining day."]})
        member = Member.objects.create(group=group, account=account, joined=joined, since=since, left=left, **settings)
        _refuse_fee_days_changing(group=group, account=account, before=None, after=_fee_days(member))
        return member, True


Days = tuple[date, date] | None  # inclusive; None: no day yet (not joined: no snapshot since ``since``)


def _fee_days(member: Member) -> Days:
    """The days a membership counts in its group's fees (as ``mam.fee_adapters`` reads them), leaving day
    included; open-ended as ``date.max``."""
    start = member.joined
    if start is None:
        snapshots = EquitySnapshot.objects.filter(account_id=member.account_id, day__gte=member.since)
        start = snapshots.order_by("day").values_list("day", flat=True).first()
    if start is None or (member.left is not None and member.left <= start):
        return None
    return start, member.left or date.max


def _minus(a: Days, b: Days) -> list[tuple[date, date]]:
    """The days of ``a`` not in ``b``, as inclusive stretches."""
    if a is None:
        return []
    if b is None or b[1] < a[0] or a[1] < b[0]:
        return [a]
    pieces = []
    if a[0] < b[0]:
        pieces.append((a[0], b[0] - timedelta(days=1)))
    if b[1] < a[1]:
        pieces.append((b[1] + timedelta(days=1), a[1]))
    return pieces


def _refuse_fee_days_changing(*, group: MamGroup, account: ClientAccount, before: Days, after: Days) -> None:
    """409 (rolling the write back) when the membership's fee days change inside a period whose fees are approved
    for the group. The caller holds the group's and the account's rows; the approvals hold keeps a fee approval
    from committing between this read and the write."""
    changed = _minus(before, after) + _minus(after, before)
    if not changed:
        return
    approvals_hold(kind=FEES_KIND)
    for label in fee_approved_periods(group=group):
        period = server_period(label)
        first, last = period.first_day, period.next_first_day - timedelta(days=1)
        if any(start <= last and first <= end for start, end in changed):
            raise Conflict(
                f"This changes the days {account} counts in the fees of group {group.code} in {label}, which are "
                "approved: a paid fee month is not adjusted.",
                extra={"period": label, "group": group.code},
            )


def _validate(*, group: MamGroup, account: ClientAccount, settings: dict, joined: date | None, left: date | None):
    param, risk_factor, max_lots = settings["param"], settings["risk_factor"], settings["max_lots"]
    equity_stop, max_drawdown_pct = settings["equity_stop"], settings["max_drawdown_pct"]
    errors: dict[str, list[str]] = {}
    if account.server != group.master_server:
        errors["server"] = [f"Members of {group.code} trade on its master's server, {group.master_server}."]
    elif account.login == group.master_login:
        errors["login"] = ["This is the group's master account."]
    if group.method in PARAM_METHODS and param is None:
        errors["param"] = [f"The {group.method} method needs a param for every member."]
    if param is not None and param < 0:
        errors["param"] = ["Must not be negative."]
    if risk_factor <= 0:
        errors["risk_factor"] = ["Must be greater than zero."]
    if max_lots is not None and max_lots <= 0:
        errors["max_lots"] = ["Must be greater than zero."]
    if equity_stop is not None and equity_stop < 0:
        errors["equity_stop"] = ["Must not be negative."]
    if max_drawdown_pct is not None and not Decimal(0) < max_drawdown_pct <= Decimal(100):
        errors["max_drawdown_pct"] = ["A percent above 0, at most 100."]
    _check_day(errors, "joined", joined)
    _check_day(errors, "left", left)
    if joined is not None and left is not None and left <= joined:
        errors["left"] = ["The first day no longer a member comes after the joining day."]
    if errors:
        raise ValidationError(errors)


def _change(member: Member, *, settings: dict, joined: date | None, left: date | None) -> Member:
    if joined is not None and joined != member.joined:
        if joined < member.since:
            raise Conflict(
                f"{member.account} could not be a member before {member.since.isoformat()} (a previous membership).",
                extra={"since": member.since.isoformat()},
            )
        member.joined = joined
    start = member.joined or member.since
    if left is not None:
        if left <= start:
            raise ValidationError({"left": ["The first day no longer a member comes after the joining day."]})
        member.left = left
    for field, value in settings.items():
        setattr(member, field, value)
    member.save()
    return member
