"""Hand-computed cases: DOMAIN.md's worked examples and one test per documented rule or reason."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from commissions.engine import EngineInputError, EngineInputs, MissingRates, compute_lines, tier_context
from commissions.engine.schema import build_frame
from tests.engine import builders as b
from tests.engine.compare import assert_micros_consistent

D = Decimal


def run(inputs: EngineInputs, context_inputs: EngineInputs | None = None) -> pd.DataFrame:
    source = context_inputs or inputs
    lines = compute_lines(inputs, tier_context(source.trades, source.trade_chains, source.plans))
    assert_micros_consistent(lines)
    return lines


def amounts(lines: pd.DataFrame) -> dict[tuple, Decimal]:
    """{(partner_id or None, kind, level): amount} for every line."""
    out = {}
    for row in lines.itertuples(index=False):
        partner = None if pd.isna(row.partner_id) else int(row.partner_id)
        key = (partner, str(row.kind), int(row.level))
        assert key not in out, f"duplicate line {key}"
        out[key] = row.amount
    return out


def reasons(lines: pd.DataFrame) -> dict:
    return {
        (None if pd.isna(r.partner_id) else int(r.partner_id), str(r.kind), int(r.level)): (
            None if pd.isna(r.reason) else str(r.reason)
        )
        for r in lines.itertuples(index=False)
    }


def two_level(
    model: str = "differential",
    *,
    shares: tuple = (),
    override_pct: tuple = (),
    level1_rate: object = 5,
    level2_rate: object = 7,
    lots: object = 1,
) -> EngineInputs:
    return b.make_inputs(
        trades=[b.trade(1, lots=D(lots))],
        chains=b.chain(1, [(10, 1), (20, 2)]),
        partners=[b.partner(10), b.partner(20)],
        programs=[b.program(model=model, shares=shares, override_pct=override_pct)],
        plans=[b.plan(1), b.plan(2)],
        rules=[b.rule(1, 1, rate=level1_rate), b.rule(2, 2, rate=level2_rate)],
    )


# ---------------------------------------------------------------- DOMAIN.md 4.4 worked examples


def test_differential_master_7_sub_5_pays_sub_5_and_master_2():
    got = amounts(run(two_level("differential", level1_rate=5, level2_rate=7)))
    assert got == {(10, "volume", 1): D("5.000000"), (20, "volume", 2): D("2.000000")}


def test_differential_upline_with_a_lower_rate_earns_nothing_and_the_chain_pays_the_highest():
    got = amounts(run(two_level("differential", level1_rate=7, level2_rate=5)))
    assert got == {(10, "volume", 1): D("7.000000"), (20, "volume", 2): D("0.000000")}


def test_cascade_pot_10_share_30_keeps_7_and_passes_3():
    got = amounts(run(two_level("cascade", shares=[30], level1_rate=10, level2_rate=99)))
    assert got == {(10, "volume", 1): D("7.000000"), (20, "volume", 2): D("3.000000")}


def test_override_10_at_20_percent_pays_2_on_top():
    got = amounts(run(two_level("override", override_pct=[20], level1_rate=10, level2_rate=99)))
    assert got == {(10, "volume", 1): D("10.000000"), (20, "override", 2): D("2.000000")}


# ---------------------------------------------------------------- DOMAIN.md 4.3 tiers


def tier_inputs(mode: str, lots: list[Decimal]) -> EngineInputs:
    trades = [b.trade(i + 1, lots=lot) for i, lot in enumerate(lots)]
    return b.make_inputs(
        trades=trades,
        chains=[row for t in trades for row in b.chain(t["trade_id"], [(10, 1)])],
        partners=[b.partner(10)],
        programs=[b.program()],
        plans=[b.plan(1, tier_mode=mode, tiers=[(0, "1.0"), (100, "1.2"), (500, "1.5")])],
        rules=[b.rule(1, 1, rate=5)],
    )


@pytest.mark.parametrize(
    ("mode", "lots", "total"),
    [
        ("retroactive", [D(150)], D("900")),
        ("retroactive", [D(100), D(50)], D("900")),
        ("marginal", [D(150)], D("800")),
        ("marginal", [D(100), D(50)], D("800")),
        ("marginal", [D(60), D(60), D(30)], D("800")),
    ],
)
def test_tiers_150_lots_at_5_per_lot(mode, lots, total):
    lines = run(tier_inputs(mode, lots))
    assert sum(lines["amount"]) == total


def test_marginal_line_records_start_band_and_weighted_multiplier():
    lines = run(tier_inputs("marginal", [D(60), D(60), D(30)]))
    second = lines[lines.trade_id == 2].iloc[0]
    # 40 lots in band 0 at 5, 20 lots in band 1 at 6: 320 over 60 lots.
    assert second["amount"] == D("320")
    assert second["tier"] == 0
    assert second["multiplier"] == D("1.066667")  # (40 x 1.0 + 20 x 1.2) / 60, rounded for storage
    assert second["rate"] == D("5.333333")
    third = lines[lines.trade_id == 3].iloc[0]
    assert (third["tier"], third["multiplier"], third["amount"]) == (1, D("1.2"), D("180"))


def test_retroactive_tier_applies_the_period_band_to_every_trade():
    lines = run(tier_inputs("retroactive", [D(100), D(50)]))
    assert list(lines.sort_values("trade_id")["amount"]) == [D("600"), D("300")]
    assert set(lines["tier"]) == {1}
    assert set(lines["rate"]) == {D("6")}


def test_marginal_upline_uses_its_own_direct_volume_strictly_before_the_trade():
    # Partner 20 has direct trades 1 (80 lots) and 2 (30 lots, crossing 100); trade 3 of partner 10 closes after
    # both, trade 0 before both. Partner 20 sits above 10 for trades 0 and 3.
    trades = [
        b.trade(1, lots=D(80), close_time=pd.Timestamp("2024-03-15T11:00:00Z")),
        b.trade(2, lots=D(30), close_time=pd.Timestamp("2024-03-15T12:00:00Z")),
        b.trade(3, lots=D(1), close_time=pd.Timestamp("2024-03-15T13:00:00Z")),
        b.trade(4, lots=D(1), close_time=pd.Timestamp("2024-03-15T10:30:00Z")),
    ]
    for trade in trades:
        trade["open_time"] = pd.Timestamp("2024-03-15T09:00:00Z")
    inputs = b.make_inputs(
        trades=trades,
        chains=b.chain(1, [(20, 2)])
        + b.chain(2, [(20, 2)])
        + b.chain(3, [(10, 1), (20, 2)])
        + b.chain(4, [(10, 1), (20, 2)]),
        partners=[b.partner(10), b.partner(20)],
        programs=[b.program()],
        plans=[b.plan(1), b.plan(2, tier_mode="marginal", tiers=[(0, 1), (100, 2)])],
        rules=[b.rule(1, 1, rate=1), b.rule(2, 2, rate=5)],
    )
    lines = run(inputs)
    upline = lines[(lines.partner_id == 20) & (lines.level == 2)].set_index("trade_id")
    assert upline.loc[3, "tier"] == 1 and upline.loc[3, "amount"] == D("9")  # 10 - 1
    assert upline.loc[4, "tier"] == 0 and upline.loc[4, "amount"] == D("4")  # 5 - 1
    direct = lines[lines.level == 1].set_index("trade_id")
    assert direct.loc[2, "amount"] == D("20") * 5 + D("10") * 10  # 30 lots split at 100


# ---------------------------------------------------------------- DOMAIN.md 3 notional and pip value


def single(trade: dict, rule: dict, plan: dict | None = None, rates: tuple | list = ()) -> EngineInputs:
    return b.make_inputs(
        trades=[trade],
        chains=b.chain(trade["trade_id"], [(10, 1)]),
        partners=[b.partner(10)],
        programs=[b.program()],
        plans=[plan or b.plan(1)],
        rules=[rule],
        rates=rates,
    )


def only_line(lines: pd.DataFrame) -> pd.Series:
    assert len(lines) == 1, lines
    return lines.iloc[0]


def test_gbpusd_one_lot_at_1_21556_has_notional_121556():
    line = only_line(
        run(single(b.trade(1, instrument_id=2, close_price=D("1.21556")), b.rule(1, 1, "per_million", rate=1)))
    )
    assert line["base"] == D("121556")
    assert line["amount"] == D("0.121556")


def test_usdjpy_one_lot_has_notional_100000_without_any_rate():
    line = only_line(run(single(b.trade(1, instrument_id=3), b.rule(1, 1, "per_million", rate=25))))
    assert line["base"] == D("100000")
    assert line["amount"] == D("2.5")


def test_cross_pair_notional_converts_the_quote_on_the_close_day_and_rounds_to_micro_usd():
    trade = b.trade(1, instrument_id=4, lots=D("0.37"), close_price=D("0.85501"))
    rates = [b.rate("GBP", "1.2655123", b.DAY), b.rate("GBP", "9", dt.date(2024, 3, 14))]
    line = only_line(run(single(trade, b.rule(1, 1, "per_million", rate=10), rates=rates)))
    exact = D("0.37") * 100000 * D("0.85501") * D("1.2655123")  # 40034.15... with more places
    assert line["base"] == exact.quantize(D("0.000001"))
    assert line["amount"] == (line["base"] * 10 / 1_000_000).quantize(D("0.000001"))


def test_both_legs_adds_the_open_leg_at_the_open_price():
    trade = b.trade(1, instrument_id=2, open_price=D("1.20000"), close_price=D("1.21556"))
    line = only_line(run(single(trade, b.rule(1, 1, "per_million", rate=1), b.plan(1, both_legs=True))))
    assert line["base"] == D("120000") + D("121556")


@pytest.mark.parametrize(("instrument_id", "pip_value"), [(1, D("10.00")), (5, D("1.00"))])
def test_pip_value_eurusd_10_and_xauusd_1(instrument_id, pip_value):
    trade = b.trade(1, instrument_id=instrument_id, spread_pips=D(1))
    line = only_line(run(single(trade, b.rule(1, 1, "spread_share", pct=100))))
    assert line["kind"] == "spread"
    assert line["base"] == pip_value and line["amount"] == pip_value


def test_spread_share_converts_a_non_usd_quote():
    trade = b.trade(1, instrument_id=3, spread_pips=D("1.5"), lots=D(2))  # USDJPY pip value 1000 JPY
    line = only_line(run(single(trade, b.rule(1, 1, "spread_share", pct=40), rates=[b.rate("JPY", "0.0066666")])))
    assert line["base"] == D(2) * D("1.5") * 1000 * D("0.0066666")
    assert line["amount"] == D("7.99992")


def test_commission_share_takes_the_absolute_client_commission_in_usd():
    trade = b.trade(1, account_currency="EUR", commission=D("-7.00"))
    line = only_line(run(single(trade, b.rule(1, 1, "commission_share", pct=50), rates=[b.rate("EUR", "1.085")])))
    assert (line["base"], line["amount"], line["rate"]) == (D("7.595"), D("3.7975"), D("50"))


def test_plan_in_eur_converts_its_rate_to_usd_on_the_close_day():
    line = only_line(
        run(single(b.trade(1), b.rule(1, 1, rate=10), b.plan(1, currency="EUR"), rates=[b.rate("EUR", "1.085")]))
    )
    assert line["rate"] == D("10.85") and line["amount"] == D("10.85") and line["currency"] == "USD"


def test_eff_rate_is_rounded_half_up_before_it_is_multiplied_by_lots():
    # 0.000005 x 1.5 = 0.0000075 → eff_rate 0.000008 (tie away from zero); 3 lots → 0.000024, not 0.0000225.
    plan = b.plan(1, tiers=[(0, "1.5")])
    line = only_line(run(single(b.trade(1, lots=D(3)), b.rule(1, 1, rate="0.000005"), plan)))
    assert line["rate"] == D("0.000008") and line["amount"] == D("0.000024")


def test_line_amount_is_rounded_half_up_once():
    line = only_line(run(single(b.trade(1, lots=D("0.5")), b.rule(1, 1, rate="0.000001"))))
    assert line["amount"] == D("0.000001")  # 0.0000005 rounds up


# ---------------------------------------------------------------- rule selection


def test_rule_precedence_symbol_then_group_then_catch_all_then_account_group_then_priority_then_id():
    rules = [
        b.rule(1, 1, rate=1),
        b.rule(2, 1, rate=2, symbol_group="forex_major"),
        b.rule(3, 1, rate=3, instrument_id=1, priority=9),
        b.rule(4, 1, rate=4, instrument_id=1, priority=5),
        b.rule(5, 1, rate=5, instrument_id=1, account_group="vip", priority=99),
        b.rule(6, 1, rate=6, instrument_id=1, account_group="vip", priority=99),
        b.rule(7, 1, rate=7, instrument_id=2),
    ]

    def chosen(**trade: object) -> int:
        inputs = single(b.trade(1, **trade), rules[0])
        inputs = b.make_inputs(
            trades=[b.trade(1, **trade)],
            chains=b.chain(1, [(10, 1)]),
            partners=[b.partner(10)],
            programs=[b.program()],
            plans=[b.plan(1)],
            rules=rules,
        )
        return int(only_line(run(inputs))["rule_id"])

    assert chosen(account_group="vip") == 5  # symbol + account group; equal priority → lower rule_id
    assert chosen(account_group="standard") == 4  # symbol, generic, lower priority
    assert chosen(instrument_id=4) == 1  # EURGBP: no symbol rule, group forex_minor has none → catch-all
    assert chosen(instrument_id=3) == 2  # USDJPY: forex_major group rule


def test_a_volume_and_a_spread_rule_both_apply():
    inputs = b.make_inputs(
        trades=[b.trade(1, spread_pips=D(2))],
        chains=b.chain(1, [(10, 1)]),
        partners=[b.partner(10)],
        programs=[b.program()],
        plans=[b.plan(1)],
        rules=[b.rule(1, 1, rate=5), b.rule(2, 1, "spread_share", pct=25), b.rule(3, 1, "commission_share", pct=10)],
    )
    got = amounts(run(inputs))
    # commission_share is a volume rule too: per_lot wins the kind only by rule_id (same precedence otherwise).
    assert got == {(10, "volume", 1): D("5"), (10, "spread", 1): D("5")}


# ---------------------------------------------------------------- eligibility reasons


def reasons_for(
    trade: dict,
    *,
    plan: dict | None = None,
    rules: list[dict] | None = None,
    chain: tuple = ((10, 1),),
    active: bool = True,
) -> pd.DataFrame:
    inputs = b.make_inputs(
        trades=[trade],
        chains=b.chain(trade["trade_id"], list(chain)),
        partners=[b.partner(10, active=active), b.partner(20)],
        programs=[b.program()],
        plans=[plan or b.plan(1)],
        rules=rules if rules is not None else [b.rule(1, 1, rate=5)],
    )
    return run(inputs)


@pytest.mark.parametrize(
    ("trade", "reason"),
    [
        (b.trade(1, status="cancelled"), "cancelled"),
        (b.trade(1, instrument_id=None), "unresolved_symbol"),
        (b.trade(1, earns_commission=False), "account_not_earning"),
    ],
)
def test_trade_level_reasons_give_every_level_a_zero_line(trade, reason):
    lines = reasons_for(trade, chain=((10, 1), (20, 1)))
    assert reasons(lines) == {(10, "volume", 1): reason, (20, "volume", 2): reason}
    assert set(lines["amount"]) == {D(0)}


def test_no_ib_is_one_line_without_partner():
    inputs = b.make_inputs(trades=[b.trade(1)], programs=[b.program()], plans=[b.plan(1)])
    lines = run(inputs)
    assert reasons(lines) == {(None, "volume", 1): "no_ib"}


def test_trades_without_any_ib_need_no_program_at_all():
    """A run's chunk of trades whose login has no account: no chain, so no partner, program or plan is loaded."""
    lines = run(b.make_inputs(trades=[b.trade(1), b.trade(2)]))
    assert sorted(lines["trade_id"].tolist()) == [1, 2]
    assert set(lines["reason"]) == {"no_ib"} and set(lines["amount"]) == {D(0)}


