"""Engine output as plain records, and a field-by-field comparison with the reference's records."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from mam.engine.fees import EVENT_COLUMNS, STATE_COLUMNS, FeeResult

DECIMAL_EVENT_FIELDS = (
    "base_sum",
    "management_fee",
    "equity_before_fee",
    "hwm_before",
    "hurdle",
    "performance_fee",
    "hwm_after",
    "fee_share",
    "manager_fee",
)


def _plain(value: object) -> object:
    if isinstance(value, Decimal) or value is None:
        return value
    if pd.isna(value):
        return None
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    return value


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    assert list(frame.columns) == columns
    return [{column: _plain(row[column]) for column in columns} for row in frame.to_dict("records")]


def event_records(result: FeeResult) -> list[dict]:
    return records(result.events, EVENT_COLUMNS)


def state_records(result: FeeResult) -> list[dict]:
    return records(result.states, STATE_COLUMNS)


def assert_same_records(actual: list[dict], expected: list[dict], what: str) -> None:
    assert len(actual) == len(expected), f"{what}: {len(actual)} rows, expected {len(expected)}\n{actual}\n{expected}"
    for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
        for field, value in want.items():
            assert field in got, f"{what}[{index}] has no {field}"
            if isinstance(value, Decimal):
                assert isinstance(got[field], Decimal), f"{what}[{index}].{field} is {type(got[field]).__name__}"
            assert got[field] == value, f"{what}[{index}].{field}: {got[field]!r} != {value!r}\n{got}\n{want}"


def assert_engine_equals_reference(result: FeeResult, reference: tuple[list[dict], list[dict]]) -> None:
    events, states = reference
    assert_same_records(event_records(result), events, "events")
    assert_same_records(state_records(result), states, "states")
