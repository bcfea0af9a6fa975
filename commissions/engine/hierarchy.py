"""Multi-tier hierarchies (differential, cascade, override) and client rebates, on whole chunks at once.

Units: micro-USD int64 amounts; percentages at scale 6 (30 % = 30_000_000), so ``x * pct / 100`` in micro-units is
``round(x * pct / 10**8)``. Vector steps go level by level (at most the deepest chain's length), never trade by
trade.

Rounding points: only line amounts (ROUNDING POINT 3): a cascade pass-up, an override and a percent rebate are each
rounded half-up to 6 places where they are computed; differential amounts are differences of rounded amounts
(exact); everything else is exact.

Rules (DOMAIN.md 4.4 and 4.5; decisions where it is silent):
- The LEVEL-1 partner's program chooses the model, ``max_depth`` and the shares/percentages for the whole chain.
  Levels deeper than ``max_depth`` (and, under override, deeper than 1 + len(override_pct)) get no line at all.
- differential: every active level computes its own amount A_k per kind with its own plan and tier; level k
  earns ``max(0, A_k - max(A_j of eligible levels below, same kind))``. Suspended levels and levels whose own plan
  fails (no_plan, min_hold, min_points, no_rule) earn 0 with that reason and do not raise the bar. Invariant: the
  chain pays exactly the highest eligible A_k per kind.
- cascade: the pot per kind is A_1 from level 1's plan (computed even when level 1 is suspended); each level
  receives, passes ``round6(received x share / 100)`` up (``shares[k-1]`` from level k; the last share repeats; none
  = 0 %) and keeps the rest; the top of the depth-limited chain keeps all it receives; a suspended level keeps 0
  and passes everything up (recorded share 100 %); a suspended top's remainder is not paid. Uplines' lines record
  base = received, rate = the share that brought it, rule = level 1's rule. Invariant: sum of kept = pot unless
  the top is suspended.
- override: level 1 earns A_1 per kind on its own plan (0 when suspended); level k >= 2 earns
  ``round6(sum over kinds of A_1 x override_pct[k-2] / 100)`` as one ``override`` line (0 when suspended), on top.
  The base is A_1 as computed, so a suspended level 1 does not cut its uplines' overrides. Uplines' own plans are
  not used on the trade (nor, under cascade).
- When level 1's own plan fails under cascade or override, every participating level gets a zero ``volume`` line
  with that reason (``suspended`` for suspended partners).
- Rebates: for the level-1 partner P, the account-specific rebate of (P, account) in force at the trade's close
  time if any, else P's all-clients rebate in force then (a rebate applies to trades closed during its
  ``[valid_from, valid_to)``). earned = the sum of P's level-1 line amounts on the trade (all kinds). pct:
  ``round6(earned x pct / 100)``; per_lot (DOMAIN.md 4.5: an amount per lot in the plan's currency, i.e. the
  currency of P's plan in force at the close time, which earned the amount): converted as the plan's rates are
  (ROUNDING POINT 2 without a multiplier), ``usd_per_lot = round6(per_lot x usd_rate(plan currency, close_day))``
  (per_lot itself for a USD plan), then ``min(round6(usd_per_lot x lots), earned)``; the rate is needed only for
  a trade where P earned something. A positive rebate emits a ``rebate`` line (partner NA, account = the trade's
  account, +R) and a ``rebate_funding`` line (partner P, same account, -R), both at level 1 with base = earned and
  rate = the pct, or the per-lot amount in USD (as a rule's line records its eff_rate); a rebate of 0 emits
  nothing.
  Invariants: 0 < R <= earned; the two lines sum to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.exact import div_round, mul, pow10, to_int64

from .amounts import Evaluation, Rates
from .output import KIND_CODE, LineBlock, block
from .prepare import NA, NA_ID, REASON_CODE, Prepared, RebateArrays
from .schema import CONFIG_PLACES, LOTS_PLACES
from .tiers import eff_rates

PCT_DIVISOR = pow10(8)  # percent (/100) at scale 6 (/10**6)
HUNDRED_PCT = 100 * pow10(6)
SUSPENDED = REASON_CODE["suspended"]


@dataclass(frozen=True)
class Chains:
    """Per trade and per chain row facts the models need (built in ``run``)."""

    program: np.ndarray  # per trade: program position (-1 without chain)
    depth: np.ndarray  # per trade: number of participating levels
    partner1: np.ndarray  # per trade: level-1 partner id (NA_ID without chain)
    participating: np.ndarray  # per chain row
    active: np.ndarray  # per chain row


def _levels(level: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(level, positions) pairs in ascending level order (a mask per level: chains are at most a few levels deep)."""
    if not len(level):
        return []
    return [(int(k), np.flatnonzero(level == k)) for k in range(1, int(level.max()) + 1) if (level == k).any()]