def test_no_plan_and_no_rule():
    assert reasons(reasons_for(b.trade(1), chain=((10, None),))) == {(10, "volume", 1): "no_plan"}
    assert reasons(reasons_for(b.trade(1), rules=[b.rule(1, 1, rate=5, instrument_id=2)])) == {
        (10, "volume", 1): "no_rule"
    }


@pytest.mark.parametrize(("held", "reason"), [(59, "min_hold"), (60, None), (61, None)])
def test_min_hold_is_exclusive_at_the_limit(held, reason):
    trade = b.trade(1, open_time=pd.Timestamp("2024-03-15T10:00:00Z"))
    trade["close_time"] = trade["open_time"] + pd.Timedelta(seconds=held)
    lines = reasons_for(trade, plan=b.plan(1, min_hold_seconds=60))
    assert reasons(lines) == {(10, "volume", 1): reason}


@pytest.mark.parametrize(("moved_points", "reason"), [(4, "min_points"), (5, None), (-5, None), (-4, "min_points")])
def test_min_points_compares_the_move_in_points(moved_points, reason):
    # EURUSD point = 0.00001; 5 points = 0.00005.
    trade = b.trade(1, open_price=D("1.08550"), close_price=D("1.08550") + D("0.00001") * moved_points)
    lines = reasons_for(trade, plan=b.plan(1, min_points=5))
    assert reasons(lines) == {(10, "volume", 1): reason}


