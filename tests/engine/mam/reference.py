"""An obviously-correct reference for the MAM allocation and closing engines: plain loops over accounts, Decimal only.

Written from DOMAIN.md 5.0-5.2 and the decisions stated in the docstrings of mam/engine/members.py, allocation.py,
sharing.py and closing.py, for clarity rather than speed. It shares nothing with the engine but the vocabularies
and the two input dataclasses. Every number is a Decimal in an 80-digit context (exact for every product and sum of
the inputs here); shares are compared through exact cross-multiplication, never through rounded quotients. The
below-minimum ``skip`` rule is applied literally: one account left out, the whole share computed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, localcontext

import pandas as pd

from core.money import quantize
from mam.engine import GroupPolicy, VolumeSpec
from mam.vocabulary import NORMALISED_METHODS, AllocationMethod, BelowMinPolicy, CloseReason, ResidualPolicy

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
CONTEXT = Context(prec=80)
TARGET_PLACES = 8


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _steps_down(lots: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of the step not above ``lots``."""
    return (lots / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _steps_up(lots: Decimal, step: Decimal) -> Decimal:
    return (lots / step).to_integral_value(rounding=ROUND_CEILING) * step


def _steps_half_up(lots: Decimal, step: Decimal) -> Decimal:
    return (lots / step).to_integral_value(rounding=ROUND_HALF_UP) * step


@dataclass(eq=False)  # accounts are compared by identity
class Account:
    row: int
    key: tuple[str, int]
    reason: str = ""
    out: bool = False  # excluded, or left out for the minimum: no lots and no target
    weight: Decimal | None = None
    cap: Decimal = ZERO
    target: Decimal = ZERO  # exact (as exact as the context), reported rounded to 8 places
    lots: Decimal = ZERO
    clamped: bool = False
    residual_steps: int = 0
    bumped: bool = False
    funding_steps: int = 0
    # For exact comparisons of free shares: target = numerator / denominator.
    numerator: Decimal = ZERO
    denominator: Decimal = ONE


@dataclass
class RefAllocation:
    accounts: list[Account]
    allocated: Decimal
    unallocated: Decimal
    unallocated_reason: str


def minimum_lots(spec: VolumeSpec) -> Decimal:
    """The smallest valid volume: the minimum rounded up to the step, and never 0."""
    return max(spec.step, _steps_up(spec.minimum, spec.step))


def _exclusion(row: dict) -> str:
    if not row["member"]:
        return "not_member"
    if not row["active"]:
        return "inactive"
    equity = row["equity"]
    if _missing(equity) or equity <= 0:
        return "no_equity"
    stop = row.get("equity_stop")
    if not _missing(stop) and equity < stop:
        return "equity_stop"
    peak, limit = row.get("peak_equity"), row.get("max_drawdown_pct")
    if not _missing(peak) and not _missing(limit) and peak > 0 and (peak - equity) / peak * HUNDRED > limit:
        return "drawdown_stop"
    return ""


def _weight(row: dict, method: AllocationMethod) -> tuple[Decimal | None, str]:
    """(weight as reported, the reason when it is not positive)."""
    if method in (
        AllocationMethod.LOT,
        AllocationMethod.PERCENT,
        AllocationMethod.MULTIPLIER,
        AllocationMethod.FIXED_LOT,
    ):
        param = row.get("param")
        if _missing(param) or param <= 0:
            return (None if _missing(param) else param), "no_param"
        return param, ""
    if method == AllocationMethod.EQUAL:
        return ONE, ""
    if method == AllocationMethod.RISK:
        factor = row.get("risk_factor")
        factor = ONE if _missing(factor) else factor
        weight = row["equity"] * factor
        return weight, ("no_param" if weight <= 0 else "")
    figure = row.get(method.value)
    if _missing(figure) or figure <= 0:
        return (None if _missing(figure) else figure), "no_equity"
    return figure, ""


def _share(accounts: list[Account], volume: Decimal, spec: VolumeSpec, policy: GroupPolicy) -> int:
    """Share ``volume`` over ``accounts`` (sets lots, targets, flags); return the whole steps not handed out."""
    step = spec.step
    for a in accounts:
        a.clamped, a.residual_steps = False, 0
    fixed: list[Account] = []
    while True:
        free = [a for a in accounts if a not in fixed]
        if not free:
            break
        rest = volume - sum((a.cap for a in fixed), ZERO)
        weights = sum((a.weight for a in free), ZERO)
        over = [a for a in free if rest * a.weight > a.cap * weights]
        if not over:
            break
        fixed.extend(over)
    for a in fixed:
        a.clamped = True
        a.lots = a.target = a.cap
        a.numerator, a.denominator = a.cap, ONE
    free = [a for a in accounts if a not in fixed]
    if free:
        rest = volume - sum((a.cap for a in fixed), ZERO)
        weights = sum((a.weight for a in free), ZERO)
        for a in free:
            a.numerator, a.denominator = rest * a.weight, weights
            a.target = a.numerator / a.denominator
            a.lots = (a.numerator // (a.denominator * step)) * step
    whole_steps = (volume / step).to_integral_value(rounding=ROUND_FLOOR)
    leftover = int(whole_steps - sum((a.lots for a in accounts), ZERO) / step)
    assert leftover >= 0

    def give_by_weight(leftover: int) -> int:
        order = sorted(free, key=lambda a: (-a.weight, a.key))
        while leftover > 0:
            gave = False
            for a in order:
                if leftover == 0:
                    break
                if a.lots + step <= a.cap:
                    a.lots += step
                    a.residual_steps += 1
                    leftover -= 1
                    gave = True
            if not gave:
                break
        return leftover

    if policy.residual == ResidualPolicy.LARGEST_WEIGHT:
        return give_by_weight(leftover)
    if policy.residual == ResidualPolicy.LARGEST_REMAINDER:

        def remainder(a: Account) -> Decimal:  # of the target above its floor, over the common denominator
            return a.numerator - (a.lots / step) * a.denominator * step

        for a in sorted(free, key=lambda a: (-remainder(a), -a.weight, a.key)):
            if leftover == 0:
                break
            if a.lots + step <= a.cap:
                a.lots += step
                a.residual_steps += 1
                leftover -= 1
        return leftover
    if policy.residual == ResidualPolicy.OVERFLOW:
        target = [a for a in free if a.key == policy.overflow_key]
        if target:
            o = target[0]
            room = int((o.cap - o.lots) / step)
            taken = min(room, leftover)
            o.lots += taken * step
            o.residual_steps += taken
            leftover -= taken
        return give_by_weight(leftover)
    return leftover  # discard


def reference_allocate(
    volume: Decimal, members: pd.DataFrame, *, policy: GroupPolicy, spec: VolumeSpec
) -> RefAllocation:
    with localcontext(CONTEXT):
        return _allocate(volume, members, policy, spec)


def _allocate(volume: Decimal, members: pd.DataFrame, policy: GroupPolicy, spec: VolumeSpec) -> RefAllocation:
    if volume <= 0:
        raise ValueError("volume")
    step, minimum = spec.step, minimum_lots(spec)
    rows = members.to_dict("records")
    keys = [(str(r["server"]), int(r["login"])) for r in rows]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate member")
    if policy.residual == ResidualPolicy.OVERFLOW and policy.overflow_key not in keys:
        raise ValueError("overflow account")
    accounts = []
    for i, row in enumerate(rows):
        a = Account(row=i, key=keys[i])
        a.reason = _exclusion(row)
        if not a.reason:
            a.weight, a.reason = _weight(row, policy.method)
        if not a.reason:
            own = row.get("max_lots")
            limit = spec.maximum if _missing(own) else min(own, spec.maximum)
            a.cap = _steps_down(limit, step)
            if a.cap < minimum:
                a.reason = "below_minimum"
        a.out = bool(a.reason)
        accounts.append(a)
    taking_part = [a for a in accounts if not a.out]

    if policy.method in NORMALISED_METHODS:
        why = _normalised(taking_part, volume, spec, policy, minimum)
    else:
        why = _per_account(taking_part, volume, spec, policy, minimum, rows)
    for a in accounts:
        if a.out:
            a.lots, a.target = ZERO, ZERO
    allocated = sum((a.lots for a in accounts), ZERO)
    unallocated = volume - allocated
    if allocated == 0:
        why = "below_minimum" if any(a.reason == "below_minimum" for a in accounts) else "no_eligible_account"
    elif unallocated == 0:
        why = ""
    for a in accounts:
        a.target = quantize(a.target, TARGET_PLACES)
    return RefAllocation(accounts, allocated, unallocated, why)


def _normalised(
    taking_part: list[Account], volume: Decimal, spec: VolumeSpec, policy: GroupPolicy, minimum: Decimal
) -> str:
    step = spec.step
    current = list(taking_part)
    if policy.below_min == BelowMinPolicy.SKIP:
        while current:
            _share(current, volume, spec, policy)
            below = [a for a in current if a.lots < minimum]
            if not below:
                break
            smallest = min(a.weight for a in below)
            gone = max((a for a in below if a.weight == smallest), key=lambda a: a.key)
            gone.reason, gone.out = "below_minimum", True
            current.remove(gone)
        if not current:
            return ""
    else:
        _share(current, volume, spec, policy)
        for a in current:
            if a.lots < minimum:
                a.lots, a.bumped = minimum, True
        whole = (volume / step).to_integral_value(rounding=ROUND_FLOOR) * step
        excess = sum((a.lots for a in current), ZERO) - whole
        donors = sorted((a for a in current if not a.bumped), key=lambda a: (-a.weight, a.key))
        while excess > 0:
            gave = False
            for a in donors:
                if excess <= 0:
                    break
                if a.lots - step >= minimum:
                    a.lots -= step
                    a.funding_steps += 1
                    excess -= step
                    gave = True
            if not gave:
                break
    for a in current:
        if a.bumped:
            a.reason = "bumped"
        elif a.funding_steps:
            a.reason = "bump_funding"
        elif a.clamped:
            a.reason = "clamped"
        elif a.residual_steps:
            a.reason = "residual"
        elif a.lots * a.denominator < a.numerator:
            a.reason = "discarded" if policy.residual == ResidualPolicy.DISCARD else "rounded"
    # The participants' reasons are set; the rest of the volume:
    whole = (volume / step).to_integral_value(rounding=ROUND_FLOOR) * step
    rest = whole - sum((a.lots for a in current), ZERO)
    if rest < 0:
        return "bumped"
    if all(a.clamped for a in current):
        return "clamped"
    if policy.residual == ResidualPolicy.DISCARD and rest > 0:
        return "discarded"
    return "rounded"


def _per_account(
    taking_part: list[Account], volume: Decimal, spec: VolumeSpec, policy: GroupPolicy, minimum: Decimal, rows
) -> str:
    for a in taking_part:
        param = rows[a.row]["param"]
        a.target = volume * param if policy.method == AllocationMethod.MULTIPLIER else param
        a.lots = _steps_half_up(a.target, spec.step)
        if a.lots > a.cap:
            a.lots = a.target = a.cap
            a.reason = "clamped"
        elif a.lots < minimum:
            if policy.below_min == BelowMinPolicy.SKIP:
                a.reason, a.out = "below_minimum", True
            else:
                a.lots, a.reason = minimum, "bumped"
        elif a.lots != a.target:
            a.reason = "rounded"
    return "not_normalised"


def reference_close(positions: pd.DataFrame, *, master_open: Decimal, close_lots: Decimal, spec: VolumeSpec) -> list:
    """(lots_closed, reason) per position."""
    if close_lots <= 0 or close_lots > master_open:
        raise ValueError("close_lots")
    minimum = minimum_lots(spec)
    out = []
    with localcontext(CONTEXT):
        for row in positions.to_dict("records"):
            s = row["lots_open"]
            if close_lots == master_open:
                out.append((s, ""))
                continue
            exact = s * close_lots / master_open
            closed = _steps_half_up(exact, spec.step)
            reason = "" if closed == exact else CloseReason.ROUNDED.value
            if closed > s:
                closed, reason = s, CloseReason.CLAMPED.value
            if s > 0 and closed < minimum:
                closed, reason = ZERO, CloseReason.BELOW_MINIMUM.value
            elif ZERO < s - closed < minimum:
                closed, reason = s, CloseReason.REMAINDER_BELOW_MINIMUM.value
            out.append((closed, reason))
    return out