def _result_block(
    data: Prepared,
    ev: Evaluation,
    pick: np.ndarray | slice,
    amount: np.ndarray,
    reason: np.ndarray,
    *,
    kind: int | None = None,
    trade: np.ndarray | None = None,
    level: np.ndarray | None = None,
) -> LineBlock:
    """Lines for the results ``pick`` (positions or a slice of ``ev``) with the given amounts and reasons."""
    row = ev.row[pick]
    return block(
        data.chains.trade[row] if trade is None else trade,
        partner_id=data.chains.partner_id[row],
        kind=ev.kind[pick] if kind is None else kind,
        level=data.chains.level[row] if level is None else level,
        rule_id=ev.rule_id[pick],
        base=ev.base[pick],
        rate=ev.rate[pick],
        tier=ev.tier[pick],
        multiplier=ev.multiplier[pick],
        amount=amount,
        reason=reason,
    )


def _kind_results(ev: Evaluation, mask: np.ndarray, kind: int) -> np.ndarray | slice:
    """The results of ``kind`` where ``mask``: a slice when the mask keeps everything (results are grouped by
    kind), so the usual single-model chunk reads its results without copying them."""
    if mask.all():
        return slice(int(np.searchsorted(ev.kind, kind, "left")), int(np.searchsorted(ev.kind, kind, "right")))
    return np.flatnonzero(mask & (ev.kind == kind))


def _row_block(data: Prepared, rows: np.ndarray, reason: np.ndarray | int, **values) -> LineBlock:
    return block(
        data.chains.trade[rows],
        partner_id=data.chains.partner_id[rows],
        level=data.chains.level[rows],
        reason=reason,
        **values,
    )


def differential(data: Prepared, ev: Evaluation, live_rows: np.ndarray, chains: Chains) -> list[LineBlock]:
    """Lines of differential trades: ``live_rows`` are their participating chain rows (no trade-level failure)."""
    blocks = []
    suspended = live_rows[~chains.active[live_rows]]
    blocks.append(_row_block(data, suspended, SUSPENDED))
    in_model = np.zeros(len(data.chains.trade), dtype=bool)
    in_model[live_rows] = True
    failed = (ev.failure != NA) & in_model[ev.rows]
    blocks.append(_row_block(data, ev.rows[failed], ev.failure[failed]))

    mine = in_model[ev.row]
    for kind in (0, 1):
        pick = _kind_results(ev, mine, kind)
        row = ev.row[pick]
        trade = data.chains.trade[row]
        level = data.chains.level[row]
        own = ev.amount[pick]
        paid = np.zeros(len(row), dtype=np.int64)
        bar = np.zeros(data.trades.n, dtype=np.int64)
        # Level by level upwards: each level meets the bar its eligible levels below have set.
        for _, at in _levels(level):
            t = trade[at]
            amount = own[at]
            paid[at] = np.maximum(amount - bar[t], 0)
            bar[t] = np.maximum(bar[t], amount)
        blocks.append(_result_block(data, ev, pick, paid, ev.reason[pick], kind=kind, trade=trade, level=level))
    return blocks


def _level_one_failures(
    data: Prepared, ev: Evaluation, live_rows: np.ndarray, chains: Chains
) -> tuple[np.ndarray, LineBlock]:
    """Per trade, the failure of level 1's own plan (-1 = none), and the zero lines of the failing trades."""
    failure = np.full(data.trades.n, NA, dtype=np.int64)
    first = ev.rows[data.chains.level[ev.rows] == 1]
    failure[data.chains.trade[first]] = ev.failure[data.chains.level[ev.rows] == 1]
    rows = live_rows[failure[data.chains.trade[live_rows]] != NA]
    reason = np.where(chains.active[rows], failure[data.chains.trade[rows]], SUSPENDED)
    return failure, _row_block(data, rows, reason)