@pytest.mark.parametrize(
    ("instrument_id", "open_price", "moved", "reason"),
    [
        (5, D("2150.55"), D("0.04"), "min_points"),  # a 2-digit XAUUSD: 0.04 is 4 points (not 40 pip/10 points)
        (5, D("2150.55"), D("0.05"), None),
        (3, D("150.250"), D("0.004"), "min_points"),  # a 3-digit USDJPY: 0.004 is 4 points
        (3, D("150.250"), D("0.005"), None),
        (6, D("38500.5"), D("0.4"), "min_points"),  # a 1-digit US30: 0.4 is 4 points
        (6, D("38500.5"), D("0.5"), None),
    ],
)
def test_min_points_counts_the_instruments_own_point(instrument_id, open_price, moved, reason):
    trade = b.trade(1, instrument_id=instrument_id, open_price=open_price, close_price=open_price + moved)
    lines = reasons_for(trade, plan=b.plan(1, min_points=5))
    assert reasons(lines) == {(10, "volume", 1): reason}


def test_suspended_partner_earns_nothing_and_does_not_raise_the_bar():
    inputs = b.make_inputs(
        trades=[b.trade(1)],
        chains=b.chain(1, [(10, 1), (20, 2), (30, 3)]),
        partners=[b.partner(10), b.partner(20, active=False), b.partner(30)],
        programs=[b.program()],
        plans=[b.plan(1), b.plan(2), b.plan(3)],
        rules=[b.rule(1, 1, rate=5), b.rule(2, 2, rate=9), b.rule(3, 3, rate=8)],
    )
    lines = run(inputs)
    assert amounts(lines) == {(10, "volume", 1): D(5), (20, "volume", 2): D(0), (30, "volume", 3): D(3)}
    assert reasons(lines)[(20, "volume", 2)] == "suspended"


