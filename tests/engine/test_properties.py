"""Property tests: the vectorised engine equals the Decimal reference, and the documented invariants hold."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commissions.engine import EngineInputs, MissingRates, TierContext, compute_lines, tier_context
from core.money import round_line
from tests.engine.compare import assert_micros_consistent, assert_same_lines, records
from tests.engine.reference import Reference, reference_lines
from tests.engine.strategies import engine_worlds, inputs_of

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EQUALITY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZERO = Decimal(0)


def context_of(inputs: EngineInputs) -> TierContext:
    return tier_context(inputs.trades, inputs.trade_chains, inputs.plans)


def engine(inputs: EngineInputs, context=None) -> pd.DataFrame:
    return compute_lines(inputs, context if context is not None else context_of(inputs))


@EQUALITY
@given(engine_worlds())
def test_engine_equals_reference_line_for_line(world):
    inputs = inputs_of(world)
    lines = engine(inputs)
    assert_same_lines(lines, reference_lines(inputs))
    assert_micros_consistent(lines)
    keys = lines.assign(beneficiary=lines["partner_id"].fillna(-1))
    keys.loc[keys["kind"] == "rebate", "beneficiary"] = keys["account_id"]
    assert not keys.duplicated(["trade_id", "beneficiary", "kind", "level"]).any()


def own_amounts(inputs: EngineInputs) -> dict[int, tuple]:
    """Per trade, what each participating level's own plan gives (reference), for the invariants below."""
    ref = Reference(inputs)
    out = {}
    for trade in inputs.trades.itertuples(index=False):
        chain = ref.chains.get(int(trade.trade_id), [])
        if not chain or trade.status != "closed" or pd.isna(trade.instrument_id) or not trade.earns_commission:
            continue
        program = ref.programs[int(chain[0].program_id)]
        depth = min(len(chain), int(program.max_depth))
        if program.model == "override":
            depth = min(depth, 1 + len(program.override_pct))
        levels = []
        for k, row in enumerate(chain[:depth], start=1):
            active = bool(row.active)
            outcome = ref.evaluate(trade, k, int(row.partner_id), row.plan_id)
            failure = outcome if isinstance(outcome, str) else None
            own = {} if failure else {r.kind: r.amount for r in outcome}
            levels.append((int(row.partner_id), active, own, failure))
        out[int(trade.trade_id)] = (program, levels)
    return out


def by_trade(lines: pd.DataFrame) -> dict[int, list]:
    grouped = defaultdict(list)
    for row in lines.itertuples(index=False):
        grouped[int(row.trade_id)].append(row)
    return grouped


@PROPERTY
@given(engine_worlds(models=("differential",)))
def test_differential_chain_pays_exactly_its_highest_eligible_amount(world):
    inputs = inputs_of(world)
    lines = by_trade(engine(inputs))
    for trade_id, (_, levels) in own_amounts(inputs).items():
        for kind in ("volume", "spread"):
            eligible = [own[kind] for _, active, own, _ in levels if active and kind in own]
            paid = sum((r.amount for r in lines[trade_id] if r.kind == kind), ZERO)
            assert paid == max(eligible, default=ZERO)


@PROPERTY
@given(engine_worlds(models=("cascade",)))
def test_cascade_pays_exactly_the_pot(world):
    inputs = inputs_of(world)
    lines = by_trade(engine(inputs))
    for trade_id, (_, levels) in own_amounts(inputs).items():
        pots = levels[0][2]
        for kind, pot in pots.items():
            paid = sum((r.amount for r in lines[trade_id] if r.kind == kind), ZERO)
            if levels[-1][1]:
                assert paid == pot
            else:
                assert ZERO <= paid <= pot  # a suspended top's remainder is not paid


@PROPERTY
@given(engine_worlds(models=("override",)))
def test_override_pays_on_top_and_leaves_level_one_unchanged(world):
    inputs = inputs_of(world)
    lines = engine(inputs)
    # Cutting every chain to its first level does not change what level 1 earns.
    alone = EngineInputs(**{**inputs.__dict__, "trade_chains": inputs.trade_chains[inputs.trade_chains.level == 1]})
    first = lines[(lines.level == 1) & lines.kind.isin(["volume", "spread"])]
    alone_lines = engine(alone, context_of(inputs))
    assert records(first) == records(alone_lines[alone_lines.kind.isin(["volume", "spread"])])
    grouped = by_trade(lines)
    for trade_id, (program, levels) in own_amounts(inputs).items():
        failure = levels[0][3]
        base = sum(levels[0][2].values(), ZERO)
        for k, (partner_id, active, _, _) in enumerate(levels[1:], start=2):
            (line,) = [r for r in grouped[trade_id] if r.level == k]
            assert line.partner_id == partner_id
            if failure:
                # Level 1's own plan failed: its uplines get a zero line with that reason (or suspended).
                assert (line.kind, line.amount, line.reason) == ("volume", ZERO, failure if active else "suspended")
                continue
            assert line.kind == "override"
            expected = round_line(base * program.override_pct[k - 2] / 100) if active else ZERO
            assert line.amount == expected


