"""validate_inputs and the conversion errors: bad inputs fail loudly with the column named."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pandas as pd
import pytest

from commissions.engine import EngineInputError, EngineInputs, compute_lines, tier_context, validate_inputs
from commissions.engine.schema import LINE_COLUMNS, build_frame, empty_frame
from tests.engine import builders as b
from tests.engine.compare import records
from tests.engine.reference import reference_lines

D = Decimal


def world(**changes: list[dict]) -> EngineInputs:
    rows = {
        "trades": [b.trade(1), b.trade(2, instrument_id=4)],
        "chains": b.chain(1, [(10, 1), (20, None)]) + b.chain(2, [(10, 1)]),
        "partners": [b.partner(10), b.partner(20)],
        "programs": [b.program()],
        "plans": [b.plan(1, tiers=[(0, 1), (10, "1.5")])],
        "rules": [b.rule(1, 1, rate=5)],
        "rates": [b.rate("GBP", "1.25")],
        "rebates": [b.rebate(10, pct=10)],
    }
    rows.update(changes)
    return b.make_inputs(**rows)


def problems(inputs) -> str:
    with pytest.raises(EngineInputError) as caught:
        validate_inputs(inputs)
    return str(caught.value)


def test_valid_inputs_pass():
    inputs = world()
    validate_inputs(inputs)
    lines = compute_lines(inputs, tier_context(inputs.trades, inputs.trade_chains, inputs.plans))
    # Two level-1 volume lines, partner 20's no_plan line, and a rebate pair per trade.
    assert sorted(map(str, lines["kind"])) == ["rebate", "rebate", "rebate_funding", "rebate_funding"] + ["volume"] * 3


def test_float_lots_are_refused_naming_the_column():
    inputs = world()
    trades = inputs.trades.copy()
    trades["lots"] = [1.5, 2.0]
    bad = dataclasses.replace(inputs, trades=trades)
    assert "trades.lots" in problems(bad)
    with pytest.raises(EngineInputError, match=r"trades\.lots"):
        compute_lines(bad, tier_context(inputs.trades, inputs.trade_chains, inputs.plans))


def test_too_many_places_and_negative_spread_are_refused():
    assert "trades.lots: more than 4 decimal places" in problems(world(trades=[b.trade(1, lots=D("0.00001"))]))
    assert "spread_pips" in problems(world(trades=[b.trade(1, spread_pips=D("-1"))]))


def test_a_missing_column_is_named():
    inputs = world()
    bad = dataclasses.replace(inputs, trades=inputs.trades.drop(columns=["close_day"]))
    assert "missing columns ['close_day']" in problems(bad)


def test_chain_levels_must_be_1_to_n_without_gaps_or_duplicates():
    gap = [
        {"trade_id": 1, "level": 1, "partner_id": 10, "plan_id": 1},
        {"trade_id": 1, "level": 3, "partner_id": 20, "plan_id": 1},
    ]
    assert "levels are not exactly 1..n" in problems(world(chains=gap))
    duplicate = [*b.chain(1, [(10, 1)]), {"trade_id": 1, "level": 1, "partner_id": 20, "plan_id": 1}]
    assert "levels are not exactly 1..n" in problems(world(chains=duplicate))


def test_unknown_references_are_listed():
    chain = [{**row, "program_id": 3} for row in b.chain(1, [(99, 7)])]
    text = problems(world(chains=chain))
    assert "trade_chains.program_id: 1 unknown ids, e.g. [3]" in text
    assert "trade_chains.plan_id: 1 unknown ids, e.g. [7]" in text
    assert "trades that are not in trades" in problems(world(chains=b.chain(5, [(10, 1)])))


def test_configuration_rules():
    assert "first band must start at 0" in problems(world(plans=[b.plan(1, tiers=[(5, 1)])]))
    assert "strictly increase" in problems(world(plans=[b.plan(1, tiers=[(0, 1), (5, 2), (5, 3)])]))
    assert "rate: required for per_lot" in problems(world(rules=[b.rule(1, 1)]))
    assert "pct: required for spread_share" in problems(world(rules=[b.rule(1, 1, "spread_share")]))
    assert "not both" in problems(world(rules=[b.rule(1, 1, rate=1, instrument_id=1, symbol_group="metals")]))
    assert "above 100" in problems(world(programs=[b.program(shares=[101])]))
    assert "more than 6 decimal places" in problems(world(rules=[b.rule(1, 1, rate="0.0000001")]))
    assert "exactly one of pct and per_lot" in problems(world(rebates=[b.rebate(10, pct=1, per_lot=1)]))
    assert "is not one of" in problems(world(programs=[b.program(model="pyramid")]))


def test_the_usd_rate_is_one_by_definition():
    assert "USD rate is 1" in problems(world(rates=[b.rate("USD", "1.01")]))
    validate_inputs(world(rates=[b.rate("USD", "1"), b.rate("GBP", "1.25")]))


def test_contract_size_must_be_the_same_for_every_trade_of_an_instrument():
    text = problems(world(trades=[b.trade(1), b.trade(2, contract_size=D(1000))]))
    assert "contract_size: differs between trades of the same instrument" in text


def test_build_frame_and_empty_frame_have_the_schema_columns():
    frame = build_frame("rebates", [b.rebate(1, pct=5)])
    assert str(frame["account_id"].dtype) == "Int64" and frame["pct"].iloc[0] == D(5)
    assert list(empty_frame("rates").columns) == ["currency", "day", "usd_rate"]


def test_empty_chunk_gives_an_empty_frame_with_the_line_columns():
    inputs = b.make_inputs(trades=[], programs=[b.program()], plans=[b.plan(1)])
    lines = compute_lines(inputs, tier_context(inputs.trades, inputs.trade_chains, inputs.plans))
    assert lines.empty and tuple(lines.columns) == LINE_COLUMNS


def test_pandas_default_dtypes_and_any_row_order_or_index_are_accepted():
    rows = [b.trade(1), b.trade(2, account_group=None, instrument_id=None), b.trade(3, instrument_id=4)]
    inputs = world(trades=rows, chains=b.chain(1, [(10, 1)]) + b.chain(3, [(20, 1), (10, 1)]))
    expected = records(reference_lines(inputs))
    inferred = pd.DataFrame(rows)  # text columns get pandas' own string dtype, NA as NaN
    inferred["instrument_id"] = pd.array(inferred["instrument_id"], dtype="Int64")
    inferred["digits"] = pd.array(inferred["digits"], dtype="Int64")
    shuffled = inferred.sample(frac=1, random_state=3)
    shuffled.index = shuffled.index + 100
    for trades, chains in ((inferred, inputs.trade_chains), (shuffled, inputs.trade_chains.iloc[::-1])):
        variant = dataclasses.replace(inputs, trades=trades, trade_chains=chains)
        validate_inputs(variant)
        lines = compute_lines(variant, tier_context(variant.trades, variant.trade_chains, variant.plans))
        assert records(lines) == expected