def test_no_spread_keeps_a_zero_spread_line():
    lines = reasons_for(
        b.trade(1, spread_pips=None), rules=[b.rule(1, 1, rate=5), b.rule(2, 1, "spread_share", pct=50)]
    )
    assert reasons(lines) == {(10, "volume", 1): None, (10, "spread", 1): "no_spread"}


def test_levels_beyond_max_depth_get_no_line():
    inputs = b.make_inputs(
        trades=[b.trade(1)],
        chains=b.chain(1, [(10, 1), (20, 1), (30, 1)]),
        partners=[b.partner(10), b.partner(20), b.partner(30)],
        programs=[b.program(max_depth=2)],
        plans=[b.plan(1)],
        rules=[b.rule(1, 1, rate=5)],
    )
    assert set(run(inputs)["level"]) == {1, 2}


# ---------------------------------------------------------------- cascade and override details


def chain_of(
    model: str, actives: list[bool], *, shares: tuple | list = (), override_pct: tuple | list = (), rate: int = 100
) -> EngineInputs:
    partners = [b.partner(10 * (i + 1), active=a) for i, a in enumerate(actives)]
    return b.make_inputs(
        trades=[b.trade(1)],
        chains=b.chain(1, [(p["partner_id"], 1) for p in partners]),
        partners=partners,
        programs=[b.program(model=model, shares=shares, override_pct=override_pct)],
        plans=[b.plan(1)],
        rules=[b.rule(1, 1, rate=rate)],
    )


