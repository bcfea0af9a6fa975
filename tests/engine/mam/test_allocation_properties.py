"""Property tests: the allocation engine equals the Decimal reference on every field, and the invariants hold."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mam.engine import Allocation, allocate
from mam.vocabulary import NORMALISED_METHODS, AllocationMethod, BelowMinPolicy, ResidualPolicy
from tests.engine.mam.reference import RefAllocation, minimum_lots, reference_allocate
from tests.engine.mam.strategies import crowded_groups, groups

EQUALITY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZERO = Decimal(0)


def assert_same(got: Allocation, want: RefAllocation) -> None:
    shares = got.shares
    assert list(shares.columns) == ["server", "login", "weight", "target", "lots", "reason"]
    assert len(shares) == len(want.accounts)
    for row, ref in zip(shares.itertuples(index=False), want.accounts, strict=True):
        key = (row.server, row.login)
        assert key == ref.key
        assert (row.weight is None) == (ref.weight is None), (key, row.weight, ref.weight)
        if ref.weight is not None:
            assert row.weight == ref.weight, (key, row.weight, ref.weight)
        assert (row.lots, row.reason) == (ref.lots, ref.reason), (key, row.lots, row.reason, ref.lots, ref.reason)
        assert row.target == ref.target, (key, row.target, ref.target)
    assert got.allocated == want.allocated
    assert got.unallocated == want.unallocated
    assert got.unallocated_reason == want.unallocated_reason


@EQUALITY
@given(groups())
def test_engine_equals_reference_on_every_field(group):
    volume, members, policy, spec = group
    assert_same(
        allocate(volume, members, policy=policy, spec=spec),
        reference_allocate(volume, members, policy=policy, spec=spec),
    )


@EQUALITY
@given(
    groups(
        methods=[AllocationMethod.EQUITY, AllocationMethod.EQUAL, AllocationMethod.LOT, AllocationMethod.RISK],
        residuals=[ResidualPolicy.LARGEST_REMAINDER, ResidualPolicy.OVERFLOW, ResidualPolicy.LARGEST_WEIGHT],
    )
)
def test_engine_equals_reference_where_the_skip_search_works_hardest(group):
    # Same comparison, on the methods and policies whose below-minimum search has the most paths.
    volume, members, policy, spec = group
    assert_same(
        allocate(volume, members, policy=policy, spec=spec),
        reference_allocate(volume, members, policy=policy, spec=spec),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups(
        min_members=120,
        max_members=300,
        methods=[AllocationMethod.EQUITY, AllocationMethod.EQUAL, AllocationMethod.RISK],
        residuals=[ResidualPolicy.LARGEST_REMAINDER, ResidualPolicy.OVERFLOW],
    )
)
def test_engine_equals_reference_on_big_groups(group):
    # Hundreds of accounts: the skip search's batched exact checks span several batches.
    volume, members, policy, spec = group
    assert_same(
        allocate(volume, members, policy=policy, spec=spec),
        reference_allocate(volume, members, policy=policy, spec=spec),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_groups())
def test_engine_equals_reference_on_crowded_groups(group):
    # About one step per account: the long stretch of accounts within a step of the minimum (batched checks).
    volume, members, policy, spec = group
    assert_same(
        allocate(volume, members, policy=policy, spec=spec),
        reference_allocate(volume, members, policy=policy, spec=spec),
    )


def _cap(row, spec) -> Decimal:
    limit = spec.maximum if row["max_lots"] is None else min(row["max_lots"], spec.maximum)
    return (limit / spec.step).to_integral_value(rounding="ROUND_FLOOR") * spec.step


def _stopped(row) -> str | None:
    equity = row["equity"]
    if not (row["member"] and row["active"]) or equity is None or equity <= 0:
        return None
    if row["equity_stop"] is not None and equity < row["equity_stop"]:
        return "equity_stop"
    peak, limit = row["peak_equity"], row["max_drawdown_pct"]
    if peak is not None and limit is not None and (peak - equity) * 100 > limit * peak:
        return "drawdown_stop"
    return None


@PROPERTY
@given(groups())
def test_invariants(group):
    volume, members, policy, spec = group
    result = allocate(volume, members, policy=policy, spec=spec)
    shares = result.shares
    minimum = minimum_lots(spec)
    assert result.allocated == sum(shares["lots"], ZERO)
    assert result.allocated + result.unallocated == volume
    for row, share in zip(members.to_dict("records"), shares.itertuples(index=False), strict=True):
        lots = share.lots
        assert lots >= 0
        assert lots % spec.step == 0
        assert lots <= _cap(row, spec)
        assert lots == 0 or lots >= minimum, (share, minimum)
        stop = _stopped(row)
        if stop is not None:
            assert (lots, share.reason) == (ZERO, stop)
        if share.reason in ("not_member", "inactive", "no_equity", "no_param", "below_minimum"):
            assert lots == 0 and share.target == 0
    reason = result.unallocated_reason
    if result.unallocated == 0:
        assert reason == ""
    elif policy.method not in NORMALISED_METHODS:
        assert reason in ("not_normalised", "below_minimum", "no_eligible_account")
    elif reason == "rounded":
        assert volume % spec.step != 0 and 0 < result.unallocated < spec.step
    elif reason == "discarded":
        assert policy.residual == ResidualPolicy.DISCARD and result.unallocated > 0
    elif reason == "bumped":
        assert policy.below_min == BelowMinPolicy.BUMP and result.unallocated < 0
    elif reason == "clamped":
        taking_part = shares[shares["lots"] > 0]
        assert len(taking_part) and (taking_part["reason"] == "clamped").all()
    else:
        assert reason in ("below_minimum", "no_eligible_account") and result.allocated == 0
    if policy.method in NORMALISED_METHODS and policy.residual in (
        ResidualPolicy.LARGEST_REMAINDER,
        ResidualPolicy.LARGEST_WEIGHT,
    ):
        for share in shares.itertuples(index=False):
            if share.reason in ("", "rounded", "residual"):
                assert abs(share.lots - share.target) <= spec.step, share


@PROPERTY
@given(groups(methods=sorted(NORMALISED_METHODS)), st.randoms(use_true_random=False))
def test_the_row_order_changes_nothing_but_the_order(group, random):
    volume, members, policy, spec = group
    shuffled = members.sample(frac=1, random_state=random.randint(0, 2**31)) if len(members) else members
    first = allocate(volume, members, policy=policy, spec=spec).shares
    second = allocate(volume, shuffled, policy=policy, spec=spec).shares.loc[members.index]
    pd.testing.assert_frame_equal(first, second)
