"""DOMAIN.md's worked example and explicit multi-month scenarios, every figure worked by hand in the comments.

Amounts are in an account currency with 2 places unless said otherwise. A management rate of 3.65 % a year on the
calendar basis is 0.0001 of the base per day (0.0365 / 365), so 100 000 of equity accrues 10.00 a day.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from mam.engine.fees import FeeResult, FeeTerms, compute_fees
from mam.vocabulary import CrystallisationPeriod, FeeBase, FlowMode, HwmMode, ManagementBasis
from tests.engine.mam_fees.compare import assert_engine_equals_reference
from tests.engine.mam_fees.reference import first_of_month, reference_fees
from tests.engine.mam_fees.strategies import flows_frame, members_frame, snapshots_frame

D = Decimal
SERVER, LOGIN = "MT5-Live", 7001


def member(**fields) -> dict:
    row = {"server": SERVER, "login": LOGIN, "places": 2, "joined": date(2023, 6, 1), "left": None}
    return {**row, "hwm": None, "accrue_from": None, **fields}


def daily(first: date, last: date, equity: str, balance: str | None = None) -> list[dict]:
    """One end-of-day snapshot a day from ``first`` to ``last`` inclusive."""
    rows, day = [], first
    while day <= last:
        figures = {"balance": D(balance or equity), "equity": D(equity)}
        rows.append({"server": SERVER, "login": LOGIN, "day": day, **figures})
        day += timedelta(days=1)
    return rows


def flow(day: date, seq: int, amount: str) -> dict:
    return {"server": SERVER, "login": LOGIN, "day": day, "seq": seq, "amount": D(amount)}


def month(terms: FeeTerms, year: int, number: int, members: list[dict], snapshots, flows=()) -> FeeResult:
    """One monthly fee run; the engine is checked against the reference on the way."""
    kwargs = {
        "terms": terms,
        "period_start": date(year, number, 1),
        "period_end": first_of_month(year, number + 1),
        "members": members_frame(members),
        "snapshots": snapshots_frame(list(snapshots)),
        "flows": flows_frame(list(flows)),
    }
    result = compute_fees(**kwargs)
    assert_engine_equals_reference(result, reference_fees(**kwargs))
    return result


def months(terms: FeeTerms, first: dict, runs: list[tuple[int, int]], snapshots, flows=()) -> list[FeeResult]:
    """Consecutive monthly runs, each starting from the states the previous one left (as the fee run chains them)."""
    results, current = [], dict(first)
    for year, number in runs:
        result = month(terms, year, number, [current], snapshots, flows)
        results.append(result)
        (state,) = result.states.to_dict("records")
        current = {**current, "hwm": state["hwm"], "accrue_from": state["accrue_from"]}
    return results


def only_event(result: FeeResult) -> dict:
    (event,) = result.events.to_dict("records")
    return event


def test_domain_worked_example_net():
    # DOMAIN 5.3: net, 25 %: HWM 100 000, month-end equity 108 000 → fee 0.25 × 8 000 = 2 000, new HWM 106 000.
    result = month(
        FeeTerms(performance_rate=D("0.25")),
        2024,
        3,
        [member(hwm=D(100000), accrue_from=date(2024, 3, 1))],
        daily(date(2024, 2, 29), date(2024, 3, 30), "100000") + daily(date(2024, 3, 31), date(2024, 3, 31), "108000"),
    )
    event = only_event(result)
    assert (event["reason"], event["day"]) == ("period_end", date(2024, 3, 31))
    assert event["performance_fee"] == D(2000)
    assert event["hwm_after"] == D(106000)
    assert result.states.loc[0, "hwm"] == D(106000)
    assert result.states.loc[0, "accrue_from"] == date(2024, 4, 1)


def test_domain_worked_example_gross_keeps_the_equity_before_the_fee():
    # Gross: same fee, 2 000, but the HWM is the equity before it: 108 000.
    result = month(
        FeeTerms(performance_rate=D("0.25"), hwm_mode=HwmMode.GROSS),
        2024,
        3,
        [member(hwm=D(100000), accrue_from=date(2024, 3, 1))],
        daily(date(2024, 3, 31), date(2024, 3, 31), "108000"),
    )
    assert only_event(result)["performance_fee"] == D(2000)
    assert result.states.loc[0, "hwm"] == D(108000)


def test_a_tie_rounds_half_up_to_the_minor_unit():
    # 25 % of a 0.10 profit is 0.025: half-up gives 0.03 (banker's rounding would give 0.02). With 0 places (JPY),
    # 25 % of 10 is 2.5 → 3.
    for places, hwm, equity, fee in ((2, "1000.00", "1000.10", "0.03"), (0, "1000", "1010", "3")):
        result = month(
            FeeTerms(performance_rate=D("0.25")),
            2024,
            3,
            [member(hwm=D(hwm), accrue_from=date(2024, 3, 1), places=places)],
            daily(date(2024, 3, 31), date(2024, 3, 31), equity),
        )
        assert only_event(result)["performance_fee"] == D(fee)


@pytest.mark.parametrize(
    ("mode", "fees", "hwms"),
    [
        # Net: Jan 11 000 − 10 000 = 1 000 → 200, HWM 10 800; Feb 10 900 − 10 800 = 100 → 20, HWM 10 880;
        # Mar 10 500 < 10 880 → 0 (the loss carries forward); Apr 11 500 − 10 880 = 620 → 124, HWM 11 376.
        (HwmMode.NET, ["200", "20", "0", "124"], ["10800", "10880", "10880", "11376"]),
        # Gross: Jan 200, HWM 11 000; Feb 10 900 < 11 000 → 0; Mar 0; Apr 11 500 − 11 000 = 500 → 100, HWM 11 500.
        (HwmMode.GROSS, ["200", "0", "0", "100"], ["11000", "11000", "11000", "11500"]),
    ],
)
def test_net_and_gross_high_water_marks_over_four_months(mode, fees, hwms):
    snapshots = (
        daily(date(2023, 12, 31), date(2023, 12, 31), "10000")
        + daily(date(2024, 1, 31), date(2024, 1, 31), "11000")
        + daily(date(2024, 2, 29), date(2024, 2, 29), "10900")
        + daily(date(2024, 3, 31), date(2024, 3, 31), "10500")
        + daily(date(2024, 4, 30), date(2024, 4, 30), "11500")
    )
    results = months(
        FeeTerms(performance_rate=D("0.2"), hwm_mode=mode),
        member(hwm=D(10000), accrue_from=date(2024, 1, 1)),
        [(2024, 1), (2024, 2), (2024, 3), (2024, 4)],
        snapshots,
    )
    assert [only_event(r)["performance_fee"] for r in results] == [D(f) for f in fees]
    assert [r.states.loc[0, "hwm"] for r in results] == [D(h) for h in hwms]


@pytest.mark.parametrize(
    ("mode", "may_hwm", "june_fee", "june_hwm"),
    [
        # Absolute: the withdrawal of 4 000 (no fee: 8 000 is below 10 000) lowers the HWM to 6 000; June's
        # 5 600 is still below it → no fee.
        (FlowMode.ABSOLUTE, "6000", "0", "6000"),
        # Proportional: 10 000 × 4 000 / 8 000 = 5 000; June 5 600 − 5 000 = 600 → 120, HWM 5 480 (net).
        (FlowMode.PROPORTIONAL, "5000", "120", "5480"),
    ],
)
def test_a_withdrawal_after_losses_lowers_the_hwm_by_its_flow_mode(mode, may_hwm, june_fee, june_hwm):
    may_10 = date(2024, 5, 10)
    snapshots = (
        daily(date(2024, 4, 30), date(2024, 5, 9), "8000")
        + daily(may_10, date(2024, 5, 30), "4000")  # 8 000 before the withdrawal, 4 000 after
        + daily(date(2024, 5, 31), date(2024, 6, 29), "4500")
        + daily(date(2024, 6, 30), date(2024, 6, 30), "5600")
    )
    may, june = months(
        FeeTerms(performance_rate=D("0.2"), flow_mode=mode),
        member(hwm=D(10000), accrue_from=date(2024, 5, 1)),
        [(2024, 5), (2024, 6)],
        snapshots,
        [flow(may_10, 1, "-4000")],
    )
    withdrawal, may_end = may.events.to_dict("records")
    assert (withdrawal["reason"], withdrawal["day"], withdrawal["flow_seq"]) == ("withdrawal", may_10, 1)
    assert withdrawal["equity_before_fee"] == D(8000)  # end of day 4 000, less the day's withdrawal of −4 000
    assert (withdrawal["performance_fee"], withdrawal["hwm_after"]) == (D(0), D(10000))
    # May's end: 4 500 is below either HWM → no fee.
    assert (may_end["hwm_before"], may_end["performance_fee"]) == (D(may_hwm), D(0))
    assert only_event(june)["performance_fee"] == D(june_fee)
    assert june.states.loc[0, "hwm"] == D(june_hwm)


def test_two_withdrawals_bigger_than_the_profit_and_unpaid_fees_in_later_figures():
    # HWM 10 000; equity 11 000 from 30 April; on 15 May withdrawals of 3 000 (seq 1) and 1 000 (seq 2), end of day
    # 7 000 to the month's end. Management 3.65 %/365, performance 20 %, net, absolute.
    may_15 = date(2024, 5, 15)
    result = month(
        FeeTerms(management_rate=D("0.0365"), performance_rate=D("0.2")),
        2024,
        5,
        [member(hwm=D(10000), accrue_from=date(2024, 5, 1))],
        daily(date(2024, 4, 30), date(2024, 5, 14), "11000") + daily(may_15, date(2024, 5, 31), "7000"),
        [flow(may_15, 1, "-3000"), flow(may_15, 2, "-1000")],
    )
    first, second, end = result.events.to_dict("records")
    # First withdrawal: accrues 1–14 May, 14 days × 11 000 = 154 000 × 0.0001 = 15.40. Equity before it: 7 000 − (−3 000
    # − 1 000) = 11 000; less 15.40 = 10 984.60; 984.60 above the HWM → 196.92; HWM 10 787.68, then − 3 000.
    assert (first["days_accrued"], first["base_sum"], first["management_fee"]) == (14, D(154000), D("15.40"))
    assert (first["equity_before_fee"], first["performance_fee"]) == (D("10984.60"), D("196.92"))
    assert first["hwm_after"] == D("10787.68")
    # Second, the same day: nothing more to accrue. Equity before it: 7 000 − (−1 000) = 8 000, less the unpaid
    # 212.32 = 7 787.68 = the HWM → no fee; HWM 6 787.68.
    assert (second["days_accrued"], second["management_fee"]) == (0, D(0))
    assert (second["equity_before_fee"], second["hwm_before"], second["performance_fee"]) == (
        D("7787.68"),
        D("7787.68"),
        D(0),
    )
    # Month end: 15–31 May, 17 days on 7 000 − 212.32 = 6 787.68: 115 390.56 × 0.0001 = 11.539056 → 11.54.
    # Equity 7 000 − 212.32 − 11.54 = 6 776.14, below the HWM 6 787.68 → no performance fee.
    assert (end["days_accrued"], end["base_sum"], end["management_fee"]) == (17, D("115390.56"), D("11.54"))
    assert (end["equity_before_fee"], end["hwm_before"], end["performance_fee"]) == (
        D("6776.14"),
        D("6787.68"),
        D(0),
    )
    assert (result.states.loc[0, "hwm"], result.states.loc[0, "accrue_from"]) == (D("6787.68"), date(2024, 6, 1))


def test_quarterly_crystallisation_carries_accrual_to_the_quarter_end():
    # Q1 2024: equity 100 000 every day, 103 000 on 31 March; HWM 100 000; 3.65 %/365, 20 %.
    snapshots = daily(date(2023, 12, 31), date(2024, 3, 30), "100000") + daily(
        date(2024, 3, 31), date(2024, 3, 31), "103000"
    )
    january, february, march = months(
        FeeTerms(management_rate=D("0.0365"), performance_rate=D("0.2"), period=CrystallisationPeriod.QUARTERLY),
        member(hwm=D(100000), accrue_from=date(2024, 1, 1)),
        [(2024, 1), (2024, 2), (2024, 3)],
        snapshots,
    )
    # January and February close no quarter: no event, and the state keeps accruing from 1 January.
    for result in (january, february):
        assert result.events.empty
        assert (result.states.loc[0, "hwm"], result.states.loc[0, "accrue_from"]) == (D(100000), date(2024, 1, 1))
    # March: 91 days (31 + 29 + 31), 90 × 100 000 + 103 000 = 9 103 000 × 0.0001 = 910.30. Equity before the
    # performance fee 103 000 − 910.30 = 102 089.70; 2 089.70 × 20 % = 417.94; HWM 102 089.70 − 417.94 = 101 671.76.
    event = only_event(march)
    assert (event["days_accrued"], event["base_sum"], event["management_fee"]) == (91, D(9103000), D("910.30"))
    assert (event["equity_before_fee"], event["performance_fee"]) == (D("102089.70"), D("417.94"))
    assert (march.states.loc[0, "hwm"], march.states.loc[0, "accrue_from"]) == (D("101671.76"), date(2024, 4, 1))


def test_hurdle_per_month_and_pro_rated_by_a_withdrawal():
    terms = FeeTerms(performance_rate=D("0.2"), hurdle_pct=D(1))
    # A whole April (30 days): HWM 100 000, month end 103 000; hurdle 1 % × 100 000 = 1 000; 20 % of 2 000 = 400.
    whole = only_event(
        month(
            terms,
            2024,
            4,
            [member(hwm=D(100000), accrue_from=date(2024, 4, 1))],
            daily(date(2024, 4, 30), date(2024, 4, 30), "103000"),
        )
    )
    assert (whole["hurdle"], whole["performance_fee"], whole["hwm_after"]) == (D(1000), D(400), D(102600))

    # A withdrawal of 51 700 on 16 April splits the hurdle by calendar days. Equity 102 000 until the 15th.
    april_16 = date(2024, 4, 16)
    result = month(
        terms,
        2024,
        4,
        [member(hwm=D(100000), accrue_from=date(2024, 4, 1))],
        daily(date(2024, 3, 31), date(2024, 4, 15), "102000")
        + daily(april_16, date(2024, 4, 29), "50300")
        + daily(date(2024, 4, 30), date(2024, 4, 30), "50800"),
        [flow(april_16, 1, "-51700")],
    )
    withdrawal, end = result.events.to_dict("records")
    # 1–15 April, 15 of 30 days: hurdle 1 % × 100 000 × 15/30 = 500; 102 000 − 100 000 − 500 = 1 500 → 300;
    # HWM 101 700, less 51 700 = 50 000.
    assert (withdrawal["hurdle"], withdrawal["performance_fee"], withdrawal["hwm_after"]) == (D(500), D(300), D(101700))
    # 16–30 April, 15 days: hurdle 1 % × 50 000 × 15/30 = 250. Equity 50 800 less the unpaid 300 = 50 500;
    # 50 500 − 50 000 − 250 = 250 → 50; HWM 50 450.
    assert (end["hwm_before"], end["hurdle"], end["performance_fee"]) == (D(50000), D(250), D(50))
    assert result.states.loc[0, "hwm"] == D(50450)


def test_joining_mid_period_starts_the_hwm_at_the_joining_days_equity():
    # Joins 11 April 2024 with a deposit of 20 000 that day (already in its end-of-day equity, so not added to the
    # HWM again); deposits 5 000 on the 20th. Equity 20 000 on 11–19, 25 000 on 20–29, 26 000 on the 30th.
    april_11, april_20 = date(2024, 4, 11), date(2024, 4, 20)
    result = month(
        FeeTerms(management_rate=D("0.0365"), performance_rate=D("0.25")),
        2024,
        4,
        [member(joined=april_11)],
        daily(april_11, date(2024, 4, 19), "20000")
        + daily(april_20, date(2024, 4, 29), "25000")
        + daily(date(2024, 4, 30), date(2024, 4, 30), "26000"),
        [flow(april_11, 1, "20000"), flow(april_20, 1, "5000")],
    )
    event = only_event(result)
    # Accrues 11–30 April, 20 days: 9 × 20 000 + 10 × 25 000 + 26 000 = 456 000 × 0.0001 = 45.60.
    assert (event["days_accrued"], event["base_sum"], event["management_fee"]) == (20, D(456000), D("45.60"))
    # HWM 20 000 + 5 000 = 25 000; equity 26 000 − 45.60 = 25 954.40; 954.40 × 25 % = 238.60; HWM 25 715.80.
    assert (event["hwm_before"], event["equity_before_fee"]) == (D(25000), D("25954.40"))
    assert (event["performance_fee"], event["hwm_after"]) == (D("238.60"), D("25715.80"))


@pytest.mark.parametrize(
    ("basis", "rate", "days", "base_sum", "fee"),
    [
        # June 2024 starts on a Saturday: 20 weekdays, 10 weekend days. Trading basis: 20 × 100 000 = 2 000 000 ×
        # 0.026 / 260 = 200.00 — the weekend balances of 1 000 000 are never read.
        (ManagementBasis.TRADING, "0.026", 20, "2000000", "200.00"),
        # Calendar basis: 20 × 100 000 + 10 × 1 000 000 = 12 000 000 × 0.0365 / 365 = 1 200.00.
        (ManagementBasis.CALENDAR, "0.0365", 30, "12000000", "1200.00"),
    ],
)
def test_the_260_basis_accrues_on_weekdays_only(basis, rate, days, base_sum, fee):
    snapshots = []
    for day in (date(2024, 6, 1) + timedelta(days=n) for n in range(30)):
        balance = "1000000" if day.weekday() >= 5 else "100000"
        snapshots += daily(day, day, "50000", balance)  # the base is the balance, not the equity
    event = only_event(
        month(
            FeeTerms(management_rate=D(rate), management_basis=basis, management_base=FeeBase.BALANCE),
            2024,
            6,
            [member(hwm=D(50000), accrue_from=date(2024, 6, 1))],
            snapshots,
        )
    )
    assert (event["days_accrued"], event["base_sum"], event["management_fee"]) == (days, D(base_sum), D(fee))


def test_leaving_crystallises_on_the_leaving_day_and_shares_with_the_ib():
    # Leaves on 21 April (first day no longer a member) and withdraws everything that day: the withdrawal is
    # after membership and is ignored. Accrues 1–20 April: (19 × 100 000 + 101 000) × 0.0001 = 200.10; equity at
    # the end of the 20th 101 000 − 200.10 = 100 799.90; 20 % of 799.90 = 159.98. The IB gets 33.3333 % of 360.08
    # = 120.02654664 → 120.026547 (6 places), the manager the remaining 240.053453.
    april_21 = date(2024, 4, 21)
    result = month(
        FeeTerms(management_rate=D("0.0365"), performance_rate=D("0.2"), ib_fee_share_pct=D("33.3333")),
        2024,
        4,
        [member(hwm=D(100000), accrue_from=date(2024, 4, 1), left=april_21)],
        daily(date(2024, 3, 31), date(2024, 4, 19), "100000")
        + daily(date(2024, 4, 20), date(2024, 4, 20), "101000")
        + daily(april_21, april_21, "0"),
        [flow(april_21, 1, "-101000")],
    )
    event = only_event(result)
    assert (event["reason"], event["day"], event["days_accrued"]) == ("leaving", april_21, 20)
    assert (event["management_fee"], event["performance_fee"]) == (D("200.10"), D("159.98"))
    assert (event["fee_share"], event["manager_fee"]) == (D("120.026547"), D("240.053453"))
    assert result.states.empty  # no state after leaving
