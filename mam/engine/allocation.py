"""Allocation of a master trade's volume over a MAM group's sub-accounts (DOMAIN.md 5.0 and 5.1).

``allocate(volume, members, policy=, spec=)`` gives, per member row and in the same order, the weight, the exact
target, the lots and the reason it got less than its exact share or nothing, with the allocated and unallocated
volume. Who takes part, with what weight and cap: ``members.py``; the normalised sharing and the below-minimum
rules: ``sharing.py``.

Units: lots are ``Decimal``; ``lots`` carry the step's decimal places; ``target`` is reported rounded half-up to
``TARGET_PLACES`` (8) places (for reporting only: every decision uses the exact rational target). The minimum
volume is ``spec.minimum`` rounded up to the step and at least one step: 0 lots is below the minimum too.

Rounding points: normalised methods floor each exact target to the step and hand out the leftover whole steps by
the residual policy (``sharing.py``); ``multiplier`` and ``fixed_lot`` round each target half-up to the step
(``core.exact.div_round``). Nothing else is rounded.

Decisions where DOMAIN.md is silent:
- ``target`` is the account's exact volume before rounding, after its cap: for normalised methods its share after
  the water-filling (a clamped account's target is its cap; the excess it could not take is in the others'
  targets), for ``multiplier`` ``V x param`` and for ``fixed_lot`` ``param`` (the cap when the rounded volume
  exceeds it); 0 for an account that takes no part (excluded or skipped).
- Reasons of accounts that take part, the first that applies: ``bumped`` (raised to the minimum);
  ``bump_funding`` (gave steps back to fund bumps); ``clamped``; ``residual`` (took residual steps, the overflow
  account included); ``discarded`` (under ``discard``, less than its target) or ``rounded`` (less or, for
  non-normalised methods, more than its target); ``""`` (exactly its target). Excluded accounts: ``members.py``;
  left out by ``skip``: ``below_minimum``.
- A volume that is not a multiple of the step: the part below one step is never allocated (``rounded``).
- ``overflow`` needs ``overflow_key`` naming one of the member rows (else ``ValueError``); when that account does
  not take part or cannot take the leftover, the rest goes by ``largest_weight`` (no volume is lost to a stopped-out
  overflow account).
- ``multiplier`` and ``fixed_lot``: each account on its own (clamped to its cap, no re-sharing); ``skip`` leaves a
  below-minimum account at 0, ``bump`` raises it to the minimum; the volume the accounts take is not V.
- ``unallocated = volume - allocated`` and its reason, the first that applies: nobody allocated →
  ``below_minimum`` when some account was left out for the minimum, else ``no_eligible_account``; nothing
  unallocated → ``""``; non-normalised → ``not_normalised`` (either sign); negative (bumps beyond what the larger
  accounts could give back) → ``bumped``; every account at its cap → ``clamped``; whole steps discarded →
  ``discarded``; else the sub-step rest of the volume → ``rounded``.

Invariants: every ``lots`` is a multiple of the step, 0 <= lots <= the account's cap; under ``skip`` every account
with lots holds at least the minimum; for normalised methods sum(lots) == V exactly unless discarded, capacity-
bound, nobody takes part, bumped beyond V, or V is not a multiple of the step. Deterministic: ties are broken by
(server, login), never by row order.

Speed: one call is a few vector passes over the members (no per-row Python), plus the skip search (``sharing.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from core.exact import INT64_MAX, div_round, ints_to_decimals, mul, pow10
from mam.vocabulary import NORMALISED_METHODS, AllocationMethod, AllocationReason, BelowMinPolicy, ResidualPolicy

from .members import MEMBER_COLUMNS, MemberArrays, read_members
from .sharing import NONE, Problem, Shared, allocate_bumping, allocate_skipping, total
from .volume import LOT_PLACES, Steps, VolumeSpec, steps_of, units_to_lots, volume_in_steps

__all__ = [
    "MEMBER_COLUMNS",
    "NOT_NORMALISED",
    "NO_ELIGIBLE_ACCOUNT",
    "TARGET_PLACES",
    "Allocation",
    "GroupPolicy",
    "VolumeSpec",
    "allocate",
]

TARGET_PLACES = LOT_PLACES
NO_ELIGIBLE_ACCOUNT = "no_eligible_account"
NOT_NORMALISED = "not_normalised"
SHARE_COLUMNS = ("server", "login", "weight", "target", "lots", "reason")


@dataclass(frozen=True)
class GroupPolicy:
    """How a group shares its master's volume."""

    method: AllocationMethod = AllocationMethod.EQUITY
    residual: ResidualPolicy = ResidualPolicy.LARGEST_WEIGHT
    below_min: BelowMinPolicy = BelowMinPolicy.SKIP
    overflow_key: tuple[str, int] | None = None  # (server, login) of the overflow account (residual=overflow)


