"""Turn engine or reference line frames into comparable Python records."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

KEY = ("trade_id", "level", "kind", "partner_id", "account_id")
VALUES = ("rule_id", "base", "rate", "tier", "multiplier", "amount", "currency", "reason")
MICROS = {"amount": "amount_micros", "base": "base_micros", "rate": "rate_micros", "multiplier": "multiplier_micros"}


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _decimal(value: object) -> Decimal | None:
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return None
    assert isinstance(value, Decimal), f"expected Decimal, got {value!r}"
    return value


def _text(value: object) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def records(lines: pd.DataFrame) -> list[tuple]:
    """Sorted (key..., values...) tuples with None for NA and exact Decimals."""
    out = []
    for row in lines.to_dict("records"):
        out.append(
            (
                int(row["trade_id"]),
                int(row["level"]),
                str(row["kind"]),
                _int(row["partner_id"]),
                _int(row["account_id"]),
                _int(row["rule_id"]),
                _decimal(row["base"]),
                _decimal(row["rate"]),
                _int(row["tier"]),
                _decimal(row["multiplier"]),
                _decimal(row["amount"]),
                _text(row["currency"]),
                _text(row["reason"]),
            )
        )
    return sorted(out, key=lambda r: tuple((x is None, x if x is not None else 0) for x in r[:5]))


def assert_same_lines(engine: pd.DataFrame, reference: pd.DataFrame) -> None:
    got, expected = records(engine), records(reference)
    if got != expected:
        got_set, expected_set = set(got), set(expected)
        only_engine = sorted(got_set - expected_set, key=repr)[:8]
        only_reference = sorted(expected_set - got_set, key=repr)[:8]
        raise AssertionError(
            f"engine and reference differ ({len(got)} vs {len(expected)} lines)\n"
            f"only in engine: {only_engine}\nonly in reference: {only_reference}"
        )


def assert_micros_consistent(lines: pd.DataFrame) -> None:
    """Every *_micros column holds its Decimal column x 10**6, exactly; every Decimal has 6 places."""
    for name, micros in MICROS.items():
        for decimal_value, micro_value in zip(lines[name], lines[micros], strict=True):
            if decimal_value is None:
                assert pd.isna(micro_value)
                continue
            assert decimal_value.as_tuple().exponent == -6, decimal_value
            assert decimal_value.scaleb(6) == int(micro_value)
