"""The scaled-integer helpers: half-up rounding, int64 vs arbitrary precision, exact Decimal conversion."""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.exact import (
    INT64_MAX,
    ExactValueError,
    decimals_to_ints,
    div_round,
    ints_to_decimals,
    mul,
    reduce_scale,
    to_int64,
)
from core.money import quantize

D = Decimal


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(5, 10, 1), (4, 10, 0), (15, 10, 2), (25, 10, 3), (-5, 10, -1), (-4, 10, 0), (-25, 10, -3), (7, 2, 4), (1, 3, 0)],
)
def test_div_round_is_half_up_away_from_zero(numerator, denominator, expected):
    assert div_round(np.array([numerator], dtype=np.int64), denominator).tolist() == [expected]


@given(
    st.lists(st.integers(-(10**30), 10**30), min_size=1, max_size=20),
    st.integers(1, 10**20),
)
def test_div_round_matches_decimal_half_up_for_any_size(numerators, denominator):
    values = np.array(numerators, dtype=object)
    got = div_round(values, denominator)
    with localcontext() as context:
        context.prec = 80
        expected = [int(quantize(D(n) / D(denominator), 0)) for n in numerators]
    assert [int(v) for v in got] == expected


@given(st.lists(st.integers(0, INT64_MAX // 2), min_size=1, max_size=20), st.integers(1, 10**12))
def test_div_round_fast_path_agrees_with_the_general_path(numerators, denominator):
    fast = div_round(np.array(numerators, dtype=np.int64), denominator)
    general = div_round(np.array(numerators, dtype=object), denominator)
    assert fast.dtype == np.int64
    assert [int(v) for v in fast] == [int(v) for v in general]


def test_mul_switches_to_python_ints_instead_of_overflowing():
    big = np.array([4 * 10**9, 2], dtype=np.int64)
    product = mul(big, big)
    assert product.dtype == object
    assert product.tolist() == [16 * 10**18, 4]
    small = mul(np.array([3, 4], dtype=np.int64), np.array([5, 6], dtype=np.int64))
    assert small.dtype == np.int64 and small.tolist() == [15, 24]


def test_to_int64_refuses_values_beyond_the_range():
    with pytest.raises(ExactValueError):
        to_int64(np.array([2**63], dtype=object), what="amount")
    assert to_int64(np.array([2**62], dtype=object), what="amount").dtype == np.int64


def test_decimals_to_ints_is_exact_and_refuses_floats_places_and_missing():
    ints, na = decimals_to_ints(np.array([D("1.25"), D("-0.0001"), 3], dtype=object), scale=4, what="x")
    assert ints.tolist() == [12500, -1, 30000] and not na.any()
    with pytest.raises(ExactValueError, match="decimal places"):
        decimals_to_ints(np.array([D("1.00001")], dtype=object), scale=4, what="x")
    with pytest.raises(ExactValueError, match="decimal places"):
        decimals_to_ints(np.array([D("2"), D("-0.00005")], dtype=object), scale=4, what="x")
    with pytest.raises(ExactValueError, match="float"):
        decimals_to_ints(np.array([1.5], dtype=object), scale=4, what="x")
    with pytest.raises(ExactValueError):
        decimals_to_ints(np.array([None], dtype=object), scale=4, what="x")
    with pytest.raises(ExactValueError):
        decimals_to_ints(np.array([D("NaN")], dtype=object), scale=4, what="x")
    ints, na = decimals_to_ints(np.array([None, D("2")], dtype=object), scale=2, what="x", allow_na=True)
    assert ints.tolist() == [0, 200] and na.tolist() == [True, False]


def test_decimals_to_ints_keeps_huge_values_exact():
    ints, _ = decimals_to_ints(np.array([D("123456789012345678.123456789012")], dtype=object), scale=12, what="x")
    assert ints.dtype == object and ints.tolist() == [123456789012345678123456789012]


def test_reduce_scale_drops_shared_trailing_zeros_only():
    values, scale = reduce_scale(np.array([1_085_000, 2_000_000], dtype=np.int64), 6)
    assert (values.tolist(), scale) == ([1085, 2000], 3)
    values, scale = reduce_scale(np.array([1_085_001], dtype=np.int64), 6)
    assert (values.tolist(), scale) == ([1_085_001], 6)


def test_ints_to_decimals_gives_six_places_and_none_for_na():
    na = int(np.iinfo(np.int64).min)
    got = ints_to_decimals(np.array([5, 0, na, -1_500_000], dtype=np.int64), 6, na)
    assert got.tolist() == [D("0.000005"), D("0"), None, D("-1.5")]
    assert [d.as_tuple().exponent for d in got if d is not None] == [-6, -6, -6]


def test_reduce_scale_of_zeros_and_of_huge_scales():
    values, scale = reduce_scale(np.zeros(3, dtype=np.int64), 27)
    assert (values.tolist(), scale) == ([0, 0, 0], 0)
    values, scale = reduce_scale(np.array([10**25, 3 * 10**24], dtype=object), 27)
    assert (values.tolist(), scale) == ([10, 3], 3)