@dataclass(frozen=True)
class Allocation:
    """Per member row (input order and index): server, login, weight, target, lots, reason; and the totals."""

    shares: pd.DataFrame
    allocated: Decimal
    unallocated: Decimal
    unallocated_reason: str


@dataclass
class _Rows:
    """Results per input row while they are assembled (steps and exact targets ``target_num / target_den``)."""

    steps: np.ndarray
    target_num: np.ndarray
    target_den: np.ndarray
    reason: np.ndarray


def allocate(volume: Decimal, members: pd.DataFrame, *, policy: GroupPolicy, spec: VolumeSpec) -> Allocation:
    """Share ``volume`` lots of a master opening over ``members`` (one row per member as of the open time)."""
    steps = steps_of(spec)
    vnum, vden = volume_in_steps(volume, steps)
    table = read_members(members, method=policy.method, steps=steps)
    size = table.reason.size
    rows = _Rows(
        steps=np.zeros(size, dtype=np.int64),
        target_num=np.zeros(size, dtype=np.int64),
        target_den=np.ones(size, dtype=np.int64),
        reason=table.reason.copy(),
    )
    if policy.method in NORMALISED_METHODS:
        why = _normalised(rows, table, policy, Problem(vnum, vden, steps.min_steps, policy.residual))
    else:
        _per_account(rows, table, policy, steps, vnum, vden)
        why = NOT_NORMALISED
    allocated_steps = total(rows.steps)
    allocated = allocated_steps * spec.step
    unallocated = volume - allocated
    if allocated_steps == 0:
        left_for_minimum = (rows.reason == AllocationReason.BELOW_MINIMUM.value).any()
        why = AllocationReason.BELOW_MINIMUM.value if left_for_minimum else NO_ELIGIBLE_ACCOUNT
    elif unallocated == 0:
        why = ""
    return Allocation(
        shares=_frame(members, table, rows, steps),
        allocated=allocated,
        unallocated=unallocated,
        unallocated_reason=why,
    )


def _overflow_position(order: np.ndarray, table: MemberArrays, policy: GroupPolicy) -> int:
    if policy.residual != ResidualPolicy.OVERFLOW:
        return NONE
    if policy.overflow_key is None:
        raise ValueError("residual policy overflow needs an overflow_key (server, login)")
    found = np.flatnonzero(order == table.row_of(policy.overflow_key))
    return int(found[0]) if found.size else NONE


def _normalised(rows: _Rows, table: MemberArrays, policy: GroupPolicy, problem: Problem) -> str:
    """Share over the participating rows; fill ``rows``; return the unallocated reason for a non-zero rest."""
    taking_part = np.flatnonzero(table.participating)
    # Removal order: ascending weight, ties higher key first (sharing.py works in this order).
    order = taking_part[np.lexsort((-table.rank[taking_part], table.weight[taking_part]))]
    weights, caps = table.weight[order], table.cap[order]
    overflow = _overflow_position(order, table, policy)
    size = order.size
    bumped = np.zeros(size, dtype=bool)
    funded = np.zeros(size, dtype=np.int64)
    if policy.below_min == BelowMinPolicy.SKIP:
        kept, shared, left_out = allocate_skipping(weights, caps, overflow, problem)
        rows.reason[order[left_out]] = AllocationReason.BELOW_MINIMUM.value
        if shared is None:
            return ""
        order, final = order[kept], shared.steps
        bumped, funded = bumped[kept], funded[kept]
    else:
        shared, final, bumped, funded = allocate_bumping(weights, caps, overflow, problem)
    _record(rows, order, shared, final, bumped, funded, policy.residual)
    rest = problem.total - total(final)
    if rest < 0:
        return AllocationReason.BUMPED.value
    if shared.clamped.all():
        return AllocationReason.CLAMPED.value
    if policy.residual == ResidualPolicy.DISCARD and rest > 0:
        return AllocationReason.DISCARDED.value
    return AllocationReason.ROUNDED.value


