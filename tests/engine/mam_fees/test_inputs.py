"""What the fee engine accepts and refuses, and amounts beyond int64 or finer than the minor unit staying exact."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.exact import ExactValueError
from mam.engine.fees import EVENT_COLUMNS, STATE_COLUMNS, FeeTerms, compute_fees
from mam.vocabulary import FlowMode, ManagementBasis
from tests.engine.mam_fees.compare import assert_engine_equals_reference
from tests.engine.mam_fees.reference import reference_fees
from tests.engine.mam_fees.strategies import flows_frame, members_frame, snapshots_frame

D = Decimal
MARCH, APRIL = date(2024, 3, 1), date(2024, 4, 1)


def _member(**fields) -> dict:
    row = {"server": "S", "login": 1, "places": 2, "joined": date(2024, 1, 1), "left": None, "hwm": None}
    return {**row, "accrue_from": None, **fields}


def _snapshot(day: date, equity: object, **fields) -> dict:
    return {"server": "S", "login": 1, "day": day, "balance": equity, "equity": equity, **fields}


def _run(members, snapshots=(), flows=(), terms=None, start=MARCH, end=APRIL):
    return compute_fees(
        terms=terms or FeeTerms(management_rate=D("0.02"), performance_rate=D("0.2")),
        period_start=start,
        period_end=end,
        members=members_frame(members),
        snapshots=snapshots_frame(list(snapshots)),
        flows=flows_frame(list(flows)),
    )


def test_no_members_gives_empty_frames_with_their_columns():
    result = _run([])
    assert list(result.events.columns) == EVENT_COLUMNS and result.events.empty
    assert list(result.states.columns) == STATE_COLUMNS and result.states.empty


def test_a_float_amount_is_refused():
    with pytest.raises(ExactValueError):
        _run([_member()], [_snapshot(MARCH, 100.5)])
    with pytest.raises(ExactValueError):
        _run([_member()], flows=[{"server": "S", "login": 1, "day": MARCH, "seq": 1, "amount": 5.0}])


@pytest.mark.parametrize(
    ("members", "snapshots", "flows"),
    [
        ([_member(), _member()], [], []),
        ([_member()], [_snapshot(MARCH, D(1)), _snapshot(MARCH, D(2))], []),
        (
            [_member()],
            [],
            [{"server": "S", "login": 1, "day": MARCH, "seq": 1, "amount": D(s)} for s in (1, 2)],
        ),
    ],
    ids=["member twice", "two snapshots of one day", "two flows with one seq"],
)
def test_duplicate_keys_are_refused(members, snapshots, flows):
    with pytest.raises(ValueError, match=r"twice|duplicate"):
        _run(members, snapshots, flows)


def test_a_missing_column_or_an_empty_period_is_refused():
    with pytest.raises(ValueError, match="missing columns"):
        compute_fees(
            terms=FeeTerms(),
            period_start=MARCH,
            period_end=APRIL,
            members=members_frame([_member()]).drop(columns=["hwm"]),
            snapshots=snapshots_frame([]),
            flows=flows_frame([]),
        )
    with pytest.raises(ValueError, match="after period_start"):
        _run([_member()], start=APRIL, end=APRIL)


@pytest.mark.parametrize(
    "fields",
    [
        {"management_rate": 0.02},
        {"performance_rate": D("-0.1")},
        {"performance_rate": D("1.5")},
        {"ib_fee_share_pct": D(101)},
        {"hurdle_pct": D("NaN")},
        {"flow_mode": "sideways"},
    ],
)
def test_terms_out_of_range_are_refused(fields):
    with pytest.raises((TypeError, ValueError)):
        FeeTerms(**fields)


def test_terms_take_vocabulary_values_as_text():
    terms = FeeTerms(management_basis="260", flow_mode="proportional")
    assert (terms.management_basis, terms.flow_mode) == (ManagementBasis.TRADING, FlowMode.PROPORTIONAL)


def test_amounts_beyond_int64_and_finer_than_the_minor_unit_stay_exact():
    # 8 places (a crypto unit) on a 12-digit equity: 10**20 and more at the engine's scale, past int64; one
    # snapshot has 10 places, more than any account's minor unit. Engine and reference must agree to the last digit.
    members = [
        _member(places=8, hwm=D("123456789012.12345678"), accrue_from=MARCH),
        _member(login=2, places=0, hwm=D("98765432109876"), accrue_from=MARCH),
    ]
    snapshots = []
    for n in range(-1, 31):
        day = MARCH + timedelta(days=n)
        snapshots.append(_snapshot(day, D("123456789012.12345678") + D("1000.0000000001") * (n + 1)))
        snapshots.append(_snapshot(day, D("98765432109876") + 12345 * n, login=2))
    flows = [
        {"server": "S", "login": 1, "day": date(2024, 3, 10), "seq": 1, "amount": D("-5000.5")},
        {"server": "S", "login": 2, "day": date(2024, 3, 20), "seq": 1, "amount": D("250000")},
    ]
    terms = FeeTerms(
        management_rate=D("0.0175"), performance_rate=D("0.2"), hurdle_pct=D("0.75"), flow_mode=FlowMode.PROPORTIONAL
    )
    kwargs = {
        "terms": terms,
        "period_start": MARCH,
        "period_end": APRIL,
        "members": members_frame(members),
        "snapshots": snapshots_frame(snapshots),
        "flows": flows_frame(flows),
    }
    result = compute_fees(**kwargs)
    assert_engine_equals_reference(result, reference_fees(**kwargs))
    assert len(result.events) == 3 and (result.events["management_fee"] > 0).all()
