"""Hypothesis strategies for engine inputs: small worlds that hit the edges (ties, bands, boundaries, big numbers)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
from hypothesis import strategies as st

from commissions.engine import EngineInputs
from tests.engine import builders as b

D = Decimal
DAYS = (dt.date(2024, 3, 14), dt.date(2024, 3, 15))
T0 = pd.Timestamp("2024-03-15T10:00:00Z")
INSTRUMENT_IDS = tuple(b.INSTRUMENTS)
# Currencies whose rates trades can need: quotes of crosses and USD-based pairs, account and plan currencies.
RATE_CURRENCIES = ("EUR", "GBP", "JPY")


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=D(low), max_value=D(high), places=places, allow_nan=False, allow_infinity=False)


def lots() -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.sampled_from([D("0.01"), D("0.1"), D("0.5"), D("1"), D("1.5"), D("2.25"), D("3")]),
        decimals("0.0001", "5", 4),
        decimals("100", "9999.9999", 4),  # big enough to push products beyond int64
    )


def percents() -> st.SearchStrategy[Decimal]:
    return st.one_of(st.sampled_from([D(0), D(10), D(20), D(30), D(50), D(100)]), decimals("0", "100", 4))


def per_lot_rates() -> st.SearchStrategy[Decimal]:
    return st.one_of(st.sampled_from([D(0), D(1), D(5), D(7), D(10)]), decimals("0", "20", 6))


@st.composite
def trade_rows(draw: st.DrawFn, n: int, accounts: list[dict]) -> list[dict]:
    rows = []
    for trade_id in range(1, n + 1):
        instrument_id = (
            draw(st.one_of(st.sampled_from(INSTRUMENT_IDS), st.just(None)))
            if draw(st.integers(0, 19)) == 0
            else draw(st.sampled_from(INSTRUMENT_IDS))
        )
        pip, price = b.INSTRUMENTS.get(instrument_id, b.INSTRUMENTS[1])[4:6]
        account = draw(st.sampled_from(accounts))
        # A few distinct close instants so that equal close times (ticket order) happen often.
        close = T0 + pd.Timedelta(seconds=draw(st.sampled_from([0, 0, 30, 60, 3600])))
        held = draw(st.sampled_from([0, 59, 60, 61, 120, 3600]))
        points_moved = draw(st.sampled_from([0, 3, 5, 10, 25, 200]))
        direction = draw(st.sampled_from([1, -1]))
        open_price = price + draw(st.sampled_from([D(0), pip / 10, pip * 3]))
        close_price = open_price + direction * points_moved * pip / 10
        spread = draw(st.one_of(st.none(), st.sampled_from([D(0), D("1.2"), D("0.35")]), decimals("0", "3", 4)))
        rows.append(
            b.trade(
                trade_id,
                instrument_id=instrument_id,
                ticket=draw(st.sampled_from([10, 20, 30])) * 100 + trade_id,
                account_id=account["account_id"],
                account_group=account["group"],
                account_currency=account["currency"],
                earns_commission=account["earns"],
                status=draw(st.sampled_from(["closed"] * 9 + ["cancelled"])),
                lots=draw(lots()),
                open_time=close - pd.Timedelta(seconds=held),
                close_time=close,
                open_price=open_price,
                close_price=close_price,
                commission=-draw(st.one_of(st.sampled_from([D(0), D("7"), D("3.5")]), decimals("0", "50", 6))),
                spread_pips=spread,
                open_day=draw(st.sampled_from(DAYS)),
                close_day=draw(st.sampled_from(DAYS)),
            )
        )
    return rows


@st.composite
def plan_rows(draw: st.DrawFn, n: int) -> list[dict]:
    plans = []
    for plan_id in range(1, n + 1):
        tiers = ()
        if draw(st.integers(0, 2)):
            bounds = sorted(draw(st.sets(st.sampled_from([D("0.5"), D(1), D("2.5"), D(4), D(100)]), max_size=3)))
            multipliers = draw(
                st.lists(
                    st.one_of(st.sampled_from([D(1), D("1.2"), D("1.5"), D("0.5")]), decimals("0", "3", 6)),
                    min_size=len(bounds) + 1,
                    max_size=len(bounds) + 1,
                )
            )
            tiers = tuple(zip([D(0), *bounds], multipliers, strict=True))
        plans.append(
            b.plan(
                plan_id,
                currency=draw(st.sampled_from(["USD", "USD", "EUR"])),
                both_legs=draw(st.booleans()),
                min_hold_seconds=draw(st.sampled_from([None, None, None, 0, 60, 120])),
                min_points=draw(st.sampled_from([None, None, None, D(0), D(5), D("10.5")])),
                tier_mode=draw(st.sampled_from(["retroactive", "marginal"])),
                tiers=tiers,
            )
        )
    return plans


@st.composite
def rule_rows(draw: st.DrawFn, plans: list[dict]) -> list[dict]:
    rules = []
    rule_id = 1
    for plan in plans:
        if draw(st.integers(0, 3)):
            # Most plans have a catch-all per-lot rule, as real plans do.
            rules.append(b.rule(rule_id, plan["plan_id"], "per_lot", rate=draw(per_lot_rates()), priority=3))
            rule_id += 1
        for _ in range(draw(st.integers(0, 5))):
            rule_type = draw(st.sampled_from(["per_lot", "per_lot", "per_million", "spread_share", "commission_share"]))
            target = draw(st.sampled_from(["symbol", "group", "all", "all"]))
            instrument_id = draw(st.sampled_from(INSTRUMENT_IDS)) if target == "symbol" else None
            group = (
                draw(st.sampled_from(["forex_major", "forex_minor", "metals", "indices"]))
                if target == "group"
                else None
            )
            rate = None
            pct = None
            if rule_type == "per_lot":
                rate = draw(per_lot_rates())
            elif rule_type == "per_million":
                rate = draw(st.one_of(st.sampled_from([D(1), D(10), D(25)]), decimals("0", "60", 6)))
            else:
                pct = draw(percents())
            rules.append(
                b.rule(
                    rule_id,
                    plan["plan_id"],
                    rule_type,
                    rate=rate,
                    pct=pct,
                    instrument_id=instrument_id,
                    symbol_group=group,
                    account_group=draw(st.sampled_from([None, None, "vip", "standard"])),
                    priority=draw(st.integers(1, 3)),
                )
            )
            rule_id += 1
    return rules


@st.composite
def engine_worlds(
    draw: st.DrawFn, models: tuple[str, ...] = ("differential", "cascade", "override"), max_trades: int = 10
) -> dict:
    """A dict of row lists (trades, chains, partners, programs, plans, rules, rates, rebates)."""
    accounts = [
        {
            "account_id": account_id,
            "group": draw(st.sampled_from(["standard", "vip", None])),
            "currency": draw(st.sampled_from(["USD", "USD", "EUR"])),
            "earns": draw(st.sampled_from([True] * 9 + [False])),
        }
        for account_id in range(100, 100 + draw(st.integers(1, 4)))
    ]
    trades = draw(trade_rows(draw(st.integers(1, max_trades)), accounts))
    programs = [
        b.program(
            program_id,
            model=draw(st.sampled_from(models)),
            max_depth=draw(st.integers(1, 6)),
            shares=draw(st.lists(percents(), max_size=3)),
            override_pct=draw(st.lists(percents(), max_size=4)),
        )
        for program_id in (1, 2)
    ]
    n_partners = draw(st.integers(1, 7))
    partners = [
        b.partner(
            partner_id, program_id=draw(st.sampled_from([1, 2])), active=draw(st.sampled_from([True] * 5 + [False]))
        )
        for partner_id in range(1, n_partners + 1)
    ]
    plans = draw(plan_rows(draw(st.integers(1, 4))))
    rules = draw(rule_rows(plans))
    plan_ids = [p["plan_id"] for p in plans]
    # A partner's plan is usually the same on every trade (as on one period's dates), sometimes none.
    partner_plan = {
        p["partner_id"]: draw(st.sampled_from(plan_ids)) if draw(st.integers(0, 9)) else None for p in partners
    }
    chains = []
    for trade in trades:
        if draw(st.integers(0, 9)) == 0:
            continue  # no IB
        length = draw(st.integers(1, min(6, n_partners)))
        members = draw(st.permutations([p["partner_id"] for p in partners]))[:length]
        rows = []
        for partner_id in members:
            plan_id = partner_plan[partner_id] if draw(st.integers(0, 14)) else draw(st.sampled_from([*plan_ids, None]))
            rows.append((partner_id, plan_id))
        for row in b.chain(trade["trade_id"], rows):
            # Terms are dated: now and then a level's status or program terms at this trade's close time differ
            # from the partner's usual ones.
            if draw(st.integers(0, 14)) == 0:
                row["active"] = draw(st.booleans())
            if draw(st.integers(0, 14)) == 0:
                row["program_id"] = draw(st.sampled_from([1, 2]))
            chains.append(row)
    rates = []
    for currency in RATE_CURRENCIES:
        for day in DAYS:
            value = {
                "EUR": draw(st.sampled_from([D("1.085"), D("1.0849999"), D("1.0851234567")])),
                "GBP": draw(st.sampled_from([D("1.25"), D("1.2655"), D("1.265512345678")])),
                "JPY": draw(st.sampled_from([D("0.0066666"), D("0.006666666667")])),
            }[currency]
            rates.append(b.rate(currency, value, day))
    rebates = []
    for partner in partners:
        if draw(st.integers(0, 3)) == 0:
            rebates += draw(rebate_stretches(partner["partner_id"], None))
        if draw(st.integers(0, 4)) == 0:
            account = draw(st.sampled_from(accounts))["account_id"]
            rebates += draw(rebate_stretches(partner["partner_id"], account))
    return {
        "trades": trades,
        "chains": chains,
        "partners": partners,
        "programs": programs,
        "plans": plans,
        "rules": rules,
        "rates": rates,
        "rebates": rebates,
    }


@st.composite
def rebate_stretches(draw, partner_id: int, account_id: int | None) -> list[dict]:
    """One rebate key's stretches: in force throughout, or changing terms, ending or starting at an instant among
    the trades' close times (a trade at that instant falls under the new stretch)."""
    at = (T0 + pd.Timedelta(seconds=draw(st.sampled_from([0, 30, 45, 3600])))).to_pydatetime()
    shape = draw(st.sampled_from(["always", "always", "changes", "ends", "starts"]))
    if shape == "always":
        return [b.rebate(partner_id, account_id, **draw(rebate_terms()))]
    before = b.rebate(partner_id, account_id, **draw(rebate_terms()), valid_to=at)
    after = b.rebate(partner_id, account_id, **draw(rebate_terms()), valid_from=at)
    return {"changes": [before, after], "ends": [before], "starts": [after]}[shape]


def rebate_terms() -> st.SearchStrategy[dict]:
    return st.one_of(
        st.builds(dict, pct=percents()),
        st.builds(dict, per_lot=st.one_of(st.sampled_from([D(1), D(2)]), decimals("0", "10", 6))),
    )


def inputs_of(world: dict) -> EngineInputs:
    return b.make_inputs(**world)
