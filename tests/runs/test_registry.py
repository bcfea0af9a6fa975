"""The kind registry's helpers: chunk specs round-trip through JSON, chunk totals are exact."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runs.registry import ChunkFailure, UnknownRunKind, get_kind, kind_choices, kind_names

from .widgets import WidgetChunk, WidgetKind

KINDS = ["volume", "spread", "rebate", "rebate_funding"]


@given(
    st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)),
        min_size=1,
        max_size=60,
    )
)
def test_chunk_totals_are_the_exact_decimal_sums_even_beyond_int64(rows):
    lines = pd.DataFrame(rows, columns=["kind", "amount_micros"])
    expected: dict[str, Decimal] = {}
    for kind, micros in rows:  # by hand: Decimal sums of micro-units, however large
        expected[kind] = expected.get(kind, Decimal(0)) + Decimal(micros) / Decimal(1_000_000)
    assert WidgetKind().chunk_totals(lines) == expected


def test_chunk_specs_round_trip_and_unknown_types_are_refused():
    kind = WidgetKind()
    spec = WidgetChunk(widget_ids=(4, 5, 6))
    assert spec.to_json() == {"type": "widgets", "widget_ids": [4, 5, 6]}
    assert kind.decode_spec(spec.to_json()) == spec
    with pytest.raises(ChunkFailure, match="no chunk type 'accounts'"):
        kind.decode_spec({"type": "accounts", "account_ids": [1]})


def test_only_registered_kinds_are_known():
    assert kind_names() == ["commissions", "fees"]
    assert kind_choices() == [("commissions", "Commissions"), ("fees", "MAM fees")]
    with pytest.raises(UnknownRunKind, match="unknown run kind 'payouts': the registered kinds are commissions, fees"):
        get_kind("payouts")
