"""The ``fees`` kind on the run framework: months in order (a month waits for the previous one's approval), fees
unchanged by how groups are split into chunks, the fee share paid to the investor's IB at each crystallisation,
late data counted at approval, runs of one group, and ``manage.py run_fees``."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger.models import JournalTransaction
from mam.models import FeeLine
from mam.services.fee_run import PREDECESSOR_NOT_APPROVED
from runs.models import Run
from tests.commissions.runs_support import post_ok

from .fee_support import balances, equity, fee_group, flows, join, report, run_fees, setup_partners

pytestmark = pytest.mark.django_db(transaction=True)


def _request(client, period: str, **extra) -> dict:
    return post_ok(client, "/api/v1/runs/", {"kind": "fees", "period": period, **extra})


def _status(client, run: dict) -> dict:
    return client.get(f"/api/v1/runs/{run['id']}/").json()


def test_a_month_is_computed_only_once_the_previous_month_is_approved(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25")
    join(staff_client, 1001, joined="2026-02-01")
    equity(staff_client, {(1001, "2026-02-01"): "100000", (1001, "2026-03-31"): "110000"})

    march = _status(staff_client, _request(staff_client, "2026-03"))
    assert march["status"] == "failed" and "2026-02" in march["error"], march
    assert Run.objects.get(pk=march["id"]).error_details == {PREDECESSOR_NOT_APPROVED: ["fund 2026-02"]}
    assert not FeeLine.objects.exists()

    february = run_fees(staff_client, "2026-02", approve=False)
    assert _status(staff_client, _request(staff_client, "2026-03"))["status"] == "failed"  # computed is not enough
    post_ok(staff_client, f"/api/v1/runs/{february['id']}/approve/", {})
    run_fees(staff_client, "2026-03")
    (row,) = report(staff_client, "2026-03")[1001]
    assert Decimal(row["hwm_before"]) == Decimal(100000) and Decimal(row["performance_fee"]) == Decimal(2500)


def test_a_group_whose_members_join_this_month_needs_no_earlier_run(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25")
    join(staff_client, 1001, joined="2026-03-05")
    equity(staff_client, {(1001, "2026-03-05"): "1000", (1001, "2026-03-31"): "1100"})
    run_fees(staff_client, "2026-03")
    assert Decimal(report(staff_client, "2026-03")[1001][0]["performance_fee"]) == Decimal(25)


def _lines(run_id: int) -> set[tuple]:
    fields = [f.attname for f in FeeLine._meta.concrete_fields if f.attname not in ("id", "run_id")]
    return set(FeeLine.objects.filter(run_id=run_id).values_list(*fields))


def test_fees_do_not_depend_on_how_groups_are_split_into_chunks(staff_client, settings):
    setup_partners(staff_client)
    for code, logins in (("fund", (1001, 2002)), ("fund-b", (2003,)), ("fund-c", (2004, 2005))):
        fee_group(staff_client, code, management_rate="0.02", performance_rate="0.2", ib_fee_share_pct="15")
        for login in logins:
            join(staff_client, login, group=code, joined="2026-03-01")
    figures = {}
    for i, login in enumerate((1001, 2002, 2003, 2004, 2005)):
        figures |= {(login, "2026-03-01"): str(10000 * (i + 1)), (login, "2026-03-31"): str(10500 * (i + 1))}
    equity(staff_client, figures | {(2002, "2026-03-12"): "21000"})
    flows(
        staff_client,
        [("w-2002", 2002, "2026-03-12T10:00:00Z", "-2000"), ("d-2004", 2004, "2026-03-08T10:00:00Z", "500")],
    )

    settings.IBEX_RUN_CHUNK_FEE_MEMBERS = 1
    small = _request(staff_client, "2026-03")
    settings.IBEX_RUN_CHUNK_FEE_MEMBERS = 10_000
    whole = _request(staff_client, "2026-03", recompute=True)
    assert (_status(staff_client, small)["chunks_total"], _status(staff_client, whole)["chunks_total"]) == (3, 1)
    assert Run.objects.get(pk=small["id"]).status == Run.Status.SUPERSEDED
    assert _lines(small["id"]) == _lines(whole["id"]) and len(_lines(whole["id"])) > 10
    assert _status(staff_client, small)["totals"] == _status(staff_client, whole)["totals"]


def test_the_fee_share_goes_to_the_investors_ib_at_each_crystallisation(staff_client):
    setup_partners(staff_client)
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 2006}])  # a client without an IB
    fee_group(staff_client, performance_rate="0.25", ib_fee_share_pct="10")
    for login in (1001, 2003, 2006):
        join(staff_client, login, joined="2026-03-01")
    # 1001 withdraws on the 10th (its IB is sub), then moves to ib2 from the 20th: the month end pays ib2.
    flows(staff_client, [("w1", 1001, "2026-03-10T12:00:00Z", "-10000")])
    post_ok(
        staff_client,
        "/api/v1/accounts/live1/1001/attribute/",
        {"partner": "ib2", "effective_from": "2026-03-20T00:00:00Z"},
    )
    equity(
        staff_client,
        {
            (1001, "2026-03-01"): "100000",
            (1001, "2026-03-10"): "100000",
            (1001, "2026-03-31"): "101500",
            (2003, "2026-03-01"): "1000",
            (2003, "2026-03-31"): "1400",
            (2006, "2026-03-01"): "1000",
            (2006, "2026-03-31"): "1400",
        },
    )
    run_fees(staff_client, "2026-03")

    fees = report(staff_client, "2026-03")
    # The withdrawal: 25 % of 110 000 − 100 000; HWM 107 500, less 10 000 → 97 500. The month end: the equity less
    # the fee charged at the withdrawal (not yet in the snapshots), 101 500 − 2 500, over 97 500.
    assert [(r["reason"], Decimal(r["performance_fee"]), Decimal(r["fee_share"])) for r in fees[1001]] == [
        ("withdrawal", Decimal(2500), Decimal(250)),
        ("period_end", Decimal(375), Decimal("37.5")),
    ]
    shares = FeeLine.objects.filter(kind="fee_share").select_related("partner", "account")
    assert {(s.account.login, s.partner.code, s.amount) for s in shares} == {
        (1001, "sub", Decimal(250)),
        (1001, "ib2", Decimal("37.5")),
        (2003, "mgr", Decimal(10)),  # the manager is also 2003's IB: its partner payable gets the share
    }
    assert balances(partner="sub")["partner_payable"] == Decimal(250)
    assert balances(partner="ib2")["partner_payable"] == Decimal("37.50")
    # 2006 has no IB: the manager keeps all of its 100.
    fees_total = Decimal(2500 + 375 + 100 + 100)
    assert balances(partner="mgr") == {
        "manager_payable": fees_total - Decimal("297.50"),
        "partner_payable": Decimal(10),
    }


def test_data_arriving_after_the_run_read_it_is_counted_at_approval(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25")
    join(staff_client, 1001, joined="2026-03-01")
    equity(staff_client, {(1001, "2026-03-01"): "100000", (1001, "2026-03-31"): "108000"})
    run = run_fees(staff_client, "2026-03", approve=False)
    flows(staff_client, [("late", 1001, "2026-03-20T10:00:00Z", "5000")])
    equity(staff_client, {(1001, "2026-03-31"): "113000"})
    approved = post_ok(staff_client, f"/api/v1/runs/{run['id']}/approve/", {})
    assert {w["code"]: w["count"] for w in approved["warnings"]} == {"cash_flows": 1, "equity_snapshots": 1}
    assert Decimal(report(staff_client, "2026-03")[1001][0]["performance_fee"]) == Decimal(2000)  # as computed


def test_one_group_can_be_run_alone(staff_client):
    setup_partners(staff_client)
    for code, login in (("fund", 1001), ("fund-b", 2002)):
        fee_group(staff_client, code, performance_rate="0.25")
        join(staff_client, login, group=code, joined="2026-03-01")
        equity(staff_client, {(login, "2026-03-01"): "100", (login, "2026-03-31"): "140"})
    run_fees(staff_client, "2026-03", scope="fund")
    assert FeeLine.objects.filter(group__code="fund-b").count() == 0
    assert Decimal(report(staff_client, "2026-03")[1001][0]["performance_fee"]) == Decimal(10)
    whole = staff_client.post("/api/v1/runs/", {"kind": "fees", "period": "2026-03"}, format="json")
    assert whole.status_code == 409, whole.content  # fund's March is approved: a whole-period run would overlap it
    run_fees(staff_client, "2026-03", scope="fund-b")
    assert Decimal(report(staff_client, "2026-03", "fund-b")[2002][0]["performance_fee"]) == Decimal(10)
    unknown = staff_client.post("/api/v1/runs/", {"kind": "fees", "period": "2026-03", "scope": "nope"}, format="json")
    assert unknown.status_code == 400 and "scope" in unknown.json()


def test_run_fees_command_computes_approves_and_reports_a_refusal(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25")
    join(staff_client, 1001, joined="2026-03-01")
    equity(staff_client, {(1001, "2026-03-01"): "100000", (1001, "2026-03-31"): "108000"})
    out = StringIO()
    call_command("run_fees", "--period", "2026-03", "--approve", stdout=out, verbosity=0)
    assert "approved: 1 journal transaction(s) posted" in out.getvalue()
    assert "performance_fee:USD" in out.getvalue() and "charged to investors USD" in out.getvalue()
    assert Run.objects.get(kind="fees").status == Run.Status.APPROVED
    join(staff_client, 2002, joined="2026-04-05")  # a member from April: April is due before May
    equity(staff_client, {(2002, "2026-04-05"): "10"})
    with pytest.raises(CommandError, match="2026-04"):
        call_command("run_fees", "--period", "2026-05", stdout=StringIO(), verbosity=0)


def test_a_period_without_members_computes_empty_and_approves_posting_nothing(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25")
    run = run_fees(staff_client, "2026-03")
    assert (run["chunks_total"], run["totals"]) == (0, {})
    assert not FeeLine.objects.exists()
    assert not JournalTransaction.objects.exists()