def cascade(data: Prepared, ev: Evaluation, live_rows: np.ndarray, chains: Chains) -> list[LineBlock]:
    """Lines of cascade trades (``live_rows``: their participating chain rows without trade-level failure)."""
    failure, failed_block = _level_one_failures(data, ev, live_rows, chains)
    blocks = [failed_block]
    n = data.trades.n
    in_model = np.zeros(len(data.chains.trade), dtype=bool)
    in_model[live_rows] = True
    shares = data.programs.shares
    width = shares.shape[1]
    for kind in (0, 1):
        pick = np.flatnonzero(in_model[ev.row] & (ev.kind == kind))
        if not len(pick):
            continue
        trade_of_pick = data.chains.trade[ev.row[pick]]
        has = np.zeros(n, dtype=bool)
        has[trade_of_pick] = True
        received = np.zeros(n, dtype=np.int64)
        received[trade_of_pick] = ev.amount[pick]
        origin = np.full(n, -1, dtype=np.int64)
        origin[trade_of_pick] = pick
        pct_in = np.full(n, NA_ID, dtype=np.int64)
        rows = live_rows[has[data.chains.trade[live_rows]] & (failure[data.chains.trade[live_rows]] == NA)]
        for level, at in _levels(data.chains.level[rows]):
            r = rows[at]
            t = data.chains.trade[r]
            active = chains.active[r]
            top = level == chains.depth[t]
            share = shares[chains.program[t], min(level - 1, width - 1)]
            got = received[t]
            passed_active = to_int64(div_round(mul(got, share), PCT_DIVISOR), what="cascade share")
            passed = np.where(top, 0, np.where(active, passed_active, got))
            keep = np.where(top, np.where(active, got, 0), np.where(active, got - passed, 0))
            source = origin[t]
            reason = np.where(active, ev.reason[source], SUSPENDED)
            if level == 1:
                blocks.append(_result_block(data, ev, source, keep, reason))
            else:
                blocks.append(
                    _row_block(
                        data,
                        r,
                        reason,
                        kind=kind,
                        rule_id=ev.rule_id[source],
                        base=got,
                        rate=pct_in[t],
                        amount=keep,
                    )
                )
            pct_in[t] = np.where(active, share, HUNDRED_PCT)
            received[t] = passed
    return blocks


def override(data: Prepared, ev: Evaluation, live_rows: np.ndarray, chains: Chains) -> list[LineBlock]:
    """Lines of override trades (``live_rows``: their participating chain rows without trade-level failure)."""
    failure, failed_block = _level_one_failures(data, ev, live_rows, chains)
    blocks = [failed_block]
    in_model = np.zeros(len(data.chains.trade), dtype=bool)
    in_model[live_rows] = True
    pick = np.flatnonzero(in_model[ev.row])
    active = chains.active[ev.row[pick]]
    blocks.append(
        _result_block(
            data, ev, pick, np.where(active, ev.amount[pick], 0), np.where(active, ev.reason[pick], SUSPENDED)
        )
    )
    base = np.zeros(data.trades.n, dtype=np.int64)
    np.add.at(base, data.chains.trade[ev.row[pick]], ev.amount[pick])
    level = data.chains.level[live_rows]
    trade = data.chains.trade[live_rows]
    uplines = live_rows[(level >= 2) & (failure[trade] == NA)]
    t = data.chains.trade[uplines]
    pct = data.programs.override[chains.program[t], data.chains.level[uplines] - 2]
    up_active = chains.active[uplines]
    amount = np.where(up_active, to_int64(div_round(mul(base[t], pct), PCT_DIVISOR), what="override"), 0)
    blocks.append(
        _row_block(
            data,
            uplines,
            np.where(up_active, NA, SUSPENDED),
            kind=KIND_CODE["override"],
            base=base[t],
            rate=pct,
            amount=amount,
        )
    )
    return blocks


