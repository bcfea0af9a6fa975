"""One level's own computation: a plan's filters, its rules and their amounts, before the hierarchy.

Units: amounts, bases and notionals in micro-USD (int64, scale 6); lots at scale 4; rates, percentages and
multipliers at scale 6; conversion rates at the rate table's scale. Converting X→USD on day d multiplies by
usd_rate(X, d) (the USD rate is 1).

Formulas (DOMAIN.md 3 and 4.1) and rounding points (half-up, ties away from zero, 6 places):
- leg notional (USD): base = USD: lots x contract; quote = USD: lots x contract x price; otherwise
  lots x contract x price x usd_rate(quote, day). ROUNDING POINT 1: each leg rounded to 6 places. The close leg uses
  close_price/close_day, the open leg (only for plans with ``both_legs``) open_price/open_day.
- eff_rate = rate x usd_rate(plan currency, close_day) x tier multiplier. ROUNDING POINT 2.
- per_lot: lots x eff_rate; per_million: notional / 1e6 x eff_rate (notional = sum of the counted legs);
  spread_share: lots x spread_pips x pip_value_usd x pct / 100 with pip_value_usd = contract x pip_size x
  usd_rate(quote, close_day), unrounded; commission_share: |commission| x usd_rate(account currency, close_day) x
  pct / 100. ROUNDING POINT 3: each amount rounded once. A marginal-tier line sums its exact pieces and rounds once.
- Recorded ``base``: per_lot the lots, per_million the notional, spread_share lots x spread x pip value, and
  commission_share the commission in USD (the last two rounded to 6 places for storage only). Recorded ``rate``:
  eff_rate (or the weighted eff_rate of a marginal split, rounded for storage), or the pct of a share rule.
- spread_share on a trade without ``spread_pips``: amount 0, reason ``no_spread`` (the line stays).

Rates: a rate is *needed* only where a formula above uses it on a row that passed its filters and has a rule (or a
per-lot rebate converts it, see ``hierarchy``); every needed (currency, day) that is missing is collected in the
chunk's ``Rates`` and raised together as ``MissingRates`` once the chunk is computed (a missing factor counts as 1
until then; no line of such a chunk is ever returned).
Invariants: amounts are >= 0 (rates, percentages, spreads and multipliers are validated non-negative); no float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.exact import div_round, mul, mul_all, pow10, reduce_scale, rescale, to_int64

from .prepare import NA, NA_ID, REASON_CODE, RULE_TYPE_CODE, Prepared, day_to_date, distinct_positions, plan_failures
from .rules import select_rules, trade_classes
from .schema import CONFIG_PLACES, LOTS_PLACES, MissingRates
from .tiers import TierContext, bands_of, eff_rates, marginal_split

MICRO = 6
PER_LOT = RULE_TYPE_CODE["per_lot"]
PER_MILLION = RULE_TYPE_CODE["per_million"]
SPREAD_SHARE = RULE_TYPE_CODE["spread_share"]
COMMISSION_SHARE = RULE_TYPE_CODE["commission_share"]


@dataclass(frozen=True)
class Evaluation:
    """Result of evaluating chain rows against their own plan.

    ``failure``: per evaluated row, the reason code of a level-wide failure (no_plan, min_hold, min_points,
    no_rule) or -1. The remaining arrays have one entry per (row, kind) with a rule ("results"): ``row`` is the
    chain row, ``kind`` 0 volume / 1 spread (all volume results first, each kind in chain-row order), and the line
    fields in micro-units (NA_ID where not applicable).
    """

    rows: np.ndarray
    failure: np.ndarray
    row: np.ndarray
    kind: np.ndarray
    rule_id: np.ndarray
    amount: np.ndarray
    base: np.ndarray
    rate: np.ndarray
    tier: np.ndarray
    multiplier: np.ndarray
    reason: np.ndarray


class Rates:
    """Looks up conversion factors and remembers every needed (currency, day) that is missing: one per chunk, shared
    by the plans' own amounts and the rebates, and raised once at the end (``raise_missing``) with every pair."""

    def __init__(self, data: Prepared) -> None:
        self.table = data.rates
        self.missing: set[tuple[int, int]] = set()

    def factors(
        self, currency: np.ndarray, days: np.ndarray, trade: np.ndarray, needed: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """usd_rate of ``currency`` on each row's trade's day (``days[trade]``) where ``needed`` (1 elsewhere), and
        the scale of the result. Only the needed rows are looked up."""
        if not needed.any():
            return np.ones(len(currency), dtype=np.int64), 0
        where = np.flatnonzero(needed)
        rates, found = self.table.lookup(currency[where], days[trade[where]])
        if not found.all():
            lost = where[~found]
            pairs = np.unique(np.stack([currency[lost], days[trade[lost]]], axis=1), axis=0)
            self.missing.update((int(c), int(d)) for c, d in pairs)
        one = pow10(self.table.scale)
        factors = np.full(len(currency), one, dtype=object if rates.dtype == object else np.int64)
        factors[where] = np.where(found, rates, one)
        return factors, self.table.scale

    def raise_missing(self) -> None:
        if self.missing:
            names = self.table.currencies
            raise MissingRates((str(names[c]), day_to_date(d)) for c, d in self.missing)


def _leg_notional(data: Prepared, rates: Rates, trade: np.ndarray, leg: str) -> np.ndarray:
    """ROUNDING POINT 1: each trade's USD notional of one leg ("open" or "close"), in micro-USD."""
    trades = data.trades
    price = trades.decimals(f"{leg}_price", trade)
    day = trades.open_day if leg == "open" else trades.close_day
    base_usd = trades.base_usd[trade]
    cross = ~base_usd & ~trades.quote_usd[trade]
    price_factor = np.where(base_usd, pow10(price.scale), price.ints)
    fx, fx_scale = rates.factors(trades.quote[trade], day, trade, cross)
    product = mul_all(trades.lots[trade], trades.contract[trade], price_factor, fx)
    scale = LOTS_PLACES + trades.contract_scale + price.scale + fx_scale
    return to_int64(rescale(product, scale, MICRO), what="notional")


def _where(mask: np.ndarray) -> slice | np.ndarray:
    """Index of the True entries: a slice (a view, no gather) when all are True, as they usually are."""
    return slice(None) if mask.all() else np.flatnonzero(mask)


@dataclass
class _Block:
    """The results of one kind while they are computed (one entry per chain row with a rule of that kind)."""

    row: np.ndarray
    rule: np.ndarray
    amount: np.ndarray
    base: np.ndarray
    rate: np.ndarray
    tier: np.ndarray
    multiplier: np.ndarray
    reason: np.ndarray

    def view(self, part: slice) -> _Block:
        """The same arrays restricted to ``part`` (views: writing to the part writes to the whole)."""
        return _Block(**{name: getattr(self, name)[part] for name in self.__dataclass_fields__})


def _shares(data: Prepared, rates: Rates, out: _Block, sel: np.ndarray | slice, rule_type: int) -> None:
    """spread_share and commission_share rows of ``out`` (selected by ``sel``)."""
    trades = data.trades
    pct = data.rules.pct[out.rule[sel]]
    out.rate[sel] = pct
    t = data.chains.trade[out.row[sel]]
    sel = np.arange(len(out.row))[sel]
    distinct, position = distinct_positions(trades.n, t)
    if rule_type == SPREAD_SHARE:
        spread = trades.decimals("spread_pips", distinct)
        missing = spread.na[position]
        out.reason[sel[missing]] = REASON_CODE["no_spread"]
        if missing.any():
            sel, pct, t = sel[~missing], pct[~missing], t[~missing]
            distinct, position = distinct_positions(trades.n, t)
        if not len(sel):
            return
        fx, fx_scale = rates.factors(trades.quote[distinct], trades.close_day, distinct, ~trades.quote_usd[distinct])
        value = mul_all(
            trades.lots[distinct],
            spread.ints[~spread.na],
            trades.contract[distinct],
            trades.pip[distinct],
            fx,
        )
        scale = LOTS_PLACES + spread.scale + trades.contract_scale + trades.pip_scale + fx_scale
    else:
        commission = trades.decimals("commission", distinct)
        currency = trades.account_currency[distinct]
        fx, fx_scale = rates.factors(currency, trades.close_day, distinct, currency != data.vocabularies.usd)
        value = mul(np.abs(commission.ints), fx)
        scale = commission.scale + fx_scale
    value, scale = reduce_scale(value, scale)
    per_row = value[position]
    # pct / 100 at scale 6: value x pct / 10**(scale + 6 + 2) gives whole USD, x 10**6 for micro-USD.
    out.amount[sel] = to_int64(div_round(mul(per_row, pct), pow10(scale + 2)), what="share amount")
    out.base[sel] = to_int64(rescale(per_row, scale, MICRO), what="share base")


def _notional(data: Prepared, rates: Rates, t: np.ndarray, both_legs: np.ndarray) -> np.ndarray:
    """Per row, the USD notional of the counted legs (the open leg only where ``both_legs``), in micro-USD."""
    n = data.trades.n
    distinct, position = distinct_positions(n, t)
    notional = _leg_notional(data, rates, distinct, "close")[position]
    if both_legs.any():
        open_distinct, open_position = distinct_positions(n, t[both_legs])
        notional[both_legs] += _leg_notional(data, rates, open_distinct, "open")[open_position]
    return notional


def _rated(data: Prepared, context: TierContext, rates: Rates, out: _Block, sel: np.ndarray | slice) -> None:
    """per_lot and per_million rows of ``out`` (selected by ``sel``), with tiers."""
    trades, chains, plans, rules = data.trades, data.chains, data.plans, data.rules
    row = out.row[sel]
    t = chains.trade[row]
    p = chains.plan[row]
    n = len(row)
    plan_currency = plans.currency[p]
    converted = plan_currency != data.vocabularies.usd
    fx, fx_scale = rates.factors(plan_currency, trades.close_day, t, converted)
    rule_rate = rules.rate[out.rule[sel]]
    lots = trades.lots[t]
    is_million = rules.type[out.rule[sel]] == PER_MILLION

    tiered = plans.n_tiers[p] > 0
    marginal = tiered & plans.marginal[p]
    split = marginal & (chains.level[row] == 1)
    volume = np.zeros(n, dtype=np.int64)
    if marginal.any():
        volume[marginal] = context.lots_before(
            chains.partner_id[row[marginal]], t[marginal], trades.close_ns, trades.ticket, trades.trade_id
        )
    retro = tiered & ~marginal
    if retro.any():
        volume[retro] = context.period_lots(chains.partner_id[row[retro]])

    eff = np.zeros(n, dtype=np.int64)
    band = np.full(n, NA, dtype=np.int64)
    mult = np.full(n, pow10(CONFIG_PLACES), dtype=np.int64)
    banded = np.flatnonzero(tiered & ~split)
    if len(banded):
        band[banded] = bands_of(plans, p[banded], volume[banded])
        mult[banded] = plans.tier_multiplier[p[banded], band[banded]]
    amount = np.zeros(n, dtype=np.int64)
    notional = np.zeros(n, dtype=np.int64)
    if is_million.any():
        million = np.flatnonzero(is_million)
        notional[million] = _notional(data, rates, t[million], plans.both_legs[p[million]])

    single = _where(~split)
    eff[single] = to_int64(
        eff_rates(rule_rate[single], fx[single], fx_scale, mult[single], converted[single]), what="eff_rate"
    )
    # Per lot: lots (scale 4) x eff_rate (scale 6) → scale 10 → micro-USD.
    by_lot = _where(~split & ~is_million)
    amount[by_lot] = to_int64(div_round(mul(lots[by_lot], eff[by_lot]), pow10(LOTS_PLACES)), what="amount")
    # Per million: notional (micro-USD) / 1e6 x eff_rate (scale 6) → divide by 10**12 for micro-USD.
    by_million = np.flatnonzero(~split & is_million)
    if len(by_million):
        amount[by_million] = to_int64(
            div_round(mul(notional[by_million], eff[by_million]), pow10(2 * MICRO)), what="amount"
        )
    m = np.flatnonzero(split)
    if len(m):
        pieces = marginal_split(plans, p[m], volume[m], lots[m], rule_rate[m], fx[m], fx_scale, converted[m])
        band[m] = pieces.start_band
        eff[m] = to_int64(div_round(pieces.weighted_rate, lots[m]), what="weighted rate")
        mult[m] = to_int64(div_round(pieces.weighted_multiplier, lots[m]), what="weighted multiplier")
        lot_pieces = ~is_million[m]
        # Sum of exact pieces, rounded once: sum(piece x eff) is at scale 10 (per lot) ...
        amount[m[lot_pieces]] = to_int64(div_round(pieces.weighted_rate[lot_pieces], pow10(LOTS_PLACES)), what="amount")
        # ... and per million, notional x sum(piece x eff) / lots / 1e6 (each piece carries its share of the
        # notional), rounded once.
        million_pieces = ~lot_pieces
        amount[m[million_pieces]] = to_int64(
            div_round(
                mul(notional[m[million_pieces]], pieces.weighted_rate[million_pieces]),
                mul(lots[m[million_pieces]], pow10(2 * MICRO)),
            ),
            what="amount",
        )
    out.amount[sel] = amount
    out.rate[sel] = eff
    out.tier[sel] = band
    out.multiplier[sel] = mult
    out.base[sel] = np.where(is_million, notional, lots * pow10(MICRO - LOTS_PLACES))


def evaluate(data: Prepared, context: TierContext, rows: np.ndarray, rates: Rates) -> Evaluation:
    """Apply each chain row's own plan to its trade (rows must have no trade-level failure); the conversion rates it
    needs and misses are noted in ``rates`` (the caller raises them)."""
    trades, chains, plans, rules = data.trades, data.chains, data.plans, data.rules
    trade = chains.trade[rows]
    plan = chains.plan[rows]
    failure = plan_failures(trades, trade, plan, plans)
    passing = np.flatnonzero(failure == NA)
    trade_class, classes = trade_classes(trades)
    chosen = select_rules(plan[passing], trade_class[trade[passing]], classes, rules, n_plans=len(plans.plan_id))
    failure[passing[(chosen < 0).all(axis=1)]] = REASON_CODE["no_rule"]

    picks = [np.flatnonzero(chosen[:, kind] >= 0) for kind in (0, 1)]
    n = sum(len(pick) for pick in picks)
    # One set of arrays for both kinds (volume rows first, then spread rows); each kind works on a view.
    results = _Block(
        row=np.concatenate([rows[passing[pick]] for pick in picks]),
        rule=np.concatenate([chosen[pick, kind] for kind, pick in enumerate(picks)]),
        amount=np.zeros(n, dtype=np.int64),
        base=np.full(n, NA_ID, dtype=np.int64),
        rate=np.zeros(n, dtype=np.int64),
        tier=np.full(n, NA, dtype=np.int64),
        multiplier=np.full(n, NA_ID, dtype=np.int64),
        reason=np.full(n, NA, dtype=np.int64),
    )
    kind = np.repeat(np.array([0, 1], dtype=np.int64), [len(pick) for pick in picks])
    start = 0
    for pick in picks:
        out = results.view(slice(start, start + len(pick)))
        start += len(pick)
        rule_type = rules.type[out.rule]
        rated = (rule_type == PER_LOT) | (rule_type == PER_MILLION)
        if rated.any():
            _rated(data, context, rates, out, _where(rated))
        for share_type in (SPREAD_SHARE, COMMISSION_SHARE):
            shared = rule_type == share_type
            if shared.any():
                _shares(data, rates, out, _where(shared), share_type)
    return Evaluation(
        rows=rows,
        failure=failure,
        row=results.row,
        kind=kind,
        rule_id=rules.rule_id[results.rule],
        amount=results.amount,
        base=results.base,
        rate=results.rate,
        tier=results.tier,
        multiplier=results.multiplier,
        reason=results.reason,
    )