def _record(
    rows: _Rows,
    order: np.ndarray,
    shared: Shared,
    final: np.ndarray,
    bumped: np.ndarray,
    funded: np.ndarray,
    residual: ResidualPolicy,
) -> None:
    rows.steps[order] = final
    rows.target_num = _put(rows.target_num, order, shared.num)
    rows.target_den = _put(rows.target_den, order, _filled(order.size, shared.den))
    short = mul(final, shared.den) < shared.num
    reason = np.full(order.size, "", dtype=object)
    reason[short] = (
        AllocationReason.DISCARDED.value if residual == ResidualPolicy.DISCARD else AllocationReason.ROUNDED.value
    )
    reason[shared.extra > 0] = AllocationReason.RESIDUAL.value
    reason[shared.clamped] = AllocationReason.CLAMPED.value
    reason[funded > 0] = AllocationReason.BUMP_FUNDING.value
    reason[bumped] = AllocationReason.BUMPED.value
    rows.reason[order] = reason


def _per_account(rows: _Rows, table: MemberArrays, policy: GroupPolicy, steps: Steps, vnum: int, vden: int) -> None:
    """``multiplier`` (target V x param) and ``fixed_lot`` (target param), each account on its own."""
    taking_part = np.flatnonzero(table.participating)
    param, caps = table.param[taking_part], table.cap[taking_part]
    if policy.method == AllocationMethod.MULTIPLIER:
        num, den = mul(param, vnum), vden * pow10(table.param_scale)
    else:
        num, den = mul(param, pow10(LOT_PLACES)), pow10(table.param_scale) * steps.step
    rounded = div_round(num, den)
    clamped = rounded > caps
    final = np.where(clamped, caps, rounded).astype(np.int64)
    num = np.where(clamped, mul(caps, den), num)
    below = final < steps.min_steps
    reason = np.where(mul(final, den) != num, AllocationReason.ROUNDED.value, "").astype(object)
    reason[clamped] = AllocationReason.CLAMPED.value
    if policy.below_min == BelowMinPolicy.SKIP:
        final[below] = 0
        num = np.where(below, 0, num)
        reason[below] = AllocationReason.BELOW_MINIMUM.value
    else:
        final[below] = steps.min_steps
        reason[below] = AllocationReason.BUMPED.value
    rows.steps[taking_part] = final
    rows.target_num = _put(rows.target_num, taking_part, num)
    rows.target_den = _put(rows.target_den, taking_part, _filled(taking_part.size, den))
    rows.reason[taking_part] = reason


def _filled(size: int, value: int) -> np.ndarray:
    return np.full(size, value, dtype=np.int64 if value <= INT64_MAX else object)


def _put(target: np.ndarray, where: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``target[where] = values``, widening ``target`` to Python ints when ``values`` needs them."""
    if values.dtype == object and target.dtype != object:
        target = target.astype(object)
    target[where] = values
    return target


def _frame(members: pd.DataFrame, table: MemberArrays, rows: _Rows, steps: Steps) -> pd.DataFrame:
    # target lots = (num / den) steps x step units, at TARGET_PLACES (= LOT_PLACES) places, half-up.
    target_units = div_round(mul(rows.target_num, steps.step), rows.target_den)
    frame = pd.DataFrame(
        {
            "server": members["server"],
            "login": table.login,
            "weight": table.weight_decimals,
            "target": ints_to_decimals(np.asarray(target_units), TARGET_PLACES),
            "lots": units_to_lots(rows.steps * steps.step, steps.step),
            "reason": rows.reason,
        },
        copy=False,
    )
    frame.index = members.index
    return frame
