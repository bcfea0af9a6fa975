"""Trades changed or cancelled after their period was approved: reversals and adjustments in the next open period."""

from decimal import Decimal

import pytest

from commissions.models import AttributionLine

from .runs_support import post_ok, setup_chain, setup_reference, trade

pytestmark = pytest.mark.django_db(transaction=True)


def _compute(client, period, *, approve=True, recompute=False):
    run = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": period, "recompute": recompute})
    assert client.get(f"/api/v1/runs/{run['id']}/").json()["status"] == "computed"
    if approve:
        post_ok(client, f"/api/v1/runs/{run['id']}/approve/", {})
    return run["id"]


def _lines(run_id):
    return sorted(
        (
            line.trade.ticket,
            line.trade.version,
            line.partner.code,
            line.kind,
            line.level,
            line.amount,
            line.adjusts_period,
        )
        for line in AttributionLine.objects.filter(run_id=run_id, partner__isnull=False).select_related(
            "trade", "partner"
        )
    )


def test_change_and_cancel_after_approval_become_reversals_and_adjustments(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2)])
    march = _compute(staff_client, "2026-03")
    posted_march = _lines(march)

    changed = trade(1, lots="2.00")
    post_ok(staff_client, "/api/v1/trades/", [changed, trade(2, status="cancelled")])
    assert _lines(march) == posted_march  # posted lines are never edited

    april = _compute(staff_client, "2026-04", approve=False)
    d = Decimal
    assert _lines(april) == sorted(
        [
            (1, 1, "sub", "reversal", 1, d(-5), "2026-03"),
            (1, 1, "master", "reversal", 2, d(-2), "2026-03"),
            (1, 2, "sub", "volume", 1, d(10), "2026-03"),
            (1, 2, "master", "volume", 2, d(4), "2026-03"),
            (2, 1, "sub", "reversal", 1, d(-5), "2026-03"),
            (2, 1, "master", "reversal", 2, d(-2), "2026-03"),
            (2, 2, "sub", "volume", 1, d(0), "2026-03"),
            (2, 2, "master", "volume", 2, d(0), "2026-03"),
        ]
    )
    # Recomputing the open period gives the same adjustments; approving posts them once.
    again = _compute(staff_client, "2026-04", recompute=True)
    assert _lines(again) == _lines(april)
    statement = staff_client.get("/api/v1/partners/sub/statement/?period=2026-04").json()
    assert Decimal(statement["opening_balance"]) == Decimal(10)
    assert Decimal(statement["totals"]["reversal"]) == Decimal(-10)
    assert Decimal(statement["totals"]["volume"]) == Decimal(10)
    assert Decimal(statement["closing_balance"]) == Decimal(10)

    # Once carried by an approved run, nothing is pending for later periods.
    may = _compute(staff_client, "2026-05", approve=False)
    assert _lines(may) == []
