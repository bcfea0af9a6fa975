"""Fee runs over several approved months, through the API: each month starts from the state the previous approved
month carried (HWM, accrual day). Deposits and withdrawals in both HWM modes and both flow modes, quarterly
crystallisation (management fee accrued over the quarter from snapshots of earlier months), a member joining
mid-period (pro-rated hurdle) and one leaving. Expected figures come from a few lines of Decimal arithmetic written
here, never from the engine."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from mam.models import FeeLine, MemberFeeState

from .fee_support import equity, fee_group, flows, join, report, run_fees, setup_partners

pytestmark = pytest.mark.django_db(transaction=True)

RATE = Decimal("0.25")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _reference(months: list[list[tuple]], *, hwm: Decimal, hwm_mode: str, flow_mode: str) -> list[list[tuple]]:
    """Performance fees only, monthly: per month, per crystallisation, (fee, hwm_after the fee); events are
    ("deposit", amount), ("withdrawal", amount, equity just before it) and ("end", month-end equity)."""
    out = []
    for events in months:
        month = []
        for event in events:
            if event[0] == "deposit":
                hwm += event[1]
                continue
            equity_now = event[2] if event[0] == "withdrawal" else event[1]
            fee = _cents(RATE * max(Decimal(0), equity_now - hwm))
            if fee > 0:
                hwm = equity_now - fee if hwm_mode == "net" else equity_now
            month.append((fee, hwm))
            if event[0] == "withdrawal":
                amount = event[1]
                before = equity_now - fee
                if flow_mode == "absolute" or before <= 0:
                    hwm = max(Decimal(0), hwm - amount)
                else:
                    hwm = _cents(hwm * (before - amount) / before)
        out.append(month)
    return out


@pytest.mark.parametrize("hwm_mode", ["net", "gross"])
@pytest.mark.parametrize("flow_mode", ["absolute", "proportional"])
def test_three_approved_months_with_a_deposit_and_a_withdrawal_below_the_hwm(staff_client, hwm_mode, flow_mode):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25", hwm_mode=hwm_mode, flow_mode=flow_mode)
    join(staff_client, 1001, joined="2026-01-01")
    # January: +20 000 on the 10th (a deposit is never profit); February: −30 000 on the 12th while below the HWM.
    flows(
        staff_client,
        [("d1", 1001, "2026-01-10T09:00:00Z", "20000"), ("w1", 1001, "2026-02-12T09:00:00Z", "-30000")],
    )
    equity(
        staff_client,
        {
            (1001, "2026-01-01"): "100000",
            (1001, "2026-01-10"): "125000",
            (1001, "2026-01-31"): "130000",
            (1001, "2026-02-01"): "127500",
            (1001, "2026-02-12"): "90000",
            (1001, "2026-02-28"): "100000",
            (1001, "2026-03-31"): "104000",
        },
    )
    expected = _reference(
        [
            [("deposit", Decimal(20000)), ("end", Decimal(130000))],
            [("withdrawal", Decimal(30000), Decimal(120000)), ("end", Decimal(100000))],
            [("end", Decimal(104000))],
        ],
        hwm=Decimal(100000),
        hwm_mode=hwm_mode,
        flow_mode=flow_mode,
    )
    for period, wanted in zip(["2026-01", "2026-02", "2026-03"], expected, strict=True):
        run_fees(staff_client, period)
        rows = report(staff_client, period)[1001]
        assert [(Decimal(r["performance_fee"]), Decimal(r["hwm_after"])) for r in rows] == wanted, period
        # The next month starts from the HWM after every flow of this one.
        state = MemberFeeState.objects.get(period=period)
        assert state.hwm == wanted[-1][1]
    february = report(staff_client, "2026-02")[1001]
    assert [r["reason"] for r in february] == ["withdrawal", "period_end"]
    assert february[0]["day"] == "2026-02-12"


def test_quarterly_crystallisation_accrues_the_quarter_from_earlier_months_snapshots(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, management_rate="0.01", performance_rate="0.25", period="quarterly")
    join(staff_client, 1001, joined="2026-01-01")
    equity(
        staff_client,
        {
            (1001, "2026-01-01"): "100000",
            (1001, "2026-01-31"): "105000",
            (1001, "2026-02-28"): "110000",
            (1001, "2026-03-31"): "108000",
        },
    )
    for period in ("2026-01", "2026-02"):
        run_fees(staff_client, period)
        assert report(staff_client, period) == {}  # nothing crystallises inside the quarter
        state = MemberFeeState.objects.get(period=period)
        assert (state.hwm, state.accrue_from) == (Decimal(100000), None)
    run_fees(staff_client, "2026-03")
    # Every day of Q1 2026 (90), each with the latest snapshot on or before it.
    base = 30 * Decimal(100000) + 28 * Decimal(105000) + 31 * Decimal(110000) + Decimal(108000)
    management = _cents(base * Decimal("0.01") / 365)
    before_fee = Decimal(108000) - management
    performance = _cents(RATE * (before_fee - Decimal(100000)))
    (row,) = report(staff_client, "2026-03")[1001]
    assert row["days_accrued"] == 90
    assert (Decimal(row["management_fee"]), Decimal(row["performance_fee"])) == (management, performance)
    assert Decimal(row["hwm_after"]) == before_fee - performance
    state = MemberFeeState.objects.get(period="2026-03")
    assert (state.hwm, state.accrue_from.isoformat()) == (before_fee - performance, "2026-04-01")


def test_a_member_joining_mid_period_accrues_and_clears_a_hurdle_from_its_joining_day(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, management_rate="0.02", performance_rate="0.20", hurdle_pct="1")
    join(staff_client, 1001, joined="2026-03-01")
    join(staff_client, 2002, joined="2026-03-16")
    equity(
        staff_client,
        {
            (1001, "2026-03-01"): "50000",
            (1001, "2026-03-31"): "52000",
            (2002, "2026-03-16"): "50000",
            (2002, "2026-03-31"): "52000",
        },
    )
    run_fees(staff_client, "2026-03")
    fees = report(staff_client, "2026-03")
    for login, days in ((1001, 31), (2002, 16)):
        base = (days - 1) * Decimal(50000) + Decimal(52000)  # the days before the 31st at 50 000, then 52 000
        management = _cents(base * Decimal("0.02") / 365)
        hurdle = _cents(Decimal(50000) * Decimal("0.01") * days / 31)  # the part of March it was a member
        performance = _cents(Decimal("0.20") * (Decimal(52000) - management - Decimal(50000) - hurdle))
        (row,) = fees[login]
        assert row["days_accrued"] == days
        assert (Decimal(row["management_fee"]), Decimal(row["hurdle"])) == (management, hurdle), login
        assert Decimal(row["performance_fee"]) == performance, login


def test_a_member_leaving_crystallises_on_leaving_and_carries_no_state(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25")
    join(staff_client, 1001, joined="2026-03-01")
    equity(staff_client, {(1001, "2026-03-01"): "100000", (1001, "2026-03-31"): "104000"})
    run_fees(staff_client, "2026-03")
    join(staff_client, 1001, left="2026-04-20")
    equity(staff_client, {(1001, "2026-04-19"): "107000", (1001, "2026-04-30"): "1"})
    run_fees(staff_client, "2026-04")
    (row,) = report(staff_client, "2026-04")[1001]
    # Leaving on the 20th crystallises the days before it, on the 19th's equity; the HWM was 103 000 after March.
    assert (row["reason"], row["day"]) == ("leaving", "2026-04-20")
    assert Decimal(row["hwm_before"]) == Decimal(103000)
    assert Decimal(row["performance_fee"]) == _cents(RATE * Decimal(4000))
    assert not MemberFeeState.objects.filter(period="2026-04").exists()
    assert not FeeLine.objects.filter(period="2026-04", kind="state").exists()


def test_a_carried_snapshot_moves_by_the_flows_after_it_even_from_before_the_period(staff_client):
    """Snapshots are sparse: February's last one is on the 20th and a deposit follows on the 25th. March carries the
    20th's figure moved by that deposit (the run reads the flows after the snapshot it carries, not only March's)."""
    setup_partners(staff_client)
    fee_group(staff_client, management_rate="0.01", performance_rate="0.25")
    join(staff_client, 1001, joined="2026-02-01")
    flows(staff_client, [("d1", 1001, "2026-02-25T09:00:00Z", "10000")])
    equity(
        staff_client,
        {(1001, "2026-02-01"): "100000", (1001, "2026-02-20"): "110000", (1001, "2026-03-31"): "125000"},
    )
    run_fees(staff_client, "2026-02")
    # February: 19 days at 100 000, 5 at 110 000, 4 at 120 000 (the 20th's figure and the deposit).
    february_management = _cents((19 * 100000 + 5 * 110000 + 4 * 120000) * Decimal("0.01") / 365)
    before_fee = Decimal(120000) - february_management
    february_performance = _cents(RATE * (before_fee - Decimal(110000)))  # the HWM rose by the deposit
    (february,) = report(staff_client, "2026-02")[1001]
    assert (Decimal(february["management_fee"]), Decimal(february["performance_fee"])) == (
        february_management,
        february_performance,
    )
    run_fees(staff_client, "2026-03")
    (march,) = report(staff_client, "2026-03")[1001]
    assert Decimal(march["management_fee"]) == _cents((30 * 120000 + 125000) * Decimal("0.01") / 365)
    assert Decimal(march["hwm_before"]) == before_fee - february_performance