@PROPERTY
@given(engine_worlds())
def test_rebates_never_exceed_what_funds_them_and_sum_to_zero(world):
    inputs = inputs_of(world)
    for trade_id, rows in by_trade(engine(inputs)).items():
        rebates = [r for r in rows if r.kind == "rebate"]
        fundings = [r for r in rows if r.kind == "rebate_funding"]
        assert len(rebates) == len(fundings) <= 1
        if not rebates:
            continue
        (rebate,), (funding,) = rebates, fundings
        first = next(r for r in rows if r.level == 1 and r.kind in ("volume", "spread"))
        earned = sum((r.amount for r in rows if r.level == 1 and r.kind in ("volume", "spread")), ZERO)
        assert ZERO < rebate.amount <= earned
        assert rebate.amount + funding.amount == 0
        assert funding.partner_id == first.partner_id and pd.isna(rebate.partner_id)
        assert rebate.account_id == funding.account_id
        account = inputs.trades.loc[inputs.trades.trade_id == trade_id, "account_id"].iloc[0]
        assert rebate.account_id == account


def per_lot_rebates_in(world: dict, currencies: list[str]) -> dict:
    """``world`` with its plans in ``currencies`` (by plan, cycling) and every rebate per lot (a percent p becomes
    p / 10 per lot): what the equality property meets only now and then."""
    plans = [{**plan, "currency": currencies[i % len(currencies)]} for i, plan in enumerate(world["plans"])]
    rebates = [
        {**r, "pct": None, "per_lot": r["per_lot"] if r["per_lot"] is not None else r["pct"] / 10}
        for r in world["rebates"]
    ]
    return {**world, "plans": plans, "rebates": rebates}


@PROPERTY
@given(engine_worlds(), st.lists(st.sampled_from(["USD", "EUR", "GBP", "JPY"]), min_size=1, max_size=3), st.data())
def test_per_lot_rebates_of_plans_in_any_currency_equal_the_reference(world, currencies, data):
    world = per_lot_rebates_in(world, currencies)
    if data.draw(st.booleans()):  # now and then a rate is missing: the same pairs are listed
        keep = data.draw(st.lists(st.booleans(), min_size=len(world["rates"]), max_size=len(world["rates"])))
        world = {**world, "rates": [rate for rate, kept in zip(world["rates"], keep, strict=True) if kept]}
    inputs = inputs_of(world)
    try:
        expected = reference_lines(inputs)
    except MissingRates as missing:
        with pytest.raises(MissingRates) as caught:
            engine(inputs)
        assert caught.value.missing == missing.missing
    else:
        assert_same_lines(engine(inputs), expected)


@PROPERTY
@given(engine_worlds(), st.integers(2, 3))
def test_chunks_by_account_with_one_tier_context_give_the_same_lines(world, n_chunks):
    inputs = inputs_of(world)
    context = context_of(inputs)
    whole = engine(inputs, context)
    parts = []
    accounts = sorted(inputs.trades["account_id"].unique())
    for chunk in range(n_chunks):
        mine = [a for i, a in enumerate(accounts) if i % n_chunks == chunk]
        trades = inputs.trades[inputs.trades.account_id.isin(mine)]  # original index kept on purpose
        chains = inputs.trade_chains[inputs.trade_chains.trade_id.isin(trades.trade_id)].reset_index(drop=True)
        part = EngineInputs(**{**inputs.__dict__, "trades": trades, "trade_chains": chains})
        parts.append(engine(part, context))
    assert records(pd.concat(parts, ignore_index=True)) == records(whole)
    assert sum(whole["amount_micros"]) == sum(sum(p["amount_micros"]) for p in parts)


@PROPERTY
@given(engine_worlds())
def test_computing_twice_gives_identical_lines(world):
    inputs = inputs_of(world)
    context = context_of(inputs)
    pd.testing.assert_frame_equal(compute_lines(inputs, context), compute_lines(inputs, context))


@PROPERTY
@given(engine_worlds(), st.data())
def test_missing_rates_lists_exactly_the_missing_pairs(world, data):
    keep = data.draw(st.lists(st.booleans(), min_size=len(world["rates"]), max_size=len(world["rates"])))
    world = {**world, "rates": [rate for rate, kept in zip(world["rates"], keep, strict=True) if kept]}
    inputs = inputs_of(world)
    try:
        expected = reference_lines(inputs)
    except MissingRates as missing:
        with pytest.raises(MissingRates) as caught:
            engine(inputs)
        assert caught.value.missing == missing.missing
        assert caught.value.missing == sorted(set(caught.value.missing))
    else:
        assert_same_lines(engine(inputs), expected)
