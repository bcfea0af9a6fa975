"""A group's members as exact arrays: who takes part in an opening, with what weight and what cap (DOMAIN.md 5.0).

Units: money figures (balance, equity, free margin, peak equity, equity stop) are ``Decimal`` with at most
``MONEY_PLACES`` (8) places, parameters and risk factors at most ``PARAM_PLACES`` (8), ``max_drawdown_pct`` a
percentage with at most ``PCT_PLACES`` (8), lots at most ``volume.LOT_PLACES``; inside, each becomes an exact
integer at a common scale, reduced to the fewest places the values need. Rounding point: none (comparisons only).

Exclusion, first that applies (the account gets 0 lots and this reason): not ``member`` → ``not_member``; not
``active`` → ``inactive``; no equity snapshot or equity <= 0 → ``no_equity``; ``equity < equity_stop`` →
``equity_stop``; ``(peak_equity - equity) / peak_equity x 100 > max_drawdown_pct`` (tested only with a positive
peak and a limit) → ``drawdown_stop``; then the method's weight is not positive: ``no_equity`` for balance, equity
and free margin (a missing figure too), ``no_param`` for a missing or zero param (lot, percent, multiplier,
fixed_lot) or risk factor 0 (risk); then the account's cap (``min(max_lots, spec.maximum)`` floored to the step)
is below the minimum volume → ``below_minimum`` (it could hold no valid position, so it never takes part).

Weights: lot and percent → param (the percentages need not sum to 100: they are weights); equal → 1; balance,
equity, free_margin → that figure; risk → equity x risk_factor (a missing factor is 1); multiplier and fixed_lot →
param (their target is ``V x param`` or ``param``). ``weight`` is reported for every account that passed the
exclusions above the weight test (its figure, even when not positive), None for the others.

Invariants: refuses (``ValueError``) duplicate (server, login) rows, a negative param, risk factor, max_lots or
max_drawdown_pct, and any figure that is not an exact decimal (a float, text).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from core.exact import decimals_to_ints, ints_to_decimals, min_scale, mul, pow10, reduce_scale
from mam.vocabulary import AllocationMethod, AllocationReason

from .volume import LOT_PLACES, Steps

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
REQUIRED_COLUMNS = ("server", "login", "active", "member", "equity")
MONEY_PLACES = 8
PARAM_PLACES = 8
PCT_PLACES = 8
PARAM_METHODS = frozenset(
    {AllocationMethod.LOT, AllocationMethod.PERCENT, AllocationMethod.MULTIPLIER, AllocationMethod.FIXED_LOT}
)
FIGURE_COLUMNS = {
    AllocationMethod.BALANCE: "balance",
    AllocationMethod.EQUITY: "equity",
    AllocationMethod.FREE_MARGIN: "free_margin",
}
ONE = Decimal(1)


@dataclass(frozen=True)
class MemberArrays:
    """Per input row: identity, key rank, the exclusion reason so far ("" = takes part), weight and cap."""

    server: np.ndarray
    login: np.ndarray
    rank: np.ndarray  # 0 = the lowest (server, login)
    reason: np.ndarray  # object: "" or an AllocationReason value
    weight: np.ndarray  # exact integers at one scale (0 where undefined)
    weight_decimals: np.ndarray  # object: Decimal or None, as reported
    param: np.ndarray  # exact integers at ``param_scale`` (multiplier, fixed_lot)
    param_scale: int
    cap: np.ndarray  # int64 steps

    @property
    def participating(self) -> np.ndarray:
        return self.reason == ""

    def row_of(self, key: tuple[str, int]) -> int:
        """The row of (server, login); ``ValueError`` when no member row has it."""
        server, login = key
        found = np.flatnonzero((self.server == server) & (self.login == int(login)))
        if not found.size:
            raise ValueError(f"the overflow account {server}:{login} is not a member row of the group")
        return int(found[0])


def _column(members: pd.DataFrame, name: str) -> np.ndarray:
    if name in members.columns:
        return members[name].to_numpy(dtype=object)
    return np.full(len(members), None, dtype=object)


def _exact(values: np.ndarray, places: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact integers at ``places`` and the missing mask; only the present values are converted (the limits are
    mostly unset)."""
    missing = np.asarray(pd.isna(values), dtype=bool)
    if not missing.any():
        return decimals_to_ints(values, scale=places, what=what)
    ints = np.zeros(values.size, dtype=np.int64)
    if missing.all():
        return ints, missing
    present, _ = decimals_to_ints(values[~missing], scale=places, what=what)
    if present.dtype == object:
        ints = ints.astype(object)
    ints[~missing] = present
    return ints, missing


