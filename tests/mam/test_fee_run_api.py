"""The fee run end to end through the API (DOMAIN.md 5.3's worked example): a group with fee terms, a member, its
snapshots → ``POST /runs/`` kind ``fees`` → approve → ``GET /mam/groups/{code}/fees/`` and the ledger balances of
the investor, the manager and the investor's IB; approval posts once."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import DatabaseError, transaction

from ledger.models import JournalTransaction
from ledger.selectors import trial_balance, trial_balance_totals
from mam.models import FeeLine, MemberFeeState

from .fee_support import balances, equity, fee_group, join, report, run_fees, setup_partners

pytestmark = pytest.mark.django_db(transaction=True)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_domain_worked_example_net_25_percent(staff_client):
    """HWM 100 000, month-end equity 108 000, net, 25 % → fee 2 000, new HWM 106 000; 10 % of it to the IB."""
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25", hwm_mode="net", ib_fee_share_pct="10")
    join(staff_client, 1001, joined="2026-03-01")
    equity(staff_client, {(1001, "2026-03-01"): "100000", (1001, "2026-03-31"): "108000"})

    run = run_fees(staff_client, "2026-03")
    assert run["totals"] == {
        "fee_share:USD": "200.000000",
        "management_fee:USD": "0.000000",
        "performance_fee:USD": "2000.000000",
    }

    (row,) = report(staff_client, "2026-03")[1001]
    assert (row["day"], row["reason"], row["currency"]) == ("2026-03-31", "period_end", "USD")
    assert Decimal(row["performance_fee"]) == Decimal(2000) and Decimal(row["management_fee"]) == 0
    assert (Decimal(row["hwm_before"]), Decimal(row["hwm_after"])) == (Decimal(100000), Decimal(106000))
    assert Decimal(row["fee_share"]) == Decimal(200)
    assert all(isinstance(row[k], str) for k in ("performance_fee", "hwm_before", "hwm_after", "fee_share"))

    # The investor is charged 2 000; the manager is owed 1 800 and the investor's IB (sub) 200.
    assert balances(account=1001) == {"fee_charge": Decimal(-2000)}
    assert balances(partner="mgr") == {"manager_payable": Decimal(1800), "partner_payable": Decimal(0)}
    assert balances(partner="sub") == {"manager_payable": Decimal(0), "partner_payable": Decimal(200)}
    assert all(total == 0 for total in trial_balance_totals(trial_balance()).values())
    # The state the next month starts from.
    state = MemberFeeState.objects.get()
    assert (state.period, state.hwm, state.accrue_from.isoformat()) == ("2026-03", Decimal(106000), "2026-04-01")


def test_management_then_performance_with_daily_accrual(staff_client):
    """2 % a year on daily equity (365 basis), then 20 % above the HWM, of the equity less the management fee."""
    setup_partners(staff_client)
    fee_group(staff_client, management_rate="0.02", performance_rate="0.20")
    join(staff_client, 2002, joined="2026-03-01")
    equity(staff_client, {(2002, "2026-03-01"): "50000", (2002, "2026-03-16"): "52000", (2002, "2026-03-31"): "55000"})
    run_fees(staff_client, "2026-03")

    # Independent arithmetic: days 1–15 at 50 000, 16–30 at 52 000, 31 at 55 000.
    base = 15 * Decimal(50000) + 15 * Decimal(52000) + Decimal(55000)
    management = _cents(base * Decimal("0.02") / 365)
    before_fee = Decimal(55000) - management
    performance = _cents((before_fee - Decimal(50000)) * Decimal("0.20"))
    (row,) = report(staff_client, "2026-03")[2002]
    assert (Decimal(row["management_fee"]), Decimal(row["performance_fee"])) == (management, performance)
    assert row["days_accrued"] == 31 and Decimal(row["equity_before_fee"]) == before_fee
    assert Decimal(row["hwm_after"]) == before_fee - performance
    assert Decimal(row["fee_share"]) == 0  # no share in these terms
    assert balances(account=2002) == {"fee_charge": -(management + performance)}
    assert balances(partner="mgr")["manager_payable"] == management + performance
    assert not FeeLine.objects.filter(kind="fee_share").exists()


def test_approval_posts_once_and_an_approved_period_is_not_recomputed(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25", ib_fee_share_pct="10")
    join(staff_client, 1001, joined="2026-03-01")
    equity(staff_client, {(1001, "2026-03-01"): "100000", (1001, "2026-03-31"): "108000"})
    run = run_fees(staff_client, "2026-03")
    posted = JournalTransaction.objects.count()
    assert posted == 2  # the performance fee (manager's) and the fee share (sub's)

    again = staff_client.post(f"/api/v1/runs/{run['id']}/approve/", {}, format="json")
    assert again.status_code == 200 and again.json()["status"] == "approved"
    assert JournalTransaction.objects.count() == posted
    assert MemberFeeState.objects.count() == 1
    body = {"kind": "fees", "period": "2026-03"}
    recompute = staff_client.post("/api/v1/runs/", {**body, "recompute": True}, format="json")
    assert recompute.status_code == 409, recompute.content
    same = staff_client.post("/api/v1/runs/", body, format="json")
    assert same.status_code == 200 and same.json()["id"] == run["id"]
    assert balances(account=1001) == {"fee_charge": Decimal(-2000)}


def test_fee_lines_and_fee_states_refuse_update_and_delete(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25")
    join(staff_client, 1001, joined="2026-03-01")
    equity(staff_client, {(1001, "2026-03-01"): "100000", (1001, "2026-03-31"): "108000"})
    run_fees(staff_client, "2026-03")
    for change in (
        lambda: FeeLine.objects.filter(kind="performance_fee").update(amount_micros=1),
        lambda: FeeLine.objects.filter(kind="state").delete(),
        lambda: MemberFeeState.objects.update(hwm=Decimal(1)),
        lambda: MemberFeeState.objects.all().delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    assert FeeLine.objects.get(kind="performance_fee").amount == Decimal(2000)
    assert MemberFeeState.objects.get().hwm == Decimal(106000)
