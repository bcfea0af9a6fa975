"""Rule selection: which rule of a plan applies to a trade, per kind.

Units: none (codes only). Rounding points: none.

Decisions: a rule matches a trade when its ``instrument_id`` is the trade's (a *symbol* rule), or it has no
instrument and its ``symbol_group`` is the trade's (a *group* rule), or it has neither (a *catch-all*); and its
``account_group`` is NA or the trade's account group. Among the matching rules of one kind (``volume``:
per_lot, per_million, commission_share; ``spread``: spread_share) the first by (symbol < group < catch-all,
account-group-specific < generic, lower ``priority``, lower ``rule_id``) wins.
Invariants: at most one rule per kind per (trade, plan); the choice is deterministic.

Speed: trades fall into few *classes* (instrument, symbol group, account group); each (plan, class) pair that
occurs is resolved once and every row looks its answer up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .prepare import RuleArrays, TradeArrays

# Above this many (plan, class) cells the used ones are found by hashing instead of a dense marker array.
_DENSE_CELLS = 20_000_000


def trade_classes(trades: TradeArrays) -> tuple[np.ndarray, pd.DataFrame]:
    """Per trade its class code, and the classes (columns inst, sg, ag as codes, -1 = NA)."""
    sg_radix = int(trades.symbol_group.max(initial=-1)) + 2
    ag_radix = int(trades.account_group.max(initial=-1)) + 2
    key = ((trades.instrument + 1) * sg_radix + (trades.symbol_group + 1)) * ag_radix + (trades.account_group + 1)
    codes, first = _factorize_first(key)
    classes = pd.DataFrame(
        {"inst": trades.instrument[first], "sg": trades.symbol_group[first], "ag": trades.account_group[first]}
    )
    return codes, classes


def _factorize_first(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``key`` and the position of each code's first occurrence."""
    codes, uniques = pd.factorize(key)
    first = np.full(len(uniques), -1, dtype=np.int64)
    # Reversed assignment leaves the smallest position per code.
    positions = np.arange(len(key), dtype=np.int64)
    first[codes[::-1]] = positions[::-1]
    return codes.astype(np.int64), first


def select_rules(
    plan: np.ndarray, trade_class: np.ndarray, classes: pd.DataFrame, rules: RuleArrays, *, n_plans: int
) -> np.ndarray:
    """Rule code per row and kind, shape (rows, 2): column 0 volume, 1 spread; -1 = no rule of that kind.

    ``plan`` (>= 0) and ``trade_class`` are per row; ``classes`` from ``trade_classes``.
    """
    rows = len(plan)
    if rows == 0 or len(rules.rule_id) == 0:
        return np.full((rows, 2), -1, dtype=np.int64)
    n_classes = max(len(classes), 1)
    cell = plan * n_classes + trade_class
    if n_plans * n_classes <= _DENSE_CELLS:
        used = np.zeros(n_plans * n_classes, dtype=bool)
        used[cell] = True
        cells = np.flatnonzero(used)
    else:
        cells = pd.unique(cell)
    keys = pd.DataFrame({"cell": cells, "plan": cells // n_classes, "class": cells % n_classes})
    keys = keys.join(classes, on="class")
    candidates = pd.DataFrame(
        {
            "rule": np.arange(len(rules.rule_id)),
            "plan": rules.plan,
            "r_inst": rules.instrument,
            "r_sg": rules.symbol_group,
            "r_ag": rules.account_group,
            "kind": rules.kind,
            "priority": rules.priority,
            "rule_id": rules.rule_id,
        }
    )
    pairs = keys.merge(candidates, on="plan", how="inner")
    by_symbol = (pairs["r_inst"] >= 0) & (pairs["r_inst"] == pairs["inst"])
    by_group = (pairs["r_inst"] < 0) & (pairs["r_sg"] >= 0) & (pairs["r_sg"] == pairs["sg"])
    catch_all = (pairs["r_inst"] < 0) & (pairs["r_sg"] < 0)
    account_ok = (pairs["r_ag"] < 0) | ((pairs["ag"] >= 0) & (pairs["r_ag"] == pairs["ag"]))
    matching = (by_symbol | by_group | catch_all) & account_ok
    pairs = pairs[matching].assign(
        specificity=np.where(by_symbol[matching], 0, np.where(by_group[matching], 1, 2)),
        generic=(pairs["r_ag"][matching] < 0).astype(np.int64),
    )
    pairs = pairs.sort_values(["cell", "kind", "specificity", "generic", "priority", "rule_id"], kind="stable")
    best = pairs.drop_duplicates(["cell", "kind"], keep="first")
    position = pd.Index(cells).get_indexer(best["cell"].to_numpy())
    per_cell = np.full((len(cells), 2), -1, dtype=np.int64)
    per_cell[position, best["kind"].to_numpy()] = best["rule"].to_numpy()
    if n_plans * n_classes <= _DENSE_CELLS:
        lookup = np.full(n_plans * n_classes, -1, dtype=np.int64)
        lookup[cells] = np.arange(len(cells))
        return per_cell[lookup[cell]]
    return per_cell[pd.Index(cells).get_indexer(cell)]
