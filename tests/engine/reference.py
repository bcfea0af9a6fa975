"""An obviously-correct reference for the commission engine: plain loops over trades and levels, Decimal only.

It implements the rules in commissions/engine/run.py's docstring a second time, written for clarity rather than
speed, and shares nothing with the engine except the input dataclass and the string codes. Every number is a
Decimal computed in a 60-digit context; the rounding points are the documented ones, each through
core.money.round_line (half-up, ties away from zero, 6 places):
  1. each leg's USD notional;  2. eff_rate = rate x plan-currency rate x tier multiplier (a per-lot rebate: its
  amount x the rate of the currency of the plan level 1 earned with);  3. every line amount.
Recorded bases and weighted rates/multipliers are rounded to 6 places for storage only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import pandas as pd

from commissions.engine.schema import EngineInputs, MissingRates
from core.money import round_line

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
MILLION = Decimal(1_000_000)
REFERENCE_COLUMNS = [
    "trade_id",
    "partner_id",
    "account_id",
    "kind",
    "level",
    "rule_id",
    "base",
    "rate",
    "tier",
    "multiplier",
    "amount",
    "currency",
    "reason",
]


def _na(value: object) -> bool:
    return value is None or (not isinstance(value, (tuple, list)) and pd.isna(value))


def _date(value: object) -> object:
    return value.date() if isinstance(value, pd.Timestamp) else value


@dataclass
class Result:
    """One kind's computation at one level: what the rule gives before the hierarchy."""

    kind: str
    rule_id: int
    base: Decimal | None
    rate: Decimal
    tier: int | None
    multiplier: Decimal | None
    amount: Decimal
    reason: str | None


