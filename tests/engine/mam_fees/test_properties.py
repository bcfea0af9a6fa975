"""Invariants of the fee engine on generated worlds: chunking, deposits, withdrawals, auditable events."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal, localcontext

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.money import quantize
from mam.engine.fees import FeeTerms, compute_fees
from mam.vocabulary import CrystallisationReason, FlowMode, HwmMode, ManagementBasis
from tests.engine.mam_fees.compare import assert_same_records, event_records, state_records
from tests.engine.mam_fees.strategies import (
    PLACES,
    flows_frame,
    members_frame,
    money,
    periods,
    snapshots_frame,
    terms,
    worlds,
)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZERO = Decimal(0)


def _keys(frame: pd.DataFrame) -> list[tuple]:
    return list(zip(frame["server"], frame["login"], strict=True))


@PROPERTY
@given(worlds(max_members=8), st.data())
def test_members_split_into_any_chunks_give_the_same_result(world, data):
    whole = compute_fees(**world.kwargs())
    chunk_of = [data.draw(st.integers(0, 2)) for _ in range(len(world.members))]
    events, states = [], []
    for chunk in sorted(set(chunk_of)):
        members = world.members[[c == chunk for c in chunk_of]]
        mine = set(_keys(members))
        # As the fee run loads a chunk: only its own accounts' snapshots and flows (other rows are ignored anyway).
        snapshots = world.snapshots[[key in mine for key in _keys(world.snapshots)]]
        flows = world.flows[[key in mine for key in _keys(world.flows)]]
        part = compute_fees(
            terms=world.terms,
            period_start=world.period_start,
            period_end=world.period_end,
            members=members,
            snapshots=snapshots,
            flows=flows,
        )
        events.extend(event_records(part))
        states.extend(state_records(part))
    order = {key: index for index, key in enumerate(_keys(world.members))}
    # Within a member the chunk keeps the time order; sorting is stable.
    events.sort(key=lambda row: order[(row["server"], row["login"])])
    states.sort(key=lambda row: order[(row["server"], row["login"])])
    assert_same_records(events, event_records(whole), "events")
    assert_same_records(states, state_records(whole), "states")


@st.composite
def cash_only_worlds(draw):
    """Accounts whose equity moves only by deposits and withdrawals (no trading P&L), snapshots with gaps."""
    start, end = draw(periods())
    fee_terms = replace(draw(terms()), performance_rate=draw(st.sampled_from([Decimal("0.2"), Decimal("1")])))
    members, snapshots, flows = [], [], []
    for login in range(1, draw(st.integers(1, 4)) + 1):
        places = draw(st.sampled_from(PLACES))
        joined = start + timedelta(days=draw(st.integers(-40, 25)))
        key = {"server": "MT5", "login": login}
        members.append(
            {
                **key,
                "places": places,
                "joined": joined,
                "left": draw(st.one_of(st.none(), st.builds(lambda d: start + timedelta(days=d), st.integers(0, 35)))),
                "hwm": None,  # starts at the equity on joining (or before the period)
                "accrue_from": draw(st.one_of(st.none(), st.just(start))),
            }
        )
        account_flows = []
        for seq in range(1, draw(st.integers(1, 6)) + 1):
            day = start + timedelta(days=draw(st.integers(-45, (end - start).days)))
            amount = money(draw, places, 1, 5_000) * draw(st.sampled_from([1, 1, -1]))
            account_flows.append({**key, "day": day, "seq": seq, "amount": amount})
        flows.extend(account_flows)
        opening = money(draw, places, 0, 10_000)
        day = min(joined, start) - timedelta(days=5)
        while day < end:
            if draw(st.integers(0, 9)) < 7:  # about one day in three without a snapshot
                cash = sum((f["amount"] for f in account_flows if f["day"] <= day), ZERO)
                snapshots.append({**key, "day": day, "balance": opening + cash, "equity": opening + cash})
            day += timedelta(days=1)
    return fee_terms, start, end, members_frame(members), snapshots_frame(snapshots), flows_frame(flows)


@PROPERTY
@given(cash_only_worlds())
def test_deposits_and_withdrawals_alone_never_earn_a_performance_fee(world):
    fee_terms, start, end, members, snapshots, flows = world
    result = compute_fees(
        terms=fee_terms, period_start=start, period_end=end, members=members, snapshots=snapshots, flows=flows
    )
    charged = result.events[result.events["performance_fee"] != 0]
    assert charged.empty, charged.T


@PROPERTY
@given(
    st.sampled_from(PLACES),
    st.integers(1_000, 100_000),  # HWM in major units
    st.integers(1, 50_000),  # profit above it
    st.integers(1, 99),  # percent of the equity withdrawn
    st.sampled_from(list(FlowMode)),
    st.sampled_from(list(HwmMode)),
    st.sampled_from([Decimal("0.2"), Decimal("0.25"), Decimal("0.333")]),
    st.integers(2, 27),
)
def test_a_withdrawal_crystallises_before_it_lowers_the_hwm(places, hwm, profit, pct, flow_mode, hwm_mode, rate, day):
    start, end = date(2024, 5, 1), date(2024, 6, 1)
    hwm, equity = Decimal(hwm), Decimal(hwm + profit)
    withdrawn = quantize(equity * pct / 100, places)
    withdrawal_day = start + timedelta(days=day)
    snapshots = [
        {"server": "S", "login": 1, "day": start - timedelta(days=1), "balance": hwm, "equity": hwm},
        {"server": "S", "login": 1, "day": withdrawal_day - timedelta(days=1), "balance": equity, "equity": equity},
        {"server": "S", "login": 1, "day": withdrawal_day, "balance": equity - withdrawn, "equity": equity - withdrawn},
    ]
    result = compute_fees(
        terms=FeeTerms(performance_rate=rate, flow_mode=flow_mode, hwm_mode=hwm_mode),
        period_start=start,
        period_end=end,
        members=members_frame(
            [
                {
                    "server": "S",
                    "login": 1,
                    "places": places,
                    "joined": date(2020, 1, 1),
                    "left": None,
                    "hwm": hwm,
                    "accrue_from": start,
                }
            ]
        ),
        snapshots=snapshots_frame(snapshots),
        flows=flows_frame([{"server": "S", "login": 1, "day": withdrawal_day, "seq": 1, "amount": -withdrawn}]),
    )
    withdrawal, period_end = result.events.to_dict("records")
    assert withdrawal["reason"] == CrystallisationReason.WITHDRAWAL
    # Charged on the whole profit, at the HWM and equity from before the withdrawal ...
    assert withdrawal["hwm_before"] == hwm
    assert withdrawal["equity_before_fee"] == equity
    fee = quantize(rate * profit, places)
    assert withdrawal["performance_fee"] == fee
    # ... and not on what lowering the HWM first would leave (less, in proportional mode; same in absolute mode).
    charged_hwm = equity - fee if hwm_mode == HwmMode.NET else equity
    hwm_after = charged_hwm if fee else hwm  # a profit below one minor unit of fee charges nothing: the HWM stays
    assert withdrawal["hwm_after"] == hwm_after
    # Only then is the HWM lowered, as the next crystallisation sees it.
    if flow_mode == FlowMode.ABSOLUTE:
        lowered = hwm_after - withdrawn
    else:
        with localcontext() as context:
            context.prec = 60
            lowered = quantize(hwm_after * (equity - fee - withdrawn) / (equity - fee), places)
    # Never below 0: withdrawing more than is left after the fee (possible: the fee is not yet debited) empties it.
    assert period_end["hwm_before"] == max(lowered, ZERO)
    # The month end sees the equity after the withdrawal and the unpaid fee: nothing more to charge.
    assert period_end["performance_fee"] == 0
    assert result.states.loc[0, "hwm"] == max(lowered, ZERO)


@PROPERTY
@given(worlds())
def test_every_event_reproduces_its_fees_from_its_own_figures(world):
    result = compute_fees(**world.kwargs())
    places = dict(zip(_keys(world.members), world.members["places"], strict=True))
    fee_terms = world.terms
    days_per_year = 260 if fee_terms.management_basis == ManagementBasis.TRADING else 365
    for event in result.events.to_dict("records"):
        unit = places[(event["server"], event["login"])]
        with localcontext() as context:
            context.prec = 80
            management = quantize(event["base_sum"] * fee_terms.management_rate / days_per_year, unit)
            excess = event["equity_before_fee"] - event["hwm_before"] - event["hurdle"]
            performance = quantize(fee_terms.performance_rate * max(ZERO, excess), unit)
        assert event["management_fee"] == management
        assert event["performance_fee"] == performance
        assert event["fee_share"] + event["manager_fee"] == event["management_fee"] + event["performance_fee"]
        if event["performance_fee"]:
            net = event["equity_before_fee"] - event["performance_fee"]
            expected = net if fee_terms.hwm_mode == HwmMode.NET else event["equity_before_fee"]
            assert event["hwm_after"] == expected
        else:
            assert event["hwm_after"] == event["hwm_before"]
