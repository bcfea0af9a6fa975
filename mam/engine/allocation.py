"""STAND-IN for the allocation engine of branch ``mam-alloc`` (``allocate``, ``GroupPolicy``, ``VolumeSpec``,
``Allocation``, ``MEMBER_COLUMNS``), with its interface, so the models, services and API can be built and tested
before it merges. The merge replaces this file whole; nothing else depends on more than the interface.

Units: lots and money are ``Decimal``. Rounding: floors to the volume step (normalised methods), half-up to the step
(multiplier, fixed_lot). Covers eligibility and reasons (not_member, inactive, no_equity, equity_stop,
drawdown_stop), every method's weights, the largest_weight / largest_remainder / overflow / discard residuals,
skip (one account at a time, smallest weight first) and bump below the minimum, and clamping (without re-sharing
the clamped excess). Pure: no Django, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pandas as pd

from mam.vocabulary import NORMALISED_METHODS, AllocationMethod, AllocationReason, BelowMinPolicy, ResidualPolicy

MEMBER_COLUMNS: tuple[str, ...] = (
    "server",
    "login",
    "active",
    "member",
    "param",
    "risk_factor",
    "balance",
    "equity",
    "free_margin",
    "peak_equity",
    "max_lots",
    "equity_stop",
    "max_drawdown_pct",
)
ZERO = Decimal(0)


@dataclass(frozen=True)
class VolumeSpec:
    step: Decimal
    minimum: Decimal
    maximum: Decimal


@dataclass(frozen=True)
class GroupPolicy:
    method: AllocationMethod = AllocationMethod.EQUITY
    residual: ResidualPolicy = ResidualPolicy.LARGEST_WEIGHT
    below_min: BelowMinPolicy = BelowMinPolicy.SKIP
    overflow_key: tuple[str, int] | None = None


@dataclass(frozen=True)
class Allocation:
    shares: pd.DataFrame
    allocated: Decimal
    unallocated: Decimal
    unallocated_reason: str


def _excluded(row: dict) -> str:
    equity = row["equity"]
    if not row["member"]:
        return AllocationReason.NOT_MEMBER
    if not row["active"]:
        return AllocationReason.INACTIVE
    if equity is None or equity <= 0:
        return AllocationReason.NO_EQUITY
    if row["equity_stop"] is not None and equity < row["equity_stop"]:
        return AllocationReason.EQUITY_STOP
    peak, limit = row["peak_equity"], row["max_drawdown_pct"]
    if peak is not None and limit is not None and peak > 0 and (peak - equity) * 100 > limit * peak:
        return AllocationReason.DRAWDOWN_STOP
    return ""


def _weight(row: dict, method: AllocationMethod) -> Decimal | None:
    if method in (
        AllocationMethod.LOT,
        AllocationMethod.PERCENT,
        AllocationMethod.MULTIPLIER,
        AllocationMethod.FIXED_LOT,
    ):
        return row["param"]
    if method == AllocationMethod.EQUAL:
        return Decimal(1)
    if method == AllocationMethod.RISK:
        return row["equity"] * (row["risk_factor"] if row["risk_factor"] is not None else Decimal(1))
    return row[method.value]


def _steps(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


def allocate(volume: Decimal, members: pd.DataFrame, *, policy: GroupPolicy, spec: VolumeSpec) -> Allocation:
    rows = members.to_dict("records")
    n = len(rows)
    reasons = [_excluded(r) for r in rows]
    weights: list[Decimal | None] = [None] * n
    for i, row in enumerate(rows):
        if not reasons[i]:
            weights[i] = _weight(row, policy.method)
            if weights[i] is None or weights[i] <= 0:
                reasons[i] = AllocationReason.NO_EQUITY
    caps = [min(spec.maximum, r["max_lots"]) if r["max_lots"] is not None else spec.maximum for r in rows]
    lots = [ZERO] * n
    targets = [ZERO] * n
    eligible = [i for i in range(n) if not reasons[i]]
    normalised = policy.method in NORMALISED_METHODS
    while True:
        lots, targets = [ZERO] * n, [ZERO] * n
        total = sum((weights[i] for i in eligible), ZERO)
        for i in eligible:
            if not normalised:
                targets[i] = volume * weights[i] if policy.method == AllocationMethod.MULTIPLIER else weights[i]
                lots[i] = _steps(targets[i], spec.step, ROUND_HALF_UP)
            else:
                targets[i] = volume * weights[i] / total
                lots[i] = _steps(targets[i], spec.step, ROUND_FLOOR)
        if normalised and eligible:
            _residual(volume, lots, targets, weights, eligible, rows, policy, spec, reasons)
        below = [i for i in eligible if lots[i] < spec.minimum]
        if not below or policy.below_min == BelowMinPolicy.BUMP:
            for i in below:
                lots[i] = spec.minimum
                reasons[i] = AllocationReason.BUMPED
            break
        drop = min(below, key=lambda i: (weights[i], rows[i]["server"], -rows[i]["login"]))
        reasons[drop] = AllocationReason.BELOW_MINIMUM
        eligible.remove(drop)
    for i in eligible:
        if lots[i] > caps[i]:
            lots[i] = _steps(caps[i], spec.step, ROUND_FLOOR)
            reasons[i] = AllocationReason.CLAMPED
    allocated = sum(lots, ZERO)
    unallocated = volume - allocated
    reason = ""
    if unallocated:
        reason = "no eligible account" if not eligible else str(reasons[eligible[0]] or "rounded")
        if policy.residual == ResidualPolicy.DISCARD:
            reason = AllocationReason.DISCARDED
    shares = pd.DataFrame(
        {
            "server": [r["server"] for r in rows],
            "login": [r["login"] for r in rows],
            "weight": weights,
            "target": targets,
            "lots": lots,
            "reason": [str(x) for x in reasons],
        },
        columns=["server", "login", "weight", "target", "lots", "reason"],
    ).astype(object)
    return Allocation(shares=shares, allocated=allocated, unallocated=unallocated, unallocated_reason=str(reason))


def _residual(volume, lots, targets, weights, eligible, rows, policy, spec, reasons) -> None:
    left = int((volume - sum(lots, ZERO)) / spec.step)
    if left <= 0:
        return
    if policy.residual == ResidualPolicy.DISCARD:
        for i in eligible:
            if lots[i] != targets[i]:
                reasons[i] = AllocationReason.DISCARDED
        return
    if policy.residual == ResidualPolicy.OVERFLOW:
        key = policy.overflow_key
        target = next((i for i in eligible if (rows[i]["server"], rows[i]["login"]) == key), None)
        if target is None:
            raise ValueError(f"the overflow account {key} is not an eligible member")
        lots[target] += spec.step * left
        reasons[target] = AllocationReason.RESIDUAL
        return
    if policy.residual == ResidualPolicy.LARGEST_REMAINDER:
        order = sorted(eligible, key=lambda i: (-(targets[i] - lots[i]), -weights[i], rows[i]["login"]))
    else:
        order = sorted(eligible, key=lambda i: (-weights[i], rows[i]["login"]))
    k = 0
    while left:
        i = order[k % len(order)]
        lots[i] += spec.step
        reasons[i] = AllocationReason.RESIDUAL
        left -= 1
        k += 1
