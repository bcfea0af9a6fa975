"""Closing (DOMAIN.md 5.2): the engine equals the Decimal reference; examples for each rule and reason."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from mam.engine import VolumeSpec, close_partial
from tests.engine.mam.reference import reference_close
from tests.engine.mam.strategies import positions

D = Decimal
SPEC = VolumeSpec(step=D("0.01"), minimum=D("0.01"), maximum=D(100))
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame(*lots: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"server": ["live1"] * len(lots), "login": list(range(1, len(lots) + 1)), "lots_open": [D(x) for x in lots]}
    )


def closes(result: pd.DataFrame) -> list[tuple[Decimal, str]]:
    return list(zip(result["lots_closed"], result["reason"], strict=True))


@PROPERTY
@given(positions())
def test_engine_equals_reference_and_never_closes_more_than_open(case):
    frame_, master_open, close_lots, spec = case
    result = close_partial(frame_, master_open=master_open, close_lots=close_lots, spec=spec)
    assert closes(result) == reference_close(frame_, master_open=master_open, close_lots=close_lots, spec=spec)
    assert list(result.columns) == ["server", "login", "lots_closed", "reason"]
    assert list(result["login"]) == list(frame_["login"])
    for closed, open_ in zip(result["lots_closed"], frame_["lots_open"], strict=True):
        assert 0 <= closed <= open_
    if close_lots == master_open:
        assert list(result["lots_closed"]) == list(frame_["lots_open"])


def test_partial_close_is_proportional_rounded_half_up():
    # 0.50/0.35/0.15 of a 1.00 master; the master closes 0.30: 0.15, 0.105 -> 0.11, 0.045 -> 0.05.
    result = close_partial(frame("0.50", "0.35", "0.15"), master_open=D(1), close_lots=D("0.3"), spec=SPEC)
    assert closes(result) == [(D("0.15"), ""), (D("0.11"), "rounded"), (D("0.05"), "rounded")]


def test_full_close_closes_everything_whatever_its_size():
    result = close_partial(frame("0.50", "0.005", "0"), master_open=D("0.3"), close_lots=D("0.3"), spec=SPEC)
    assert closes(result) == [(D("0.50"), ""), (D("0.005"), ""), (D(0), "")]


def test_a_share_below_the_minimum_closes_nothing_now():
    spec = VolumeSpec(step=D("0.01"), minimum=D("0.1"), maximum=D(100))
    result = close_partial(frame("0.15", "1.00"), master_open=D(2), close_lots=D(1), spec=spec)
    # 0.075 -> 0.08 < 0.10: nothing now; 0.50 of 1.00.
    assert closes(result) == [(D(0), "below_minimum"), (D("0.50"), "")]


def test_a_rest_below_the_minimum_is_closed_with_the_share():
    spec = VolumeSpec(step=D("0.01"), minimum=D("0.1"), maximum=D(100))
    result = close_partial(frame("0.19", "0.30"), master_open=D(2), close_lots=D(1), spec=spec)
    # 0.095 -> 0.10 leaves 0.09 < 0.10 open: closes all 0.19; 0.15 of 0.30 leaves 0.15.
    assert closes(result) == [(D("0.19"), "remainder_below_minimum"), (D("0.15"), "")]


def test_a_position_off_the_step_is_clamped_to_what_is_open():
    result = close_partial(frame("0.015"), master_open=D("1"), close_lots=D("0.999"), spec=SPEC)
    # 0.014985 -> 0.01 (rest 0.005 < minimum -> closed fully)
    assert closes(result) == [(D("0.015"), "remainder_below_minimum")]
    result = close_partial(frame("0.015"), master_open=D("0.03"), close_lots=D("0.029"), spec=SPEC)
    # 0.0145 -> 0.01 (half-up at the step); rest 0.005: closed fully.
    assert closes(result)[0][0] == D("0.015")


def test_repeated_partial_closes_until_the_master_is_flat():
    open_ = frame("0.50", "0.35", "0.15")
    master = D(1)
    for close in (D("0.3"), D("0.3"), D("0.2")):
        result = close_partial(open_, master_open=master, close_lots=close, spec=SPEC)
        open_ = open_.assign(lots_open=[o - c for o, c in zip(open_["lots_open"], result["lots_closed"], strict=True)])
        master -= close
    result = close_partial(open_, master_open=master, close_lots=master, spec=SPEC)
    assert list(result["lots_closed"]) == list(open_["lots_open"])
    assert sum(open_["lots_open"]) - sum(result["lots_closed"]) == 0


@pytest.mark.parametrize(("master_open", "close_lots"), [(D(1), D(0)), (D(1), D("1.01")), (D(1), D(-1))])
def test_a_close_outside_the_open_volume_is_refused(master_open, close_lots):
    with pytest.raises(ValueError):
        close_partial(frame("0.50"), master_open=master_open, close_lots=close_lots, spec=SPEC)


def test_missing_or_negative_open_lots_are_refused():
    with pytest.raises(ValueError):
        close_partial(frame("-0.01"), master_open=D(1), close_lots=D("0.5"), spec=SPEC)
    bad = frame("0.5").assign(lots_open=[None])
    with pytest.raises(ValueError):
        close_partial(bad, master_open=D(1), close_lots=D("0.5"), spec=SPEC)
