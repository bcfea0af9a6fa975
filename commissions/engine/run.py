"""``compute_lines``: one chunk of trades in, attribution lines out. Pure: no Django, no clock, no database.

Units: every line amount is USD at 6 decimal places (``amount`` Decimal and ``amount_micros`` int64 millionths);
plan currencies (a rule's rate, a per-lot rebate's amount) are converted to USD at the close day. Lots are exact
(4 places); percentages are percents.

Rounding points (half-up, ties away from zero, 6 places; nothing else is rounded):
  1. each leg's USD notional;  2. eff_rate = rate x usd_rate(plan currency) x tier multiplier (a per-lot rebate's
  amount: per_lot x usd_rate(plan currency), the same conversion without a multiplier);
  3. every line amount (cascade pass-ups, overrides and rebates are line amounts too).
Recorded bases, weighted rates and weighted multipliers are rounded to 6 places for storage only.

Per trade, in this order (DOMAIN.md 4; decisions where it is silent are written here and in the modules):
- Trade-level reasons, first that applies: ``cancelled`` (status), ``unresolved_symbol`` (no instrument),
  ``account_not_earning``. A trade with no chain row has no IB: ONE line (partner NA, level 1, kind volume,
  amount 0) with the trade-level reason if any, else ``no_ib``. A trade with a chain and a trade-level reason gets
  one zero ``volume`` line per participating level with that reason.
- The level-1 partner's program decides the model and the participating levels (1..max_depth, and under override
  1..1+len(override_pct)); deeper levels get no line (``beyond_max_depth`` is never emitted).
- A level's own plan (see ``amounts``): ``no_plan`` → ``min_hold`` → ``min_points`` → ``no_rule`` give one zero
  ``volume`` line; otherwise one line per kind that has a rule (``volume``, ``spread``), a missing spread giving
  amount 0 with reason ``no_spread``. Rule choice: see ``rules``. Tiers: see ``tiers``.
- Hierarchy models and rebates: see ``hierarchy``. ``suspended`` marks lines of inactive partners.

Output: one row per (trade_id, beneficiary, kind, level) in a deterministic order (not sorted); columns
``schema.LINE_COLUMNS``. Invariants: the output depends only on the inputs and the tier context (computing twice
gives identical lines; splitting a period's trades into chunks by account with one shared ``TierContext`` gives
the same lines); a missing needed conversion rate raises ``MissingRates`` listing every missing pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import hierarchy
from .amounts import Rates, evaluate
from .output import LineBlock, block, concat, to_frame
from .prepare import MODEL_CODE, NA, NA_ID, REASON_CODE, prepare_inputs
from .schema import EngineInputs, validate_inputs
from .tiers import TierContext


def _by_program(table: np.ndarray, program: np.ndarray, has_chain: np.ndarray, missing: int) -> np.ndarray:
    """A program attribute per trade, ``missing`` for trades without a chain (a chunk of such trades has no program
    at all, so the table may be empty)."""
    if not len(table):
        return np.full(len(program), missing, dtype=np.int64)
    return np.where(has_chain, table[np.maximum(program, 0)], missing)


def compute_lines(inputs: EngineInputs, tier_context: TierContext, *, with_decimals: bool = True) -> pd.DataFrame:
    """Attribution lines for one chunk (see the module docstring).

    ``with_decimals=False`` leaves out the Decimal columns (``base``, ``rate``, ``multiplier``, ``amount``) for
    callers that only write the ``*_micros`` integers; the numbers are the same.
    """
    validate_inputs(inputs, check_trade_values=False)
    data = prepare_inputs(inputs)
    trades, chains, programs = data.trades, data.chains, data.programs
    n = trades.n

    trade_reason = np.full(n, NA, dtype=np.int64)
    trade_reason[~trades.earns] = REASON_CODE["account_not_earning"]
    trade_reason[~trades.resolved] = REASON_CODE["unresolved_symbol"]
    trade_reason[trades.cancelled] = REASON_CODE["cancelled"]

    first = np.flatnonzero(chains.level == 1)
    has_chain = np.zeros(n, dtype=bool)
    has_chain[chains.trade[first]] = True
    program = np.full(n, NA, dtype=np.int64)
    program[chains.trade[first]] = chains.program[first]
    partner1 = np.full(n, NA_ID, dtype=np.int64)
    partner1[chains.trade[first]] = chains.partner_id[first]
    length = np.bincount(chains.trade, minlength=n).astype(np.int64)
    model = _by_program(programs.model, program, has_chain, NA)
    depth = np.minimum(length, _by_program(programs.max_depth, program, has_chain, 0))
    is_override = model == MODEL_CODE["override"]
    depth = np.where(is_override, np.minimum(depth, 1 + _by_program(programs.n_override, program, has_chain, 0)), depth)

    participating = chains.level <= depth[chains.trade]
    active = chains.active
    facts = hierarchy.Chains(
        program=program, depth=depth, partner1=partner1, participating=participating, active=active
    )

    blocks: list[LineBlock] = []
    no_chain = np.flatnonzero(~has_chain)
    blocks.append(
        block(no_chain, reason=np.where(trade_reason[no_chain] != NA, trade_reason[no_chain], REASON_CODE["no_ib"]))
    )
    row_reason = trade_reason[chains.trade]
    failed_rows = np.flatnonzero(participating & (row_reason != NA))
    blocks.append(
        block(
            chains.trade[failed_rows],
            partner_id=chains.partner_id[failed_rows],
            level=chains.level[failed_rows],
            reason=row_reason[failed_rows],
        )
    )

    live = participating & (row_reason == NA)
    row_model = model[chains.trade]
    differential = live & (row_model == MODEL_CODE["differential"])
    evaluated = np.flatnonzero((differential & active) | (live & ~differential & (chains.level == 1)))
    rates = Rates(data)
    ev = evaluate(data, tier_context, evaluated, rates)

    blocks += hierarchy.differential(data, ev, np.flatnonzero(differential), facts)
    blocks += hierarchy.cascade(data, ev, np.flatnonzero(live & (row_model == MODEL_CODE["cascade"])), facts)
    blocks += hierarchy.override(data, ev, np.flatnonzero(live & (row_model == MODEL_CODE["override"])), facts)
    del ev  # millions of rows: free the evaluation before the lines are copied together
    blocks += hierarchy.rebates(data, blocks, facts, rates)
    rates.raise_missing()  # every pair the chunk needs, the plans' and the rebates' alike
    lines = concat(blocks)
    blocks.clear()
    return to_frame(lines, trades.trade_id, with_decimals=with_decimals)