def test_cascade_last_share_repeats_and_top_keeps_the_rest():
    got = amounts(run(chain_of("cascade", [True] * 4, shares=[50, 10])))
    # 100 → level 1 keeps 50, passes 50; level 2 keeps 45, passes 5; level 3 keeps 4.5, passes 0.5; top keeps 0.5.
    assert got == {
        (10, "volume", 1): D(50),
        (20, "volume", 2): D(45),
        (30, "volume", 3): D("4.5"),
        (40, "volume", 4): D("0.5"),
    }
    assert sum(got.values()) == D(100)


def test_cascade_suspended_middle_passes_everything_and_suspended_top_is_not_paid():
    got = amounts(run(chain_of("cascade", [True, False, True], shares=[30])))
    assert got == {(10, "volume", 1): D(70), (20, "volume", 2): D(0), (30, "volume", 3): D(30)}
    got = amounts(run(chain_of("cascade", [True, True, False], shares=[30])))
    assert got == {(10, "volume", 1): D(70), (20, "volume", 2): D(21), (30, "volume", 3): D(0)}


def test_override_pays_each_listed_level_and_none_beyond_the_list():
    got = amounts(run(chain_of("override", [True, True, False, True], override_pct=[20, 10, 5])))
    assert got == {
        (10, "volume", 1): D(100),
        (20, "override", 2): D(20),
        (30, "override", 3): D(0),
        (40, "override", 4): D(5),
    }
    got = amounts(run(chain_of("override", [True, True, True], override_pct=[20])))
    assert set(got) == {(10, "volume", 1), (20, "override", 2)}


