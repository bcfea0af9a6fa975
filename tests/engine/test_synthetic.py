"""Generated inputs: deterministic, valid, realistic in shape, and computed like the reference computes them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from commissions.engine import compute_lines, tier_context, validate_inputs
from commissions.engine.synthetic import generate_engine_inputs
from tests.engine.compare import assert_micros_consistent, assert_same_lines
from tests.engine.perf_engine import measure
from tests.engine.reference import reference_lines

ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_same_inputs_other_seed_other_trades():
    first = generate_engine_inputs(300, 40, seed=3)
    again = generate_engine_inputs(300, 40, seed=3)
    for name in ("trades", "trade_chains", "plans", "rules", "rates", "rebates"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    other = generate_engine_inputs(300, 40, seed=4)
    assert not first.trades["lots"].equals(other.trades["lots"])


def test_generated_inputs_are_valid_and_have_the_requested_shape():
    inputs = generate_engine_inputs(500, 60, seed=1, chain_depth=4)
    validate_inputs(inputs)
    assert len(inputs.trades) == 500
    assert set(inputs.trade_chains.groupby("trade_id")["level"].max()) == {4}
    assert inputs.trades["instrument_id"].isna().any()  # some unresolved symbols
    assert (inputs.trades["quote"] == "GBP").any() and (inputs.trades["account_currency"] == "EUR").any()
    assert len(inputs.rebates) > 0


@pytest.mark.parametrize("model", ["differential", "cascade", "override"])
def test_engine_equals_reference_on_generated_inputs(model):
    inputs = generate_engine_inputs(400, 50, seed=11, model=model)
    lines = compute_lines(inputs, tier_context(inputs.trades, inputs.trade_chains, inputs.plans))
    assert_same_lines(lines, reference_lines(inputs))
    assert_micros_consistent(lines)
    assert (lines["amount_micros"] != 0).sum() > 100  # the generated world pays, not only zero lines


def test_perf_measure_reports_time_and_memory():
    result = measure(2_000, 50, 5, with_decimals=False)
    assert result["trades"] == 2_000 and result["lines"] > 2_000
    assert result["compute_lines_s"] >= 0 and result["peak_rss_mib"] > 0


def test_engine_import_pulls_in_no_django():
    code = (
        "import sys, commissions.engine, commissions.engine.synthetic; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