class Reference:
    """The reference computation of one chunk (tier volumes from ``period_inputs``, default the same inputs)."""

    def __init__(self, inputs: EngineInputs, period_inputs: EngineInputs | None = None) -> None:
        self.inputs = inputs
        self.period = period_inputs or inputs
        self.programs = {int(r.program_id): r for r in inputs.programs.itertuples(index=False)}
        self.plans = {int(r.plan_id): r for r in inputs.plans.itertuples(index=False)}
        self.rules_by_plan = defaultdict(list)
        for rule in inputs.rules.itertuples(index=False):
            self.rules_by_plan[int(rule.plan_id)].append(rule)
        self.rates = {(r.currency, _date(r.day)): r.usd_rate for r in inputs.rates.itertuples(index=False)}
        self.rebates = defaultdict(list)
        for r in inputs.rebates.itertuples(index=False):
            account = None if _na(r.account_id) else int(r.account_id)
            self.rebates[(int(r.partner_id), account)].append(r)
        self.chains = defaultdict(list)
        for row in inputs.trade_chains.itertuples(index=False):
            self.chains[int(row.trade_id)].append(row)
        for rows in self.chains.values():
            rows.sort(key=lambda r: int(r.level))
        self.missing: set = set()
        self._tier_volumes()

    # ---------------------------------------------------------------- conversion
    def fx(self, currency: str, day: object) -> Decimal:
        if currency == "USD":
            return ONE
        key = (currency, _date(day))
        if key not in self.rates:
            self.missing.add(key)
            return ONE
        return self.rates[key]

    # ---------------------------------------------------------------- tiers
    def _passes_filters(self, trade: Any, plan: Any) -> str | None:
        if not _na(plan.min_hold_seconds):
            held = trade.close_time - trade.open_time
            if held < pd.Timedelta(seconds=int(plan.min_hold_seconds)):
                return "min_hold"
        if not _na(plan.min_points):
            point = Decimal(10) ** -int(trade.digits)  # the instrument's own price point (its quote digits)
            if abs(trade.close_price - trade.open_price) / point < plan.min_points:
                return "min_points"
        return None

    def _tier_volumes(self) -> None:
        """Each partner's direct tier-eligible trades: (close_time, ticket, trade_id) keys and lots."""
        plans = {int(r.plan_id): r for r in self.period.plans.itertuples(index=False)}
        level1 = {}
        for row in self.period.trade_chains.itertuples(index=False):
            if int(row.level) == 1:
                level1[int(row.trade_id)] = row
        self.direct = defaultdict(list)
        for trade in self.period.trades.itertuples(index=False):
            if trade.status != "closed" or _na(trade.instrument_id) or not trade.earns_commission:
                continue
            chain = level1.get(int(trade.trade_id))
            if chain is None or _na(chain.plan_id):
                continue
            if self._passes_filters(trade, plans[int(chain.plan_id)]) is not None:
                continue
            self.direct[int(chain.partner_id)].append((self.key(trade), trade.lots))

    @staticmethod
    def key(trade: Any) -> tuple[int, int, int]:
        return (trade.close_time.value, int(trade.ticket), int(trade.trade_id))

    def total_volume(self, partner_id: int) -> Decimal:
        return sum((lots for _, lots in self.direct[partner_id]), ZERO)

    def volume_before(self, partner_id: int, trade: Any) -> Decimal:
        key = self.key(trade)
        return sum((lots for k, lots in self.direct[partner_id] if k < key), ZERO)

    @staticmethod
    def band(tiers: Any, volume: Decimal) -> int:
        index = 0
        for i, (from_lots, _) in enumerate(tiers):
            if from_lots <= volume:
                index = i
        return index

    # ---------------------------------------------------------------- one level's own computation
    def select_rules(self, plan_id: int, trade: Any) -> dict:
        chosen = {}
        candidates = []
        for rule in self.rules_by_plan[plan_id]:
            if not _na(rule.instrument_id):
                if int(rule.instrument_id) != int(trade.instrument_id):
                    continue
                specificity = 0
            elif not _na(rule.symbol_group):
                if rule.symbol_group != trade.symbol_group:
                    continue
                specificity = 1
            else:
                specificity = 2
            if not _na(rule.account_group):
                if _na(trade.account_group) or rule.account_group != trade.account_group:
                    continue
                group_rank = 0
            else:
                group_rank = 1
            candidates.append(((specificity, group_rank, int(rule.priority), int(rule.rule_id)), rule))
        for _, rule in sorted(candidates, key=lambda c: c[0]):
            kind = "spread" if rule.type == "spread_share" else "volume"
            chosen.setdefault(kind, rule)
        return chosen

    def evaluate(self, trade: Any, level: int, partner_id: int, plan_id: object) -> str | list[Result]:
        """The level's plan applied to the trade: a failure reason, or one Result per kind with a rule."""
        if _na(plan_id):
            return "no_plan"
        plan = self.plans[int(plan_id)]
        failure = self._passes_filters(trade, plan)
        if failure:
            return failure
        rules = self.select_rules(int(plan_id), trade)
        if not rules:
            return "no_rule"
        results = []
        for kind in ("volume", "spread"):
            if kind in rules:
                results.append(self.compute(trade, level, partner_id, plan, rules[kind]))
        return results

    def notional(self, trade: Any, price: Decimal, day: object) -> Decimal:
        contract = trade.contract_size
        if trade.base == "USD":
            value = trade.lots * contract
        elif trade.quote == "USD":
            value = trade.lots * contract * price
        else:
            value = trade.lots * contract * price * self.fx(trade.quote, day) / self.fx("USD", day)
        return round_line(value)  # rounding point 1

    def compute(self, trade: Any, level: int, partner_id: int, plan: Any, rule: Any) -> Result:
        kind = "spread" if rule.type == "spread_share" else "volume"
        if rule.type in ("spread_share", "commission_share"):
            pct = rule.pct
            if rule.type == "spread_share":
                if _na(trade.spread_pips):
                    return Result(kind, int(rule.rule_id), None, pct, None, None, ZERO, "no_spread")
                pip_value = trade.contract_size * trade.pip_size * self.fx(trade.quote, trade.close_day)
                base = trade.lots * trade.spread_pips * pip_value
            else:
                base = abs(trade.commission) * self.fx(trade.account_currency, trade.close_day)
            return Result(
                kind, int(rule.rule_id), round_line(base), pct, None, None, round_line(base * pct / HUNDRED), None
            )

        fx_plan = self.fx(plan.currency, trade.close_day)
        if rule.type == "per_million":
            base = self.notional(trade, trade.close_price, trade.close_day)
            if plan.both_legs:
                base += self.notional(trade, trade.open_price, trade.open_day)
        else:
            base = trade.lots

        def value_at(eff_rate: Decimal, lots: Decimal) -> Decimal:
            """Unrounded amount of ``lots`` of this trade at ``eff_rate``."""
            if rule.type == "per_lot":
                return lots * eff_rate
            return base * (lots / trade.lots) / MILLION * eff_rate

        tiers = list(plan.tiers)
        if not tiers:
            eff = round_line(rule.rate * fx_plan * ONE)  # rounding point 2
            return Result(kind, int(rule.rule_id), base, eff, None, ONE, round_line(value_at(eff, trade.lots)), None)
        if plan.tier_mode == "marginal" and level == 1:
            start = self.volume_before(partner_id, trade)
            end = start + trade.lots
            total = ZERO
            weighted_rate = ZERO
            weighted_mult = ZERO
            for i, (from_lots, multiplier) in enumerate(tiers):
                upper = tiers[i + 1][0] if i + 1 < len(tiers) else None
                low = max(start, from_lots)
                high = end if upper is None else min(end, upper)
                piece = high - low
                if piece <= 0:
                    continue
                eff = round_line(rule.rate * fx_plan * multiplier)  # rounding point 2, per band
                total += value_at(eff, piece)
                weighted_rate += piece * eff
                weighted_mult += piece * multiplier
            return Result(
                kind,
                int(rule.rule_id),
                base,
                round_line(weighted_rate / trade.lots),
                self.band(tiers, start),
                round_line(weighted_mult / trade.lots),
                round_line(total),
                None,
            )
        if plan.tier_mode == "marginal":
            volume = self.volume_before(partner_id, trade)
        else:
            volume = self.total_volume(partner_id)
        band = self.band(tiers, volume)
        multiplier = tiers[band][1]
        eff = round_line(rule.rate * fx_plan * multiplier)
        return Result(kind, int(rule.rule_id), base, eff, band, multiplier, round_line(value_at(eff, trade.lots)), None)

    # ---------------------------------------------------------------- lines
    def rebate_at(self, partner_id: int, account_id: int | None, at) -> Any:
        """The stretch of (partner, account or None) whose [valid_from, valid_to) holds ``at``, if any."""
        for stretch in self.rebates.get((partner_id, account_id), ()):
            if stretch.valid_from <= at < stretch.valid_to:
                return stretch
        return None

    def line(
        self,
        trade: Any,
        partner_id: int | None,
        kind: str,
        level: int,
        *,
        amount: Decimal = ZERO,
        reason: str | None = None,
        rule_id: int | None = None,
        base: Decimal | None = None,
        rate: Decimal | None = None,
        tier: int | None = None,
        multiplier: Decimal | None = None,
        account_id: int | None = None,
    ) -> dict:
        return {
            "trade_id": int(trade.trade_id),
            "partner_id": partner_id,
            "account_id": account_id,
            "kind": kind,
            "level": level,
            "rule_id": rule_id,
            "base": None if base is None else round_line(base),
            "rate": None if rate is None else round_line(rate),
            "tier": tier,
            "multiplier": None if multiplier is None else round_line(multiplier),
            "amount": round_line(amount),
            "currency": "USD",
            "reason": reason,
        }

    def result_line(
        self, trade: Any, partner_id: int, level: int, result: Result, amount: Decimal, reason: str | None
    ) -> dict:
        return self.line(
            trade,
            partner_id,
            result.kind,
            level,
            amount=amount,
            reason=reason,
            rule_id=result.rule_id,
            base=result.base,
            rate=result.rate,
            tier=result.tier,
            multiplier=result.multiplier,
        )

    def trade_lines(self, trade: Any) -> list[dict]:
        chain = self.chains.get(int(trade.trade_id), [])
        if trade.status == "cancelled":
            trade_reason = "cancelled"
        elif _na(trade.instrument_id):
            trade_reason = "unresolved_symbol"
        elif not trade.earns_commission:
            trade_reason = "account_not_earning"
        else:
            trade_reason = None
        if not chain:
            return [self.line(trade, None, "volume", 1, reason=trade_reason or "no_ib")]

        program = self.programs[int(chain[0].program_id)]  # level 1's program terms at close time
        depth = min(len(chain), int(program.max_depth))
        if program.model == "override":
            depth = min(depth, 1 + len(program.override_pct))
        levels = chain[:depth]
        active = [bool(row.active) for row in levels]  # each level's status at close time
        pids = [int(row.partner_id) for row in levels]

        if trade_reason:
            return [self.line(trade, pid, "volume", k + 1, reason=trade_reason) for k, pid in enumerate(pids)]

        lines = []
        if program.model == "differential":
            bar = {}
            for k, row in enumerate(levels):
                if not active[k]:
                    lines.append(self.line(trade, pids[k], "volume", k + 1, reason="suspended"))
                    continue
                outcome = self.evaluate(trade, k + 1, pids[k], row.plan_id)
                if isinstance(outcome, str):
                    lines.append(self.line(trade, pids[k], "volume", k + 1, reason=outcome))
                    continue
                for result in outcome:
                    below = bar.get(result.kind, ZERO)
                    paid = max(ZERO, result.amount - below)
                    bar[result.kind] = max(below, result.amount)
                    lines.append(self.result_line(trade, pids[k], k + 1, result, paid, result.reason))
        else:
            outcome = self.evaluate(trade, 1, pids[0], levels[0].plan_id)
            if isinstance(outcome, str):
                for k, pid in enumerate(pids):
                    lines.append(
                        self.line(trade, pid, "volume", k + 1, reason="suspended" if not active[k] else outcome)
                    )
            elif program.model == "cascade":
                shares = list(program.shares)
                for result in outcome:
                    received = result.amount
                    pct_in = None
                    for k, pid in enumerate(pids):
                        top = k == len(pids) - 1
                        if top:
                            keep, passed, share = (received if active[k] else ZERO), ZERO, None
                        elif not active[k]:
                            keep, passed, share = ZERO, received, HUNDRED
                        else:
                            share = shares[min(k, len(shares) - 1)] if shares else ZERO
                            passed = round_line(received * share / HUNDRED)
                            keep = received - passed
                        reason = "suspended" if not active[k] else result.reason
                        if k == 0:
                            lines.append(self.result_line(trade, pid, 1, result, keep, reason))
                        else:
                            lines.append(
                                self.line(
                                    trade,
                                    pid,
                                    result.kind,
                                    k + 1,
                                    amount=keep,
                                    reason=reason,
                                    rule_id=result.rule_id,
                                    base=received,
                                    rate=pct_in,
                                )
                            )
                        received, pct_in = passed, share
            else:
                base = sum((result.amount for result in outcome), ZERO)
                for result in outcome:
                    reason = "suspended" if not active[0] else result.reason
                    lines.append(
                        self.result_line(trade, pids[0], 1, result, result.amount if active[0] else ZERO, reason)
                    )
                for k in range(1, len(pids)):
                    pct = program.override_pct[k - 1]
                    amount = round_line(base * pct / HUNDRED) if active[k] else ZERO
                    lines.append(
                        self.line(
                            trade,
                            pids[k],
                            "override",
                            k + 1,
                            amount=amount,
                            base=base,
                            rate=pct,
                            reason=None if active[k] else "suspended",
                        )
                    )

        earned = sum((line["amount"] for line in lines if line["level"] == 1), ZERO)
        rebate = self.rebate_at(pids[0], int(trade.account_id), trade.close_time) or self.rebate_at(
            pids[0], None, trade.close_time
        )
        if rebate is not None and earned > 0:
            if not _na(rebate.pct):
                amount, rate = round_line(earned * rebate.pct / HUNDRED), rebate.pct
            else:
                # DOMAIN.md 4.5: an amount per lot in the plan's currency — the plan level 1 earned with — converted
                # to USD on the close day like a plan's rate (rounding point 2, no multiplier), then capped.
                plan = self.plans[int(levels[0].plan_id)]
                per_lot_usd = round_line(rebate.per_lot * self.fx(plan.currency, trade.close_day))
                amount, rate = min(round_line(per_lot_usd * trade.lots), earned), per_lot_usd
            if amount > 0:
                account = int(trade.account_id)
                lines.append(
                    self.line(trade, None, "rebate", 1, amount=amount, base=earned, rate=rate, account_id=account)
                )
                lines.append(
                    self.line(
                        trade, pids[0], "rebate_funding", 1, amount=-amount, base=earned, rate=rate, account_id=account
                    )
                )
        return lines

    def run(self) -> pd.DataFrame:
        lines = []
        for trade in self.inputs.trades.itertuples(index=False):
            lines.extend(self.trade_lines(trade))
        if self.missing:
            raise MissingRates(self.missing)
        return pd.DataFrame(lines, columns=REFERENCE_COLUMNS)


def reference_lines(inputs: EngineInputs, period_inputs: EngineInputs | None = None) -> pd.DataFrame:
    """The lines for ``inputs`` (tier volumes from ``period_inputs``, default the same inputs), one dict-row each."""
    with localcontext() as context:
        context.prec = 60
        return Reference(inputs, period_inputs).run()