def _in_force(table: RebateArrays, group: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The row of the stretch of each key ``group`` (-1: no such key) in force at ``at`` (-1: none). Keys have few
    stretches (one per change of terms in the chunk's span), so this loops over a key's stretches, not trades."""
    row = np.full(len(group), -1, dtype=np.int64)
    known = group >= 0
    if not known.any():
        return row
    safe = np.where(known, group, 0)
    first, count = table.first[safe], np.where(known, table.count[safe], 0)
    for k in range(int(count.max())):
        position = np.where(k < count, first + k, 0)
        hit = (k < count) & (table.from_ns[position] <= at) & (at < table.to_ns[position])
        row = np.where(hit & (row < 0), position, row)
    return row


def rebates(data: Prepared, lines: list[LineBlock], chains: Chains, rates: Rates) -> list[LineBlock]:
    """Rebate and funding lines from what each trade's level-1 partner earned in ``lines``; the conversion rates
    per-lot rebates need and miss are noted in ``rates``."""
    n = data.trades.n
    earned = np.zeros(n, dtype=np.int64)
    for lines_block in lines:
        mine = (lines_block.values("level") == 1) & (lines_block.values("partner_id") != NA_ID)
        np.add.at(earned, lines_block.trade[mine], lines_block.values("amount")[mine])
    table = data.rebates
    candidates = np.flatnonzero((chains.partner1 != NA_ID) & (earned > 0))
    if not len(candidates) or not len(table.pct):
        return []
    partner = chains.partner1[candidates]
    account = data.trades.account_id[candidates]
    at = data.trades.close_ns[candidates]
    specific = _in_force(table, table.index.get_indexer(pd.MultiIndex.from_arrays([partner, account])), at)
    all_clients = pd.MultiIndex.from_arrays([partner, np.full(len(partner), NA_ID)])
    general = _in_force(table, table.index.get_indexer(all_clients), at)
    which = np.where(specific >= 0, specific, general)
    found = which >= 0
    candidates, which = candidates[found], which[found]
    gained = earned[candidates]
    pct = table.pct[which]
    by_pct = pct >= 0
    from_pct = to_int64(div_round(mul(gained, np.where(by_pct, pct, 0)), PCT_DIVISOR), what="rebate")
    per_lot = _per_lot_usd(data, candidates, np.where(by_pct, 0, table.per_lot[which]), ~by_pct, rates)
    from_lots = to_int64(div_round(mul(per_lot, data.trades.lots[candidates]), pow10(LOTS_PLACES)), what="rebate")
    amount = np.where(by_pct, from_pct, np.minimum(from_lots, gained))
    rate = np.where(by_pct, pct, per_lot)
    paid = amount > 0
    candidates, amount, rate, gained = candidates[paid], amount[paid], rate[paid], gained[paid]
    account = data.trades.account_id[candidates]
    return [
        block(candidates, account_id=account, kind=KIND_CODE["rebate"], base=gained, rate=rate, amount=amount),
        block(
            candidates,
            partner_id=chains.partner1[candidates],
            account_id=account,
            kind=KIND_CODE["rebate_funding"],
            base=gained,
            rate=rate,
            amount=-amount,
        ),
    ]


def _per_lot_usd(
    data: Prepared, trades: np.ndarray, per_lot: np.ndarray, by_lot: np.ndarray, rates: Rates
) -> np.ndarray:
    """ROUNDING POINT 2 for per-lot rebates: each amount per lot (scale 6, in the currency of the level-1 plan in
    force at the trade's close time) in micro-USD, converted on the close day as a plan's rates are."""
    chains = data.chains
    first = np.flatnonzero(chains.level == 1)
    plan = np.full(data.trades.n, NA, dtype=np.int64)
    plan[chains.trade[first]] = chains.plan[first]
    plan = plan[trades]
    # A level-1 partner that earned something priced the trade with its plan: every rebated trade has one.
    currency = np.where(plan >= 0, data.plans.currency[np.maximum(plan, 0)], data.vocabularies.usd)
    converted = by_lot & (currency != data.vocabularies.usd)
    fx, fx_scale = rates.factors(currency, data.trades.close_day, trades, converted)
    unit = np.full(len(trades), pow10(CONFIG_PLACES), dtype=np.int64)
    return to_int64(eff_rates(per_lot, fx, fx_scale, unit, converted), what="rebate per lot")