def test_override_base_is_level_one_amount_even_when_level_one_is_suspended():
    got = amounts(run(chain_of("override", [False, True], override_pct=[20])))
    assert got == {(10, "volume", 1): D(0), (20, "override", 2): D(20)}


# ---------------------------------------------------------------- rebates


def rebate_case(rebates: list[dict], lots: int = 2, rate: int = 5) -> EngineInputs:
    return b.make_inputs(
        trades=[b.trade(1, lots=D(lots), account_id=100)],
        chains=b.chain(1, [(10, 1)]),
        partners=[b.partner(10)],
        programs=[b.program()],
        plans=[b.plan(1)],
        rules=[b.rule(1, 1, rate=rate)],
        rebates=rebates,
    )


def test_rebate_percent_credits_the_client_and_debits_the_ib():
    lines = run(rebate_case([b.rebate(10, pct=20)]))
    rebate = lines[lines.kind == "rebate"].iloc[0]
    funding = lines[lines.kind == "rebate_funding"].iloc[0]
    assert rebate["amount"] == D(2) and pd.isna(rebate["partner_id"]) and rebate["account_id"] == 100
    assert funding["amount"] == D(-2) and funding["partner_id"] == 10
    assert rebate["level"] == funding["level"] == 1


def test_account_specific_rebate_beats_the_partner_wide_one_and_per_lot_is_capped():
    lines = run(rebate_case([b.rebate(10, pct=20), b.rebate(10, 100, per_lot=8)]))
    assert lines[lines.kind == "rebate"].iloc[0]["amount"] == D(10)  # 2 lots x 8 = 16, capped at 10 earned
    lines = run(rebate_case([b.rebate(10, pct=20), b.rebate(10, 999, per_lot=8)]))
    assert lines[lines.kind == "rebate"].iloc[0]["amount"] == D(2)


