"""Sharing a master volume over a group's participating accounts: the normalised methods of DOMAIN.md 5.1.

Units: whole volume steps (int64 counts); weights are exact integers at one scale (only their ratios matter); the
master volume in steps is the exact fraction ``vnum / vden`` (``volume.py``). Every array here is in *removal
order*: ascending weight, ties higher (server, login) first, so position 0 is the account the below-minimum rule
leaves out first, and the reverse order is the residual order (descending weight, ties lower key first).
Arithmetic is int64 when a bound computed once per call proves that nothing can overflow (``exact_arrays``), else
Python ints in object arrays: exact either way, and plain numpy operations throughout.

Rounding point: one, the floor of each exact target to the step; the leftover whole steps are handed out by the
residual policy. Targets are exact rationals ``num / den`` (never rounded here).

The share of a set S (``share``):
1. Water-filling of the caps: the targets are ``V x w_i / sum(w)``; every account whose target exceeds its cap is
   fixed at its cap and the rest of the volume is shared again over the others, until no target exceeds its cap
   (fixing all the exceeding accounts at once reaches the same unique fill level as fixing them one at a time). If
   every account is fixed the caps' sum is allocated and the rest is not (capacity).
2. Each free target is floored to the step; ``leftover = floor(V) - sum`` steps remain (0 <= leftover < the number
   of free accounts with a fractional remainder, so no cap is ever passed and one pass suffices below).
3. ``largest_weight``: one step each, in residual order, to the free accounts with room below their cap.
   ``largest_remainder``: one step each to the largest remainders (ties: larger weight, then lower key).
   ``overflow``: the overflow account, when it is free in S, takes what it has room for; whatever it cannot take
   (it is stopped out, skipped, clamped or full) goes by ``largest_weight``. ``discard``: nothing handed out.

Below the minimum, ``skip`` (``allocate_skipping``): literally, while some account of S holds less than the minimum,
the one first in removal order is left out and S shared again. The search is fast and equal to that loop because:
- While the first account of S is below the minimum it is the one left out, so the loop removes a prefix of the
  removal order. Its target in a suffix S_i reaches k steps exactly when
  ``sum over l >= i of min(cap_l, k x w_l / w_i) <= V`` (the fill at the level where it would hold k steps), a
  test that is monotone in i, so binary search finds where the prefix ends.
- Under ``largest_weight`` and ``discard`` the first account never takes a residual step (it is last in residual
  order and fewer steps are left over than accounts with a remainder), so its lots are its floor; once it holds
  the minimum every account does (free targets grow with weight, clamped caps are at least the minimum: accounts
  whose cap is below it never take part), so the loop ends there.
- Under ``overflow`` only the overflow account can hold more than its floor; it is checked exactly.
- Under ``largest_remainder`` an account within one step of the minimum may reach it with a residual step. A
  counting bound first rules most of them out: with no cap binding, the step needs
  ``(m + 1) x z - n <= (sum of the targets below the minimum)`` for z accounts below the minimum of n (each of
  them has a remainder at least the first one's, and the leftover is below the sum of all remainders). The rest
  are checked exactly: where no cap binds, many suffixes at once (their floors, leftovers and remainder ranks as
  one rows x accounts array, in batches of growing size); where a cap binds, one share per suffix.
- After the prefix, an account later in the order may still be below the minimum (``largest_remainder``,
  ``overflow``); it is left out alone, and the search starts again on the smaller set.
Cost: a binary search of O(n) vector steps and one share, plus the exact checks above (largest_remainder) and
one share per account left out after the prefix (largest_remainder, overflow; rare).

``bump`` (``allocate_bumping``): the share of S; every account below the minimum is raised to it; the excess over
the volume's whole steps is taken back one step at a time from the accounts above the minimum, in residual order,
cycling, never taking an account below the minimum (accounts whose steps fund bumps are marked ``funded``). Bumps
use up discarded steps first. Excess that cannot be taken back stays: the sum then exceeds the volume.

Invariants: 0 <= steps <= cap for every account; under ``skip`` every kept account holds at least the minimum;
sum(steps) == floor(V) unless discarded, capacity-bound or (bump) above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.exact import INT64_MAX, as_big
from mam.vocabulary import ResidualPolicy

NONE = -1


@dataclass(frozen=True)
class Problem:
    """One master volume to share: ``vnum / vden`` steps, ``total`` whole steps to hand out."""

    vnum: int
    vden: int
    min_steps: int
    residual: ResidualPolicy

    @property
    def total(self) -> int:
        return self.vnum // self.vden


@dataclass(frozen=True)
class Shared:
    """The share of a set: steps per account, exact targets ``num / den`` in steps, and what happened."""

    steps: np.ndarray  # int64
    clamped: np.ndarray  # bool: fixed at its cap by the water-filling
    extra: np.ndarray  # int64: residual steps taken
    num: np.ndarray  # target numerators (int64 or Python ints)
    den: int
    leftover: int  # whole steps not handed out (discard, or capacity)


def exact_arrays(weights: np.ndarray, caps: np.ndarray, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """The weights and caps as int64 when a bound proves that no intermediate value of this module can overflow,
    else as Python ints (object arrays, on which numpy's arithmetic is exact): decided once, so every operation
    below is plain numpy arithmetic.

    The bound covers the largest products formed here: weight x volume, cap x vden x sum(w), a sum of n such
    terms, and the counting bound's ((m + 1) x n) x sum(w) x vden.
    """
    weights = np.asarray(weights)
    heaviest = int(as_big(weights).sum()) if weights.size else 0
    widest = max(problem.vnum, int(caps.max()) if caps.size else 0, (problem.min_steps + 1) * weights.size)
    bound = (widest * problem.vden + 1) * (heaviest + 1) * (weights.size + 1)
    if bound <= INT64_MAX:
        return weights.astype(np.int64), caps.astype(np.int64)
    return as_big(weights), as_big(caps)


def total(values: np.ndarray) -> int:
    """The sum as a Python int (the arrays' dtype already guarantees it is exact)."""
    return int(values.sum()) if values.size else 0


def cumulative(values: np.ndarray) -> np.ndarray:
    """Prefix sums with a leading 0 (``n + 1`` entries)."""
    return np.concatenate((np.zeros(1, dtype=values.dtype), np.cumsum(values)))


def _divmod(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if num.dtype == object or den.dtype == object:  # numpy's divmod has no loop for Python ints
        quotient = num // den
        return quotient, num - quotient * den
    return np.divmod(num, den)


def ceil_div(num: np.ndarray, den: np.ndarray | int) -> np.ndarray:
    """Exact ceiling of ``num / den`` for a positive ``den``."""
    return -((-num) // den)


def cyclic(order: np.ndarray, room: np.ndarray, count: int) -> np.ndarray:
    """Hand out ``count`` unit steps one at a time in ``order``, cycling, each position taking at most ``room``.

    Equal to the literal loop: after r full rounds every position has taken ``min(room, r)``; the last, partial
    round gives one more to the first positions (in order) that still have room. Returns the steps taken.
    """
    taken = np.zeros(room.size, dtype=np.int64)
    available = total(room)
    if count <= 0 or available == 0:
        return taken
    if count >= available:
        return room.astype(np.int64, copy=True)
    if count < np.count_nonzero(room):  # within the first round (the residual case): no search
        taken[order[room[order] > 0][:count]] = 1
        return taken
    low, high = 0, int(room.max())
    while low < high:  # the most full rounds whose steps do not exceed count: O(log max room) vector steps
        middle = (low + high + 1) // 2
        if total(np.minimum(room, middle)) <= count:
            low = middle
        else:
            high = middle - 1
    taken = np.minimum(room, low).astype(np.int64)
    rest = count - total(taken)
    if rest:
        still = order[room[order] > low]
        taken[still[:rest]] += 1
    return taken


def share(weights: np.ndarray, caps: np.ndarray, overflow: int, problem: Problem) -> Shared:
    """The share of one set (steps 1 to 3 of the module docstring); ``overflow`` is a position or ``NONE``."""
    size = weights.size
    fixed = np.zeros(size, dtype=bool)
    fixed_steps = 0
    weight = 0
    while not fixed.all():
        weight = total(weights[~fixed])
        rest = problem.vnum - problem.vden * fixed_steps
        over = ~fixed & (weights * rest > caps * (problem.vden * weight))
        if not over.any():
            break
        fixed |= over
        fixed_steps = total(caps[fixed])
    no_extra = np.zeros(size, dtype=np.int64)
    if fixed.all():
        return Shared(
            steps=caps.astype(np.int64, copy=True),
            clamped=fixed,
            extra=no_extra,
            num=caps,
            den=1,
            leftover=problem.total - total(caps),
        )
    den = problem.vden * weight
    rest = problem.vnum - problem.vden * fixed_steps
    num = np.where(fixed, caps * den, weights * rest)
    steps = (num // den).astype(np.int64)
    leftover = problem.total - total(steps)
    room = np.where(fixed, 0, caps - steps).astype(np.int64)
    extra = _residual(problem.residual, num, den, steps, room, fixed, overflow, leftover)
    return Shared(
        steps=steps + extra,
        clamped=fixed,
        extra=extra,
        num=num,
        den=den,
        leftover=leftover - total(extra),
    )


def _residual(
    policy: ResidualPolicy,
    num: np.ndarray,
    den: int,
    steps: np.ndarray,
    room: np.ndarray,
    fixed: np.ndarray,
    overflow: int,
    leftover: int,
) -> np.ndarray:
    size = steps.size
    by_weight = np.arange(size - 1, -1, -1)
    if leftover <= 0 or policy == ResidualPolicy.DISCARD:
        return np.zeros(size, dtype=np.int64)
    if policy == ResidualPolicy.LARGEST_REMAINDER:
        remainder = np.where(fixed, -1, num - steps.astype(num.dtype) * den)
        # lexsort's last key is the primary one: remainder descending, then residual order (weight, key).
        order = np.lexsort((np.arange(size)[::-1], -remainder))
        return cyclic(order, np.minimum(room, 1), leftover)
    extra = np.zeros(size, dtype=np.int64)
    if policy == ResidualPolicy.OVERFLOW and overflow != NONE and not fixed[overflow]:
        taken = min(leftover, int(room[overflow]))
        extra[overflow] = taken
        leftover -= taken
        room = room.copy()
        room[overflow] -= taken
    return extra + cyclic(by_weight, room, leftover)


def _reaches(weights: np.ndarray, caps: np.ndarray, i: int, k: int, problem: Problem) -> bool:
    """Whether account i's target in the suffix S_i is at least k steps (its floor holds k)."""
    weight = int(weights[i])
    terms = np.minimum(caps[i:] * (weight * problem.vden), weights[i:] * (k * problem.vden))
    return total(terms) <= problem.vnum * weight


def _first(low: int, high: int, test: Callable[[int], bool]) -> int:
    """The first i in [low, high) where the monotone ``test`` holds, else ``high``."""
    while low < high:
        middle = (low + high) // 2
        if test(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _remainder_step_screen(
    weights: np.ndarray, caps: np.ndarray, zone: np.ndarray, problem: Problem
) -> tuple[np.ndarray, np.ndarray]:
    """Per position i of ``zone`` (account i first of S_i and within one step of the minimum): whether it may take
    a largest-remainder step (False where the counting bound proves it cannot), and whether no cap binds in S_i."""
    m, vnum, vden = problem.min_steps, problem.vnum, problem.vden
    prefix = cumulative(weights)
    suffix = prefix[-1] - prefix[zone]
    # No cap binds in S_i when W_i >= vnum x w_l / (vden x cap_l) for every l >= i.
    threshold = ceil_div(weights * vnum, caps * vden)
    highest = np.maximum.accumulate(threshold[::-1])[::-1]
    uncapped = suffix >= highest[zone]
    # The accounts of S_i below the minimum are positions i .. end-1 (weights ascending).
    end = np.searchsorted(weights, ceil_div(suffix * (m * vden), vnum), side="left")
    below = end - zone
    size = weights.size - zone
    small = prefix[end] - prefix[zone]
    impossible = uncapped & (((m + 1) * below - size) * (suffix * vden) > small * vnum)
    return ~impossible, uncapped


def _hold_minimum_uncapped(weights: np.ndarray, rows: np.ndarray, problem: Problem) -> np.ndarray:
    """Per position i of ``rows`` (ascending; no cap binds in S_i): whether account i holds the minimum in the
    largest-remainder share of S_i. The shares of all the rows at once (rows x accounts), exactly as ``share``
    computes them without caps: floors, the leftover, and the number of accounts ahead of i by remainder (every
    tie is ahead: account i has the smallest weight and, among equal weights, the highest key)."""
    first = int(rows[0])
    tail = weights[first:]
    local = rows - first
    numer = tail * problem.vnum
    den = (problem.vden * (total(tail) - cumulative(tail)[local]))[:, None]
    floors, remainders = _divmod(numer[None, :], den)
    outside = np.arange(tail.size)[None, :] < local[:, None]  # accounts already left out of S_i
    leftover = problem.total - np.where(outside, 0, floors).sum(axis=1)
    own = np.arange(rows.size), local
    # Accounts outside S_i get remainder -1 (never ahead); account i itself is counted once and taken off.
    ahead = (np.where(outside, -1, remainders) >= remainders[own][:, None]).sum(axis=1) - 1
    return floors[own] + (ahead < leftover) >= problem.min_steps


def _first_holding_minimum(
    weights: np.ndarray, caps: np.ndarray, candidates: np.ndarray, uncapped: np.ndarray, problem: Problem
) -> int | None:
    """The first candidate (ascending) whose account holds the minimum in the largest-remainder share of its
    suffix, checked exactly: in batches of growing size where no cap binds, one share at a time where one does."""
    start, batch = 0, 16
    while start < candidates.size:
        chunk, flat = candidates[start : start + batch], uncapped[start : start + batch]
        holds = np.zeros(chunk.size, dtype=bool)
        if flat.any():
            holds[flat] = _hold_minimum_uncapped(weights, chunk[flat], problem)
        found = int(np.argmax(holds)) if holds.any() else chunk.size
        for j in np.flatnonzero(~flat[:found]):
            i = int(chunk[j])
            if share(weights[i:], caps[i:], NONE, problem).steps[0] >= problem.min_steps:
                return i
        if found < chunk.size:
            return int(chunk[found])
        start, batch = start + chunk.size, min(2 * batch, 256)
    return None


def _leading_removals(weights: np.ndarray, caps: np.ndarray, overflow: int, problem: Problem) -> int:
    """How many accounts, from the first in removal order on, the skip loop leaves out one after the other."""
    size, m = weights.size, problem.min_steps
    if size == 0:
        return 0

    def reaches_minimum(i: int) -> bool:
        return _reaches(weights, caps, i, m, problem)

    ends = 0 if reaches_minimum(0) else _first(1, size, reaches_minimum)
    if problem.residual == ResidualPolicy.OVERFLOW:
        if overflow != NONE and overflow < ends:
            held = share(weights[overflow:], caps[overflow:], 0, problem).steps[0]
            if held >= m:
                return overflow
        return ends
    if problem.residual != ResidualPolicy.LARGEST_REMAINDER or ends == 0:
        return ends
    starts = 0 if m == 1 else _first(0, ends, lambda i: _reaches(weights, caps, i, m - 1, problem))
    zone = np.arange(starts, ends)
    possible, uncapped = _remainder_step_screen(weights, caps, zone, problem)
    found = _first_holding_minimum(weights, caps, zone[possible], uncapped[possible], problem)
    return ends if found is None else found


def allocate_skipping(
    weights: np.ndarray, caps: np.ndarray, overflow: int, problem: Problem
) -> tuple[np.ndarray, Shared | None, np.ndarray]:
    """The ``skip`` rule: (kept positions, their share or None when none is kept, left-out positions)."""
    weights, caps = exact_arrays(weights, caps, problem)
    alive = np.arange(weights.size)
    left_out: list[np.ndarray] = []
    while alive.size:
        removed = _leading_removals(weights[alive], caps[alive], _position(alive, overflow), problem)
        if removed:
            left_out.append(alive[:removed])
            alive = alive[removed:]
            if not alive.size:
                break
        shared = share(weights[alive], caps[alive], _position(alive, overflow), problem)
        below = shared.steps < problem.min_steps
        if not below.any():
            return alive, shared, _joined(left_out)
        first = int(np.argmax(below))
        left_out.append(alive[first : first + 1])
        alive = np.delete(alive, first)
    return alive, None, _joined(left_out)


def allocate_bumping(
    weights: np.ndarray, caps: np.ndarray, overflow: int, problem: Problem
) -> tuple[Shared, np.ndarray, np.ndarray, np.ndarray]:
    """The ``bump`` rule: (the share, final steps, bumped mask, steps given back to fund the bumps)."""
    weights, caps = exact_arrays(weights, caps, problem)
    shared = share(weights, caps, overflow, problem)
    bumped = shared.steps < problem.min_steps
    steps = np.where(bumped, problem.min_steps, shared.steps).astype(np.int64)
    excess = total(steps) - problem.total
    funded = np.zeros(steps.size, dtype=np.int64)
    if excess > 0:
        room = np.where(bumped, 0, steps - problem.min_steps)
        funded = cyclic(np.arange(steps.size - 1, -1, -1), room, excess)
        steps = steps - funded
    return shared, steps, bumped, funded


def _position(alive: np.ndarray, overflow: int) -> int:
    if overflow == NONE:
        return NONE
    found = np.flatnonzero(alive == overflow)
    return int(found[0]) if found.size else NONE


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
