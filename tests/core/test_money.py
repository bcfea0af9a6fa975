from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import MoneyError, from_micros, minor_unit, parse_decimal, quantize, round_line, round_minor


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.005", "USD", "0.01"),
        ("-0.005", "USD", "-0.01"),  # half-up means ties away from zero, as PostgreSQL NUMERIC rounds
        ("0.004999", "USD", "0.00"),
        ("2.5", "JPY", "3"),
        ("1.0005", "KWD", "1.001"),
    ],
)
def test_round_minor_is_half_up_away_from_zero(amount, currency, expected):
    assert round_minor(Decimal(amount), currency) == Decimal(expected)


def test_round_line_keeps_six_places():
    assert round_line(Decimal("1.23456749")) == Decimal("1.234567")
    assert round_line(Decimal("1.2345675")) == Decimal("1.234568")


def test_quantize_refuses_floats():
    with pytest.raises(MoneyError):
        quantize(0.1, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", "", "1,5"])
def test_parse_decimal_rejects_non_numbers(text):
    with pytest.raises(MoneyError):
        parse_decimal(text)


def test_minor_units():
    assert (minor_unit("usd"), minor_unit("JPY"), minor_unit("KWD")) == (2, 0, 3)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=8, allow_nan=False, allow_infinity=False))
def test_round_minor_matches_postgres_style_rounding(value):
    # Independent reference: scale to integer cents and round ties away from zero by hand.
    scaled = value * 100
    whole = int(scaled)  # truncates toward zero
    frac = abs(scaled - whole)
    if frac >= Decimal("0.5"):
        whole += 1 if value > 0 else -1
    assert round_minor(value, "USD") == Decimal(whole) / 100


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_from_micros_is_exact_over_the_whole_bigint_range(micros):
    value = from_micros(micros)
    assert value * 1_000_000 == micros and value.as_tuple().exponent == -6


def test_from_micros_keeps_none():
    assert from_micros(None) is None
