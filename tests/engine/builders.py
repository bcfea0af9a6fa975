"""Small builders for engine inputs in tests: sensible defaults, override what the test is about."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import pandas as pd

from commissions.engine.schema import REBATE_ALWAYS, REBATE_OPEN_END, EngineInputs, build_frame

D = Decimal
DAY = dt.date(2024, 3, 15)

INSTRUMENTS = {
    # instrument_id: (symbol_group, base, quote, contract_size, pip_size, typical price, quote digits)
    1: ("forex_major", "EUR", "USD", D("100000"), D("0.0001"), D("1.08550"), 5),
    2: ("forex_major", "GBP", "USD", D("100000"), D("0.0001"), D("1.21556"), 5),
    3: ("forex_major", "USD", "JPY", D("100000"), D("0.01"), D("150.250"), 3),
    4: ("forex_minor", "EUR", "GBP", D("100000"), D("0.0001"), D("0.85500"), 5),
    5: ("metals", "XAU", "USD", D("100"), D("0.01"), D("2150.55"), 2),
    6: ("indices", "US30", "USD", D("1"), D("1"), D("38500.5"), 1),
}


def trade(trade_id: int = 1, *, instrument_id: int | None = 1, **overrides) -> dict:
    """A closed 1-lot trade held one hour on ``DAY``, client commission -7 USD, spread 1.2 pips."""
    group, base, quote, contract, pip, price, digits = INSTRUMENTS.get(instrument_id, INSTRUMENTS[1])
    row = {
        "trade_id": trade_id,
        "ticket": 1000 + trade_id,
        "account_id": 100,
        "account_group": "standard",
        "account_currency": "USD",
        "earns_commission": True,
        "status": "closed",
        "instrument_id": instrument_id,
        "symbol_group": group if instrument_id is not None else None,
        "base": base if instrument_id is not None else None,
        "quote": quote if instrument_id is not None else None,
        "contract_size": contract if instrument_id is not None else None,
        "pip_size": pip if instrument_id is not None else None,
        "digits": digits if instrument_id is not None else None,
        "lots": D("1"),
        "open_time": pd.Timestamp("2024-03-15T10:00:00Z") + pd.Timedelta(seconds=trade_id),
        "close_time": pd.Timestamp("2024-03-15T11:00:00Z") + pd.Timedelta(seconds=trade_id),
        "open_price": price,
        "close_price": price + pip * 20,
        "commission": D("-7.00"),
        "spread_pips": D("1.2"),
        "open_day": DAY,
        "close_day": DAY,
    }
    row.update(overrides)
    return row


def program(
    program_id: int = 1,
    model: str = "differential",
    max_depth: int = 10,
    shares: Iterable[object] = (),
    override_pct: Iterable[object] = (),
) -> dict:
    return {
        "program_id": program_id,
        "model": model,
        "max_depth": max_depth,
        "shares": tuple(D(str(s)) for s in shares),
        "override_pct": tuple(D(str(s)) for s in override_pct),
    }


def plan(
    plan_id: int,
    *,
    currency: str = "USD",
    both_legs: bool = False,
    min_hold_seconds: int | None = None,
    min_points: object = None,
    tier_mode: str = "retroactive",
    tiers: Iterable[tuple[object, object]] = (),
) -> dict:
    return {
        "plan_id": plan_id,
        "currency": currency,
        "both_legs": both_legs,
        "min_hold_seconds": min_hold_seconds,
        "min_points": None if min_points is None else D(str(min_points)),
        "tier_mode": tier_mode,
        "tiers": tuple((D(str(a)), D(str(m))) for a, m in tiers),
    }


def rule(
    rule_id: int,
    plan_id: int,
    type: str = "per_lot",
    *,
    rate: object = None,
    pct: object = None,
    instrument_id: int | None = None,
    symbol_group: str | None = None,
    account_group: str | None = None,
    priority: int = 100,
) -> dict:
    return {
        "rule_id": rule_id,
        "plan_id": plan_id,
        "type": type,
        "instrument_id": instrument_id,
        "symbol_group": symbol_group,
        "account_group": account_group,
        "rate": None if rate is None else D(str(rate)),
        "pct": None if pct is None else D(str(pct)),
        "priority": priority,
    }


def chain(trade_id: int, partner_plans: list[tuple[int, int | None]]) -> list[dict]:
    """Chain rows for ``trade_id``: [(partner_id, plan_id), ...] from level 1 upwards; each level's program terms
    and status come from ``make_inputs``' partners unless a row states its own."""
    return [
        {"trade_id": trade_id, "level": level, "partner_id": partner, "plan_id": plan_id}
        for level, (partner, plan_id) in enumerate(partner_plans, start=1)
    ]


def partner(partner_id: int, program_id: int = 1, active: bool = True) -> dict:
    """A partner's program terms and status, given to every chain row of it that states none of its own."""
    return {"partner_id": partner_id, "active": active, "program_id": program_id}


def with_partner_terms(chains: Iterable[dict], partners: Iterable[dict]) -> list[dict]:
    """Chain rows with ``program_id`` and ``active`` filled from ``partners`` (default program 1, active)."""
    by_id = {p["partner_id"]: p for p in partners}
    rows = []
    for row in chains:
        terms = by_id.get(row["partner_id"], {"program_id": 1, "active": True})
        rows.append({"program_id": terms["program_id"], "active": terms["active"], **row})
    return rows


def rate(currency: str, usd_rate: object, day: dt.date = DAY) -> dict:
    return {"currency": currency, "day": day, "usd_rate": D(str(usd_rate))}


def rebate(
    partner_id: int,
    account_id: int | None = None,
    *,
    pct: object = None,
    per_lot: object = None,
    valid_from: dt.datetime = REBATE_ALWAYS,
    valid_to: dt.datetime = REBATE_OPEN_END,
) -> dict:
    return {
        "partner_id": partner_id,
        "account_id": account_id,
        "pct": None if pct is None else D(str(pct)),
        "per_lot": None if per_lot is None else D(str(per_lot)),
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


def make_inputs(
    *,
    trades: Iterable[dict],
    chains: Iterable[dict] = (),
    partners: Iterable[dict] = (),
    programs: Iterable[dict] = (),
    plans: Iterable[dict] = (),
    rules: Iterable[dict] = (),
    rates: Iterable[dict] = (),
    rebates: Iterable[dict] = (),
) -> EngineInputs:
    return EngineInputs(
        trades=build_frame("trades", trades),
        trade_chains=build_frame("trade_chains", with_partner_terms(chains, partners)),
        programs=build_frame("programs", programs),
        plans=build_frame("plans", plans),
        rules=build_frame("rules", rules),
        rates=build_frame("rates", rates),
        rebates=build_frame("rebates", rebates),
    )