def test_a_rebate_applies_to_trades_closed_during_its_validity():
    """Trades 1..3 close at 11:00:01, :02, :03. The all-clients rebate changes from 10 % to 50 % at :02; the
    account-specific per-lot rebate holds only until :03, after which the all-clients one applies again."""
    change = dt.datetime(2024, 3, 15, 11, 0, 2, tzinfo=dt.UTC)
    end = dt.datetime(2024, 3, 15, 11, 0, 3, tzinfo=dt.UTC)
    inputs = b.make_inputs(
        trades=[b.trade(t, lots=D(2), account_id=100) for t in (1, 2, 3)],
        chains=[row for t in (1, 2, 3) for row in b.chain(t, [(10, 1)])],
        partners=[b.partner(10)],
        programs=[b.program()],
        plans=[b.plan(1)],
        rules=[b.rule(1, 1, rate=5)],
        rebates=[
            b.rebate(10, pct=10, valid_to=change),
            b.rebate(10, pct=50, valid_from=change),
            b.rebate(10, 100, per_lot=1, valid_from=change, valid_to=end),
        ],
    )
    lines = run(inputs)
    rebates = lines[lines.kind == "rebate"].set_index("trade_id")["amount"]
    assert rebates.to_dict() == {1: D(1), 2: D(2), 3: D(5)}  # 10 % of 10; 2 lots x 1; 50 % of 10


def test_overlapping_stretches_of_one_rebate_are_an_input_error():
    at = dt.datetime(2024, 3, 15, 11, tzinfo=dt.UTC)
    inputs = rebate_case([b.rebate(10, pct=10), b.rebate(10, pct=20, valid_from=at)])
    with pytest.raises(EngineInputError, match="stretches overlap"):
        run(inputs)


def test_a_per_lot_rebate_is_in_the_plans_currency_converted_as_its_rates_are():
    """DOMAIN.md 4.5: the amount per lot is in the plan's currency. An EUR plan pays 5 EUR/lot; EUR is 1.1 USD."""
    eur_case = b.make_inputs(
        trades=[b.trade(1, lots=D(2), account_id=100)],
        chains=b.chain(1, [(10, 1)]),
        partners=[b.partner(10)],
        programs=[b.program()],
        plans=[b.plan(1, currency="EUR")],
        rules=[b.rule(1, 1, rate=5)],
        rebates=[b.rebate(10, per_lot=1)],
        rates=[b.rate("EUR", "1.1")],
    )
    lines = run(eur_case).set_index("kind")
    assert lines.loc["volume", "amount"] == D(11)  # 2 lots x 5 EUR x 1.1
    # 1 EUR per lot = 1.1 USD per lot (recorded as the line's rate, as a rule's line records its USD rate) x 2 lots.
    assert (lines.loc["rebate", "amount"], lines.loc["rebate", "rate"]) == (D("2.2"), D("1.1"))
    assert (lines.loc["rebate_funding", "amount"], lines.loc["rebate_funding", "rate"]) == (D("-2.2"), D("1.1"))
    # Capped at what the IB earned: 8 EUR/lot = 8.8 USD x 2 = 17.6 > 11.
    capped = EngineInputs(**{**eur_case.__dict__, "rebates": build_frame("rebates", [b.rebate(10, per_lot=8)])})
    assert run(capped).set_index("kind").loc["rebate", "amount"] == D(11)
    # Rounding point 2, as for a rule's rate: 1.234567 EUR x 1.0851234567 = 1.33965761… → 1.339658 USD per lot,
    # x 3 lots = 4.018974 (converting the amount unrounded would give round6(4.01897283…) = 4.018973).
    odd = EngineInputs(
        **{
            **eur_case.__dict__,
            "trades": build_frame("trades", [b.trade(1, lots=D(3), account_id=100)]),
            "rates": build_frame("rates", [b.rate("EUR", "1.0851234567")]),
            "rebates": build_frame("rebates", [b.rebate(10, per_lot=D("1.234567"))]),
        }
    )
    rebate = run(odd).set_index("kind").loc["rebate"]
    assert (rebate["rate"], rebate["amount"]) == (D("1.339658"), D("4.018974"))