def _refuse_negative(values: np.ndarray, missing: np.ndarray, what: str, server: np.ndarray, login: np.ndarray):
    bad = ~missing & (values < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{what} must not be negative (account {server[row]}:{login[row]})")


def _key_rank(server: np.ndarray, login: np.ndarray) -> np.ndarray:
    if server.size and (server == server[0]).all():
        codes = np.zeros(server.size, dtype=np.int64)  # one server: the usual group
    else:
        codes = np.unique(server.astype(str), return_inverse=True)[1].ravel()
    order = np.lexsort((login, codes))
    rank = np.empty(server.size, dtype=np.int64)
    rank[order] = np.arange(server.size)
    keys = np.stack((codes[order], login[order]))
    if server.size > 1 and ((np.diff(keys, axis=1) == 0).all(axis=0)).any():
        raise ValueError("members: the same (server, login) appears twice")
    return rank


def read_members(members: pd.DataFrame, *, method: AllocationMethod, steps: Steps) -> MemberArrays:
    """Exclusions, weights and caps of every member row (module docstring)."""
    missing_columns = [name for name in REQUIRED_COLUMNS if name not in members.columns]
    if missing_columns:
        raise ValueError(f"members: missing columns {missing_columns}")
    size = len(members)
    server = members["server"].to_numpy(dtype=object)
    login = members["login"].to_numpy(dtype=np.int64)
    rank = _key_rank(server, login)
    reason = np.full(size, "", dtype=object)

    def exclude(mask: np.ndarray, why: AllocationReason) -> None:
        reason[mask & (reason == "")] = why.value

    exclude(~members["member"].to_numpy(dtype=bool, na_value=False), AllocationReason.NOT_MEMBER)
    exclude(~members["active"].to_numpy(dtype=bool, na_value=False), AllocationReason.INACTIVE)

    equity_raw = _column(members, "equity")
    equity, no_equity = _exact(equity_raw, MONEY_PLACES, "equity")
    stop, no_stop = _exact(_column(members, "equity_stop"), MONEY_PLACES, "equity_stop")
    peak, no_peak = _exact(_column(members, "peak_equity"), MONEY_PLACES, "peak_equity")
    limit, no_limit = _exact(_column(members, "max_drawdown_pct"), PCT_PLACES, "max_drawdown_pct")
    _refuse_negative(limit, no_limit, "max_drawdown_pct", server, login)
    # Fewer places, smaller integers: the drawdown products stay in int64 for any realistic figure.
    money_scale = min_scale(np.concatenate((equity, stop, peak)), MONEY_PLACES)
    divisor = pow10(MONEY_PLACES - money_scale)
    equity, stop, peak = equity // divisor, stop // divisor, peak // divisor
    limit, limit_scale = reduce_scale(limit, PCT_PLACES)

    exclude(no_equity | (equity <= 0), AllocationReason.NO_EQUITY)
    exclude(~no_stop & (equity < stop), AllocationReason.EQUITY_STOP)
    tested = ~no_peak & ~no_limit & (peak > 0)
    drawdown = mul(peak - equity, 100 * pow10(limit_scale)) > mul(limit, peak)
    exclude(tested & drawdown, AllocationReason.DRAWDOWN_STOP)

    weighed = reason == ""
    param, param_scale = np.zeros(size, dtype=np.int64), 0
    weight_decimals = np.full(size, None, dtype=object)
    if method in PARAM_METHODS:
        param, no_param = _exact(_column(members, "param"), PARAM_PLACES, "param")
        _refuse_negative(param, no_param, "param", server, login)
        param, param_scale = reduce_scale(param, PARAM_PLACES)
        weight = param
        weight_decimals[weighed] = _column(members, "param")[weighed]
        exclude(no_param | (weight <= 0), AllocationReason.NO_PARAM)
    elif method == AllocationMethod.EQUAL:
        weight = np.ones(size, dtype=np.int64)
        weight_decimals[weighed] = ONE
    elif method == AllocationMethod.RISK:
        factor, no_factor = _exact(_column(members, "risk_factor"), PARAM_PLACES, "risk_factor")
        _refuse_negative(factor, no_factor, "risk_factor", server, login)
        factor = np.where(no_factor, pow10(PARAM_PLACES), factor)
        factor, factor_scale = reduce_scale(factor, PARAM_PLACES)
        weight, weight_scale = reduce_scale(mul(np.where(weighed, equity, 0), factor), money_scale + factor_scale)
        weight_decimals[weighed] = ints_to_decimals(weight[weighed], weight_scale)
        exclude(weight <= 0, AllocationReason.NO_PARAM)
    else:
        if method == AllocationMethod.EQUITY:
            figure_raw, figure, no_figure = equity_raw, equity, no_equity
        else:
            figure_raw = _column(members, FIGURE_COLUMNS[method])
            figure, no_figure = _exact(figure_raw, MONEY_PLACES, FIGURE_COLUMNS[method])
        weight, _ = reduce_scale(figure, MONEY_PLACES)
        present = weighed & ~no_figure
        weight_decimals[present] = figure_raw[present]
        exclude(no_figure | (weight <= 0), AllocationReason.NO_EQUITY)

    max_lots, no_max = _exact(_column(members, "max_lots"), LOT_PLACES, "max_lots")
    _refuse_negative(max_lots, no_max, "max_lots", server, login)
    cap = steps.caps(max_lots, no_max)
    exclude(cap < steps.min_steps, AllocationReason.BELOW_MINIMUM)
    return MemberArrays(
        server=server,
        login=login,
        rank=rank,
        reason=reason,
        weight=np.where(reason == "", weight, 0),
        weight_decimals=weight_decimals,
        param=param,
        param_scale=param_scale,
        cap=cap,
    )
