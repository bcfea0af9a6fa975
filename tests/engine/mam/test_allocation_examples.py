"""Hand-computed allocations: DOMAIN.md 5.1's examples and one test per documented rule, reason and refusal."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from core.exact import ExactValueError
from mam.engine import GroupPolicy, VolumeSpec, allocate
from mam.vocabulary import AllocationMethod, BelowMinPolicy, ResidualPolicy

D = Decimal
SPEC = VolumeSpec(step=D("0.01"), minimum=D("0.01"), maximum=D(100))
EQUITY = GroupPolicy()


def member(login: int, equity: str | None = "1000", **fields) -> dict:
    row = {
        "server": "live1",
        "login": login,
        "active": True,
        "member": True,
        "param": None,
        "risk_factor": D(1),
        "balance": None,
        "equity": None if equity is None else D(equity),
        "free_margin": None,
        "peak_equity": None,
        "max_lots": None,
        "equity_stop": None,
        "max_drawdown_pct": None,
    }
    row.update({k: (D(v) if isinstance(v, str) else v) for k, v in fields.items()})
    return row


def group(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def lots(result) -> list[Decimal]:
    return list(result.shares["lots"])


def reasons(result) -> list[str]:
    return list(result.shares["reason"])


def run(volume: str, *rows: dict, policy: GroupPolicy = EQUITY, spec: VolumeSpec = SPEC):
    return allocate(D(volume), group(*rows), policy=policy, spec=spec)


# DOMAIN.md 5.1


def test_domain_example_equity_shares_are_exact():
    result = run("1.00", member(1, "10000"), member(2, "7000"), member(3, "3000"))
    assert lots(result) == [D("0.50"), D("0.35"), D("0.15")]
    assert reasons(result) == ["", "", ""]
    assert list(result.shares["target"]) == [D("0.5"), D("0.35"), D("0.15")]
    assert (result.allocated, result.unallocated, result.unallocated_reason) == (D("1.00"), 0, "")


def test_domain_example_small_volume():
    result = run("0.10", member(1, "6000"), member(2, "3000"), member(3, "1000"))
    assert lots(result) == [D("0.06"), D("0.03"), D("0.01")]
    assert result.unallocated == 0


# Who takes part (DOMAIN.md 5.0) and the order of the reasons


def test_each_exclusion_gets_nothing_with_its_reason():
    result = run(
        "1.00",
        member(1, "1000", member=False, active=False),  # not a member wins over inactive
        member(2, "1000", active=False),
        member(3, None),
        member(4, "0"),
        member(5, "-5"),
        member(6, "999.99", equity_stop="1000"),
        member(7, "7000", peak_equity="10000", max_drawdown_pct="25"),  # 30 % down, limit 25 %
        member(8, "7000", peak_equity="10000", max_drawdown_pct="30"),  # exactly at the limit: still trades
        member(9, "1000", equity_stop="1000"),  # at the stop: still trades
    )
    assert reasons(result)[:7] == [
        "not_member",
        "inactive",
        "no_equity",
        "no_equity",
        "no_equity",
        "equity_stop",
        "drawdown_stop",
    ]
    assert lots(result)[:7] == [D(0)] * 7
    assert list(result.shares["target"])[:7] == [D(0)] * 7
    assert list(result.shares["weight"])[:7] == [None] * 7
    # 7000 and 1000 share the volume: 0.875 and 0.125 -> floors 0.87 / 0.12, one step to the larger.
    assert lots(result)[7:] == [D("0.88"), D("0.12")]
    assert reasons(result)[7:] == ["residual", "rounded"]


def test_a_drawdown_is_measured_from_a_positive_peak_only():
    result = run("0.10", member(1, "500", peak_equity="0", max_drawdown_pct="0"), member(2, "500"))
    assert lots(result) == [D("0.05"), D("0.05")]


def test_a_method_figure_that_is_not_positive_is_no_equity():
    policy = GroupPolicy(method=AllocationMethod.FREE_MARGIN)
    result = run(
        "0.10",
        member(1, free_margin="3000"),
        member(2, free_margin=None),
        member(3, free_margin="-1"),
        member(4, free_margin="1000"),
        policy=policy,
    )
    assert lots(result) == [D("0.08"), D(0), D(0), D("0.02")]
    # 0.075 / 0.025: floors 0.07 / 0.02, the leftover step to the larger weight.
    assert reasons(result) == ["residual", "no_equity", "no_equity", "rounded"]
    assert list(result.shares["weight"])[1:3] == [None, D(-1)]


def test_balance_weights():
    result = run(
        "0.30", member(1, balance="200"), member(2, balance="100"), policy=GroupPolicy(method=AllocationMethod.BALANCE)
    )
    assert lots(result) == [D("0.20"), D("0.10")]
    assert list(result.shares["weight"]) == [D(200), D(100)]


def test_a_missing_or_zero_parameter_is_no_param():
    policy = GroupPolicy(method=AllocationMethod.LOT)
    result = run(
        "0.30", member(1, param="2"), member(2, param=None), member(3, param="0"), member(4, param="1"), policy=policy
    )
    assert lots(result) == [D("0.20"), D(0), D(0), D("0.10")]
    assert reasons(result) == ["", "no_param", "no_param", ""]
    risk = run("0.30", member(1, risk_factor="0"), member(2), policy=GroupPolicy(method=AllocationMethod.RISK))
    assert reasons(risk) == ["no_param", ""]
    assert lots(risk) == [D(0), D("0.30")]


def test_percent_and_lot_params_are_weights():
    # Percentages that do not sum to 100 are still weights.
    policy = GroupPolicy(method=AllocationMethod.PERCENT)
    result = run("1.00", member(1, param="30"), member(2, param="10"), policy=policy)
    assert lots(result) == [D("0.75"), D("0.25")]


def test_equal_and_risk_weights():
    equal = run(
        "0.30", member(1, "5"), member(2, "500000"), member(3, "70"), policy=GroupPolicy(method=AllocationMethod.EQUAL)
    )
    assert lots(equal) == [D("0.10")] * 3
    assert list(equal.shares["weight"]) == [D(1)] * 3
    risk = run(
        "0.40",
        member(1, "1000", risk_factor="2"),
        member(2, "2000", risk_factor="1"),
        member(3, "4000", risk_factor="0"),
        member(4, "4000", risk_factor=None),  # a missing factor is 1
        policy=GroupPolicy(method=AllocationMethod.RISK),
    )
    assert lots(risk) == [D("0.10"), D("0.10"), D(0), D("0.20")]
    assert list(risk.shares["weight"]) == [D(2000), D(2000), D(0), D(4000)]


# Residual policies


def test_largest_weight_ties_go_to_the_lower_key_whatever_the_row_order():
    result = run("0.10", member(3), member(1), member(2))
    assert lots(result) == [D("0.03"), D("0.04"), D("0.03")]
    assert reasons(result) == ["rounded", "residual", "rounded"]
    assert list(result.shares["target"]) == [D("0.03333333")] * 3
    other_server = run("0.10", member(1) | {"server": "live2"}, member(2), member(3))
    assert lots(other_server) == [D("0.03"), D("0.04"), D("0.03")]  # ("live1", 2) < ("live2", 1)


def test_largest_remainder_against_largest_weight():
    rows = (member(1, "45"), member(2, "35"), member(3, "20"))
    # Targets 0.0315 / 0.0245 / 0.014: floors 0.03 / 0.02 / 0.01, one step left.
    by_weight = run("0.07", *rows)
    assert lots(by_weight) == [D("0.04"), D("0.02"), D("0.01")]
    by_remainder = run("0.07", *rows, policy=GroupPolicy(residual=ResidualPolicy.LARGEST_REMAINDER))
    assert lots(by_remainder) == [D("0.03"), D("0.03"), D("0.01")]
    assert reasons(by_remainder) == ["rounded", "residual", "rounded"]


def test_largest_remainder_ties_go_to_the_larger_weight_then_the_lower_key():
    # 0.025 and 0.015 (remainder 0.005 each): the larger weight takes the step.
    result = run(
        "0.04", member(1, "15"), member(2, "25"), policy=GroupPolicy(residual=ResidualPolicy.LARGEST_REMAINDER)
    )
    assert lots(result) == [D("0.01"), D("0.03")]


def test_overflow_takes_every_leftover_step():
    policy = GroupPolicy(residual=ResidualPolicy.OVERFLOW, overflow_key=("live1", 3))
    result = run("0.11", member(1), member(2), member(3), policy=policy)  # 0.0366.. each: two steps left
    assert lots(result) == [D("0.03"), D("0.03"), D("0.05")]
    assert reasons(result) == ["rounded", "rounded", "residual"]


def test_overflow_account_that_cannot_take_falls_back_to_largest_weight():
    policy = GroupPolicy(residual=ResidualPolicy.OVERFLOW, overflow_key=("live1", 3))
    stopped = run("0.11", member(1), member(2), member(3, "1000", equity_stop="2000"), policy=policy)
    assert lots(stopped) == [D("0.06"), D("0.05"), D(0)]
    assert reasons(stopped) == ["residual", "rounded", "equity_stop"]
    full = run("0.11", member(1), member(2), member(3, max_lots="0.04"), policy=policy)
    assert lots(full) == [D("0.04"), D("0.03"), D("0.04")]


def test_overflow_needs_a_member_as_its_account():
    with pytest.raises(ValueError):
        run("0.10", member(1), policy=GroupPolicy(residual=ResidualPolicy.OVERFLOW))
    with pytest.raises(ValueError):
        run("0.10", member(1), policy=GroupPolicy(residual=ResidualPolicy.OVERFLOW, overflow_key=("live1", 9)))


def test_discard_leaves_the_leftover_unallocated():
    result = run("0.10", member(1), member(2), member(3), policy=GroupPolicy(residual=ResidualPolicy.DISCARD))
    assert lots(result) == [D("0.03")] * 3
    assert reasons(result) == ["discarded"] * 3
    assert (result.allocated, result.unallocated, result.unallocated_reason) == (D("0.09"), D("0.01"), "discarded")


# Below the minimum


def test_skip_leaves_out_the_smallest_below_minimum_and_shares_again():
    # Three equal accounts, two steps: login 3 (ties: the higher key) gets 0 and is left out; then 0.01 each.
    result = run("0.02", member(1), member(2), member(3))
    assert lots(result) == [D("0.01"), D("0.01"), D(0)]
    assert reasons(result) == ["", "", "below_minimum"]
    assert list(result.shares["target"]) == [D("0.01"), D("0.01"), D(0)]
    assert list(result.shares["weight"]) == [D(1000)] * 3


def test_skip_with_a_minimum_of_several_steps():
    spec = VolumeSpec(step=D("0.01"), minimum=D("0.10"), maximum=D(100))
    result = run("0.25", member(1, "5000"), member(2, "3000"), member(3, "2000"), spec=spec)
    # 0.125 / 0.075 / 0.05: login 3 then login 2 are left out; login 1 takes it all.
    assert lots(result) == [D("0.25"), D(0), D(0)]
    assert reasons(result) == ["", "below_minimum", "below_minimum"]


def test_everyone_skipped_is_unallocated_below_minimum():
    spec = VolumeSpec(step=D("0.01"), minimum=D("0.10"), maximum=D(100))
    result = run("0.05", member(1), member(2), spec=spec)
    assert lots(result) == [D(0), D(0)]
    assert (result.allocated, result.unallocated, result.unallocated_reason) == (D(0), D("0.05"), "below_minimum")


def test_a_cap_below_the_minimum_takes_no_part():
    spec = VolumeSpec(step=D("0.01"), minimum=D("0.05"), maximum=D(100))
    result = run("0.10", member(1, "9000", max_lots="0.04"), member(2, "1000"), spec=spec)
    assert lots(result) == [D(0), D("0.10")]
    assert reasons(result) == ["below_minimum", ""]


def test_bump_raises_and_the_largest_account_funds_it():
    policy = GroupPolicy(below_min=BelowMinPolicy.BUMP)
    result = run("0.10", member(1, "10000"), member(2, "100"), policy=policy)
    # 0.099 / 0.00099 -> 0.10 / 0.00; login 2 bumped to 0.01, login 1 gives a step back: the sum stays 0.10.
    assert lots(result) == [D("0.09"), D("0.01")]
    assert reasons(result) == ["bump_funding", "bumped"]
    assert result.unallocated == 0


def test_bump_beyond_what_can_be_given_back_exceeds_the_volume():
    policy = GroupPolicy(below_min=BelowMinPolicy.BUMP)
    result = run("0.02", member(1), member(2), member(3), policy=policy)
    assert lots(result) == [D("0.01")] * 3
    assert reasons(result) == ["residual", "residual", "bumped"]
    assert (result.allocated, result.unallocated, result.unallocated_reason) == (D("0.03"), D("-0.01"), "bumped")


def test_bumps_use_discarded_steps_first():
    policy = GroupPolicy(residual=ResidualPolicy.DISCARD, below_min=BelowMinPolicy.BUMP)
    result = run("0.10", member(1, "6500"), member(2, "3450"), member(3, "50"), policy=policy)
    # 0.065 / 0.0345 / 0.0005 -> 0.06 / 0.03 / 0.00, one step discarded; login 3 bumped with it.
    assert lots(result) == [D("0.06"), D("0.03"), D("0.01")]
    assert reasons(result) == ["discarded", "discarded", "bumped"]
    assert result.unallocated == 0


# Above the maximum


def test_clamped_excess_is_shared_over_the_others():
    result = run("1.00", member(1, "10000", max_lots="0.30"), member(2, "7000"), member(3, "3000"))
    assert lots(result) == [D("0.30"), D("0.49"), D("0.21")]
    assert reasons(result) == ["clamped", "", ""]
    assert list(result.shares["target"]) == [D("0.30"), D("0.49"), D("0.21")]


def test_the_instrument_maximum_clamps_too():
    spec = VolumeSpec(step=D("0.01"), minimum=D("0.01"), maximum=D("0.50"))
    result = run("1.00", member(1, "9000"), member(2, "1000"), spec=spec)
    assert lots(result) == [D("0.50"), D("0.50")]
    assert reasons(result) == ["clamped", ""]


def test_capacity_shortfall_is_unallocated_clamped():
    result = run("1.00", member(1, max_lots="0.10"), member(2, max_lots="0.205"))
    assert lots(result) == [D("0.10"), D("0.20")]
    assert (result.unallocated, result.unallocated_reason) == (D("0.70"), "clamped")


# Non-normalised methods


def test_multiplier_rounds_each_account_half_up():
    policy = GroupPolicy(method=AllocationMethod.MULTIPLIER)
    result = run(
        "1.50", member(1, param="0.5"), member(2, param="0.333"), member(3, param="2", max_lots="1"), policy=policy
    )
    # 0.75; 0.4995 -> 0.50; 3.00 clamped to 1.00.
    assert lots(result) == [D("0.75"), D("0.50"), D("1.00")]
    assert reasons(result) == ["", "rounded", "clamped"]
    assert list(result.shares["target"]) == [D("0.75"), D("0.4995"), D("1")]
    assert (result.allocated, result.unallocated, result.unallocated_reason) == (
        D("2.25"),
        D("-0.75"),
        "not_normalised",
    )


def test_fixed_lot_below_the_minimum_is_skipped_or_bumped():
    rows = (member(1, param="0.005"), member(2, param="0.004"), member(3, param="0.2"))
    skipped = run("1", *rows, policy=GroupPolicy(method=AllocationMethod.FIXED_LOT))
    assert lots(skipped) == [D("0.01"), D(0), D("0.20")]
    assert reasons(skipped) == ["rounded", "below_minimum", ""]
    bumped = run("1", *rows, policy=GroupPolicy(method=AllocationMethod.FIXED_LOT, below_min=BelowMinPolicy.BUMP))
    assert lots(bumped) == [D("0.01"), D("0.01"), D("0.20")]
    assert reasons(bumped) == ["rounded", "bumped", ""]
    assert bumped.unallocated == D("0.78")


# Volumes and totals


def test_a_volume_off_the_step_leaves_the_sub_step_rest():
    result = run("0.105", member(1), member(2))
    assert lots(result) == [D("0.05"), D("0.05")]
    assert (result.unallocated, result.unallocated_reason) == (D("0.005"), "rounded")


def test_nobody_eligible():
    result = run("1", member(1, active=False), member(2, None))
    assert (result.allocated, result.unallocated, result.unallocated_reason) == (0, D(1), "no_eligible_account")
    empty = allocate(D(1), group(member(1)).iloc[:0], policy=EQUITY, spec=SPEC)
    assert len(empty.shares) == 0 and empty.unallocated_reason == "no_eligible_account"


def test_optional_columns_may_be_absent_and_the_index_is_kept():
    members = pd.DataFrame(
        {"server": ["a", "a"], "login": [1, 2], "active": [True, True], "member": [True, True], "equity": [D(3), D(1)]},
        index=[10, 20],
    )
    result = allocate(D("0.04"), members, policy=EQUITY, spec=SPEC)
    assert list(result.shares.index) == [10, 20]
    assert lots(result) == [D("0.03"), D("0.01")]


def test_whole_lot_steps():
    spec = VolumeSpec(step=D(1), minimum=D(1), maximum=D(1000))
    result = run("7", member(1, "500"), member(2, "300"), member(3, "200"), spec=spec)
    assert lots(result) == [D(4), D(2), D(1)]


# Refusals


@pytest.mark.parametrize("volume", [D(0), D(-1), 1.5, D("0.000000001")])
def test_a_volume_that_is_not_a_positive_exact_decimal_is_refused(volume):
    with pytest.raises(ValueError):
        allocate(volume, group(member(1)), policy=EQUITY, spec=SPEC)


@pytest.mark.parametrize(
    "spec",
    [
        VolumeSpec(step=D(0), minimum=D("0.01"), maximum=D(1)),
        VolumeSpec(step=D("0.01"), minimum=D(2), maximum=D(1)),
        VolumeSpec(step=D("0.01"), minimum=D("0.01"), maximum=D(0)),
    ],
)
def test_an_inconsistent_spec_is_refused(spec):
    with pytest.raises(ValueError):
        allocate(D(1), group(member(1)), policy=EQUITY, spec=spec)


def test_bad_member_data_is_refused():
    with pytest.raises(ValueError):
        run("1", member(1), member(1))  # the same account twice
    with pytest.raises(ValueError):
        run("1", member(1, param="-1"), policy=GroupPolicy(method=AllocationMethod.LOT))
    with pytest.raises(ValueError):
        run("1", member(1, max_lots="-1"))
    with pytest.raises(ExactValueError):
        run("1", member(1) | {"equity": 1000.0})  # a float is never an amount
    with pytest.raises(ValueError):
        allocate(D(1), group(member(1)).drop(columns=["equity"]), policy=EQUITY, spec=SPEC)