def test_no_rebate_lines_when_nothing_was_earned():
    lines = run(rebate_case([b.rebate(10, pct=50)], rate=0))
    assert set(lines["kind"]) == {"volume"}


# ---------------------------------------------------------------- missing rates


def test_missing_rates_lists_every_needed_pair_and_nothing_else():
    day2 = dt.date(2024, 3, 16)
    trades = [
        b.trade(1, instrument_id=4),  # EURGBP: per-million needs GBP on its close day
        b.trade(2, instrument_id=4, close_day=day2),
        b.trade(3, instrument_id=4, close_day=dt.date(2024, 3, 20), status="cancelled"),  # cancelled: needs nothing
        b.trade(4, instrument_id=1, close_day=day2),  # EURUSD: per-million needs no rate; the EUR plan does
    ]
    inputs = b.make_inputs(
        trades=trades,
        chains=[row for t in trades for row in b.chain(t["trade_id"], [(10, 1 if t["trade_id"] != 4 else 2)])],
        partners=[b.partner(10)],
        programs=[b.program()],
        plans=[b.plan(1), b.plan(2, currency="EUR")],
        rules=[b.rule(1, 1, "per_million", rate=10), b.rule(2, 2, "per_million", rate=10)],
        rates=[b.rate("GBP", "1.25", b.DAY)],
    )
    with pytest.raises(MissingRates) as caught:
        run(inputs)
    assert caught.value.missing == [("EUR", day2), ("GBP", day2)]
    assert "EUR 2024-03-16" in str(caught.value)


def test_a_per_lot_rebate_of_a_non_usd_plan_needs_the_plans_rate_and_every_missing_pair_is_listed():
    """The plan shares client commissions (USD accounts: its rule needs no rate), so only the per-lot rebates of
    its trades need EUR, on their close days; a percent rebate needs none. Missing pairs of the plans' own amounts
    (GBP for the EURGBP per-million trade) are listed with the rebates' in one error."""
    day2 = dt.date(2024, 3, 16)
    trades = [
        b.trade(1, account_id=100),
        b.trade(2, account_id=100, close_day=day2),
        b.trade(3, account_id=101, close_day=dt.date(2024, 3, 20)),  # a percent rebate: no rate needed
        b.trade(4, instrument_id=4, account_id=102, close_day=day2),  # EURGBP at per million: GBP needed
    ]
    inputs = b.make_inputs(
        trades=trades,
        chains=[row for t in trades for row in b.chain(t["trade_id"], [(10, 1 if t["trade_id"] < 4 else 2)])],
        partners=[b.partner(10)],
        programs=[b.program()],
        plans=[b.plan(1, currency="EUR"), b.plan(2)],
        rules=[b.rule(1, 1, "commission_share", rate=None, pct=50), b.rule(2, 2, "per_million", rate=10)],
        rebates=[b.rebate(10, per_lot=1), b.rebate(10, 101, pct=10)],
        rates=[b.rate("EUR", "1.1", b.DAY)],
    )
    with pytest.raises(MissingRates) as caught:
        run(inputs)
    assert caught.value.missing == [("EUR", day2), ("GBP", day2)]
    with_rates = EngineInputs(
        **{
            **inputs.__dict__,
            "rates": build_frame(
                "rates", [b.rate("EUR", "1.1", b.DAY), b.rate("EUR", "1.2", day2), b.rate("GBP", "1.25", day2)]
            ),
        }
    )
    rebates = run(with_rates).query("kind == 'rebate'").set_index("trade_id")["amount"].to_dict()
    # 1 EUR per lot at each day's rate; 10 % of the 3.50 earned; 1 USD per lot under the USD plan.
    assert rebates == {1: D("1.1"), 2: D("1.2"), 3: D("0.35"), 4: D(1)}
