"""Realistic generated engine inputs for benchmarks and tests (``generate_engine_inputs``).

Units: as ``schema`` (Decimal lots with 2 places, prices with the instrument's digits, USD rates with 6 places,
tz-aware UTC times, server days = UTC+2 dates). The data is deterministic for a given seed (numpy's PCG64).

Shape: a partner forest of ``chain_depth`` layers (the top layer first, each partner below has a parent in the
layer above; accounts belong to bottom-layer partners, so every chain has exactly ``chain_depth`` levels). Upper
layers have richer plans, as in a real differential network. About 1 % of partners are suspended and 1 % have no
plan; about 1 % of trades are cancelled, 0.5 % have an unresolved symbol, 2 % are on non-earning accounts, some are
held under a minute (plans with ``min_hold_seconds``) and some have no spread markup. Instruments include USD-quoted,
USD-based and cross pairs (so rates are needed), metals and an index with a per-million rule; some accounts are in
EUR (commission shares convert them); one plan is in EUR and one uses marginal tiers. Rounding points: none.
Invariants: every rate any trade could need exists (the generator never triggers ``MissingRates``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from .schema import REBATE_ALWAYS, REBATE_OPEN_END, EngineInputs, build_frame

# symbol: (instrument_id, group, base, quote, contract, pip, price in units of 10**-digits, digits, weight)
_INSTRUMENTS = (
    ("EURUSD", 1, "forex_major", "EUR", "USD", "100000", "0.0001", 108_550, 5, 30),
    ("GBPUSD", 2, "forex_major", "GBP", "USD", "100000", "0.0001", 126_550, 5, 15),
    ("USDJPY", 3, "forex_major", "USD", "JPY", "100000", "0.01", 150_250, 3, 15),
    ("EURGBP", 4, "forex_minor", "EUR", "GBP", "100000", "0.0001", 85_550, 5, 6),
    ("AUDCAD", 5, "forex_minor", "AUD", "CAD", "100000", "0.0001", 89_550, 5, 4),
    ("XAUUSD", 6, "metals", "XAU", "USD", "100", "0.01", 215_055, 2, 20),
    ("US30", 7, "indices", "US30", "USD", "1", "1", 385_005, 1, 10),
)
# usd_rate in millionths (6 places).
_RATES = {"EUR": 1_085_000, "GBP": 1_265_000, "JPY": 6_660, "CAD": 738_000, "AUD": 655_000}
_PER_MILLE = 1000  # probabilities below are per mille, drawn as integers (no floats anywhere)
_SERVER_OFFSET = pd.Timedelta(hours=2)


def _decimals(ints: np.ndarray, places: int) -> np.ndarray:
    """Object array of Decimal = ints / 10**places (exact), converting each distinct value once."""
    codes, uniques = pd.factorize(ints)
    values = np.asarray(uniques, dtype=object) * Decimal(1).scaleb(-places)
    return values[codes]


def _dates(days: np.ndarray) -> np.ndarray:
    codes, uniques = pd.factorize(days)
    epoch = dt.date(1970, 1, 1)
    values = np.array([epoch + dt.timedelta(days=int(d)) for d in uniques], dtype=object)
    return values[codes]


def _plans_and_rules(rng: np.random.Generator, depth: int) -> tuple[list[dict], list[dict]]:
    """One plan family per layer (richer towards the top), plus a marginal-tier plan and a EUR plan."""
    plans, rules = [], []
    rule_id = 1
    tiers = ((Decimal(0), Decimal(1)), (Decimal(50), Decimal("1.1")), (Decimal(500), Decimal("1.25")))
    for layer in range(depth):
        richness = depth - layer  # the top layer (0) is the richest
        for variant in range(2):
            plan_id = layer * 10 + variant + 1
            marginal = variant == 1 and layer % 2 == 0
            plans.append(
                {
                    "plan_id": plan_id,
                    "currency": "EUR" if (variant == 1 and layer == depth - 1) else "USD",
                    "both_legs": variant == 1,
                    "min_hold_seconds": 60 if variant == 0 else None,
                    "min_points": Decimal("0.5") if layer == depth - 1 else None,
                    "tier_mode": "marginal" if marginal else "retroactive",
                    "tiers": tiers if (layer + variant) % 2 == 0 else (),
                }
            )
            base_rate = Decimal(3 + richness) + Decimal(variant) / 2
            plan_rules = [
                ("per_lot", base_rate, None, None, None, None, 100),
                ("per_lot", base_rate * 2, None, "metals", None, None, 100),
                ("per_million", Decimal(20 + richness), None, None, 7, None, 100),
                ("spread_share", None, Decimal(20 + 5 * richness), "forex_major", None, None, 100),
                ("per_lot", base_rate + 1, None, None, None, "vip", 100),
            ]
            if variant == 1:
                plan_rules.append(("commission_share", None, Decimal(30), "forex_minor", None, None, 50))
            for rule_type, rate, pct, group, instrument, account_group, priority in plan_rules:
                rules.append(
                    {
                        "rule_id": rule_id,
                        "plan_id": plan_id,
                        "type": rule_type,
                        "instrument_id": instrument,
                        "symbol_group": group,
                        "account_group": account_group,
                        "rate": rate,
                        "pct": pct,
                        "priority": priority,
                    }
                )
                rule_id += 1
    return plans, rules


def generate_engine_inputs(
    n_trades: int,
    n_partners: int,
    seed: int,
    *,
    model: str = "differential",
    chain_depth: int = 5,
    with_rebates: bool = True,
    start: str = "2024-03-01",
    days: int = 30,
) -> EngineInputs:
    """Generated inputs for one period: ``n_trades`` trades on accounts of ``n_partners`` partners.

    ``model`` is the program of every partner; ``chain_depth`` the number of levels of every chain.
    """
    if n_partners < chain_depth:
        raise ValueError("need at least one partner per layer")
    rng = np.random.default_rng(seed)

    # Partners in layers: sizes grow towards the bottom; each partner below the top has a parent above.
    weights = np.array([2**layer for layer in range(chain_depth)], dtype=np.int64)
    sizes = np.maximum(1, weights * n_partners // weights.sum())
    sizes[-1] += n_partners - sizes.sum()
    layer_of = np.repeat(np.arange(chain_depth), sizes)
    partner_ids = np.arange(1, n_partners + 1, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    parent = np.full(n_partners, -1, dtype=np.int64)
    for layer in range(1, chain_depth):
        lo, hi = starts[layer], starts[layer + 1]
        parent[lo:hi] = rng.integers(starts[layer - 1], starts[layer], size=hi - lo)
    active = rng.integers(0, _PER_MILLE, n_partners) >= 10
    variant = rng.integers(0, 2, size=n_partners)
    plan_of = layer_of * 10 + variant + 1
    no_plan = rng.integers(0, _PER_MILLE, n_partners) < 10

    # Ancestors of every bottom partner: column 0 = itself (level 1), then upwards.
    bottom = np.arange(starts[-2], starts[-1])
    ancestry = np.empty((len(bottom), chain_depth), dtype=np.int64)
    ancestry[:, 0] = bottom
    for level in range(1, chain_depth):
        ancestry[:, level] = parent[ancestry[:, level - 1]]

    n_accounts = max(1, n_trades // 40)
    account_partner = rng.integers(0, len(bottom), size=n_accounts)
    account_currency = np.where(rng.integers(0, _PER_MILLE, n_accounts) < 150, "EUR", "USD").astype(object)
    account_group = np.where(rng.integers(0, _PER_MILLE, n_accounts) < 100, "vip", "standard").astype(object)
    account_earns = rng.integers(0, _PER_MILLE, n_accounts) >= 20

    # Trades.
    cumulative = np.cumsum([row[9] for row in _INSTRUMENTS])
    instrument = np.searchsorted(cumulative, rng.integers(0, cumulative[-1], n_trades), side="right")
    account = rng.integers(0, n_accounts, size=n_trades)
    period_start = pd.Timestamp(start, tz="UTC").value
    span_ns = days * 86_400 * 10**9
    close_ns = period_start + rng.integers(0, span_ns - 10**9, size=n_trades)
    short = rng.integers(0, _PER_MILLE, n_trades) < 50
    hold_s = np.where(short, rng.integers(1, 60, n_trades), rng.integers(60, 86_400, n_trades))
    open_ns = close_ns - hold_s * 10**9
    small = rng.integers(0, _PER_MILLE, n_trades) < 900
    lots_cents = np.where(small, rng.integers(1, 200, n_trades), rng.integers(200, 2000, n_trades))

    ids = np.array([row[1] for row in _INSTRUMENTS], dtype=np.int64)[instrument]
    groups = np.array([row[2] for row in _INSTRUMENTS], dtype=object)[instrument]
    bases = np.array([row[3] for row in _INSTRUMENTS], dtype=object)[instrument]
    quotes = np.array([row[4] for row in _INSTRUMENTS], dtype=object)[instrument]
    contracts = np.array([Decimal(row[5]) for row in _INSTRUMENTS], dtype=object)[instrument]
    pips = np.array([Decimal(row[6]) for row in _INSTRUMENTS], dtype=object)[instrument]
    digits = np.array([row[8] for row in _INSTRUMENTS], dtype=np.int64)[instrument]
    mid = np.array([row[7] for row in _INSTRUMENTS], dtype=np.int64)[instrument]
    # Prices are integers in the instrument's smallest unit: within about 2 % of the instrument's level.
    price_units = mid + (mid * rng.integers(-200, 200, n_trades)) // 10_000
    move_units = rng.integers(-300, 300, size=n_trades) * np.where(digits >= 3, 1, 10)
    open_units = price_units
    close_units = np.maximum(price_units + move_units, 1)
    open_price = np.empty(n_trades, dtype=object)
    close_price = np.empty(n_trades, dtype=object)
    for d in np.unique(digits):
        where = digits == d
        open_price[where] = _decimals(open_units[where], int(d))
        close_price[where] = _decimals(close_units[where], int(d))

    status = np.where(rng.integers(0, _PER_MILLE, n_trades) < 10, "cancelled", "closed").astype(object)
    unresolved = rng.integers(0, _PER_MILLE, n_trades) < 5
    spread_tenths = rng.integers(0, 25, size=n_trades)
    spread = _decimals(spread_tenths, 1)
    spread[rng.integers(0, _PER_MILLE, n_trades) < 100] = None
    commission = _decimals(-(lots_cents * 700 // 100), 2)

    server_days_open = (open_ns + _SERVER_OFFSET.value) // (86_400 * 10**9)
    server_days_close = (close_ns + _SERVER_OFFSET.value) // (86_400 * 10**9)

    def nullable(values: np.ndarray) -> np.ndarray:
        out = values.astype(object).copy()
        out[unresolved] = None
        return out

    trades = pd.DataFrame(
        {
            "trade_id": np.arange(1, n_trades + 1, dtype=np.int64),
            "ticket": rng.permutation(n_trades).astype(np.int64) + 5_000_000,
            "account_id": account + 1,
            "account_group": account_group[account],
            "account_currency": account_currency[account],
            "earns_commission": account_earns[account],
            "status": status,
            "instrument_id": pd.array(np.where(unresolved, 0, ids), dtype="Int64"),
            "symbol_group": nullable(groups),
            "base": nullable(bases),
            "quote": nullable(quotes),
            "contract_size": nullable(contracts),
            "pip_size": nullable(pips),
            "digits": pd.array(np.where(unresolved, None, digits), dtype="Int64"),
            "lots": _decimals(lots_cents, 2),
            "open_time": pd.to_datetime(open_ns, utc=True),
            "close_time": pd.to_datetime(close_ns, utc=True),
            "open_price": open_price,
            "close_price": close_price,
            "commission": commission,
            "spread_pips": spread,
            "open_day": _dates(server_days_open),
            "close_day": _dates(server_days_close),
        }
    )
    trades.loc[unresolved, "instrument_id"] = pd.NA

    # Chains: every trade's account partner and its ancestors, with their plans.
    chain_partners = ancestry[account_partner[account]]  # (trades, depth) partner positions
    trade_ids = np.repeat(trades["trade_id"].to_numpy(), chain_depth)
    positions = chain_partners.reshape(-1)
    plan_ids = pd.array(np.where(no_plan[positions], 0, plan_of[positions]), dtype="Int64")
    plan_ids[no_plan[positions]] = pd.NA
    trade_chains = pd.DataFrame(
        {
            "trade_id": trade_ids,
            "level": np.tile(np.arange(1, chain_depth + 1, dtype=np.int64), n_trades),
            "partner_id": partner_ids[positions],
            "plan_id": plan_ids,
            "program_id": np.ones(len(positions), np.int64),
            "active": active[positions],
        }
    )

    programs = build_frame(
        "programs",
        [
            {
                "program_id": 1,
                "model": model,
                "max_depth": 10,
                "shares": (Decimal(30), Decimal(20)),
                "override_pct": tuple(Decimal(p) for p in ("20", "10", "5", "2.5")),
            }
        ],
    )
    plan_rows, rule_rows = _plans_and_rules(rng, chain_depth)

    day_numbers = np.arange(
        (period_start + _SERVER_OFFSET.value) // (86_400 * 10**9) - 2,
        (period_start + span_ns + _SERVER_OFFSET.value) // (86_400 * 10**9) + 2,
    )
    rate_rows = []
    for currency, level in _RATES.items():
        # A random walk of at most 0.2 % a day.
        steps = level * rng.integers(-20, 21, len(day_numbers)) // 10_000
        units = np.maximum(level + np.cumsum(steps), 1)
        for day, value in zip(_dates(day_numbers), _decimals(units, 6), strict=True):
            rate_rows.append({"currency": currency, "day": day, "usd_rate": value})

    rebate_rows = []
    if with_rebates:
        bottom_ids = partner_ids[bottom]
        for partner_id in bottom_ids[rng.integers(0, _PER_MILLE, len(bottom_ids)) < 200]:
            rebate_rows.append({"partner_id": int(partner_id), "account_id": None, "pct": Decimal(20), "per_lot": None})
        for account_index in np.flatnonzero(rng.integers(0, _PER_MILLE, n_accounts) < 50):
            partner_id = int(partner_ids[bottom[account_partner[account_index]]])
            rebate_rows.append(
                {"partner_id": partner_id, "account_id": int(account_index + 1), "pct": None, "per_lot": Decimal(2)}
            )
    rebate_rows = [{**row, "valid_from": REBATE_ALWAYS, "valid_to": REBATE_OPEN_END} for row in rebate_rows]

    return EngineInputs(
        trades=trades,
        trade_chains=trade_chains,
        programs=programs,
        plans=build_frame("plans", plan_rows),
        rules=build_frame("rules", rule_rows),
        rates=build_frame("rates", rate_rows),
        rebates=build_frame("rebates", rebate_rows),
    )
