"""DOMAIN.md 3 and 4.0: a trade of a paid period that earned nothing for want of set-up — its account, its IB or
a partner's plan arrived later, holding since always — is paid once, as an adjustment in the next open period, and
the posted trade row is never edited."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from commissions.models import AttributionLine, Trade
from commissions.services.late_setup import trades_restate_newly_payable

from .runs_support import post_ok, setup_chain
from .test_dating_api import approve, last_month, month_trade, months_ago, run, setup_reference_for

pytestmark = pytest.mark.django_db(transaction=True)


def adjustment_amounts(run_id: int, ticket: int) -> dict[tuple[str, str, str], Decimal]:
    lines = AttributionLine.objects.filter(run_id=run_id, trade__ticket=ticket).select_related("partner")
    totals: dict = {}
    for line in lines:
        if line.amount and line.partner_id:
            key = (line.partner.code, line.kind, line.adjusts_period)
            totals[key] = totals.get(key, Decimal(0)) + line.amount
    return totals


def paid(ticket: int) -> dict[str, Decimal]:
    """What the approved runs posted for ``ticket`` per partner, all versions together."""
    totals: dict[str, Decimal] = {}
    for line in AttributionLine.objects.filter(trade__ticket=ticket, run__status="approved").select_related("partner"):
        if line.partner_id:
            totals[line.partner.code] = totals.get(line.partner.code, Decimal(0)) + line.amount
    return {code: amount for code, amount in totals.items() if amount}


def test_an_account_created_after_its_trades_period_was_paid_is_paid_as_an_adjustment(staff_client):
    # Two ended months: the next open period that takes the adjustment must be approvable too.
    month, this = months_ago(2), last_month()
    setup_reference_for(staff_client, month, this)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month, login=2002)])  # no account yet
    locked = run(staff_client, month)
    assert set(AttributionLine.objects.filter(run_id=locked["id"]).values_list("reason", flat=True)) == {"no_ib"}
    approve(staff_client, locked["id"])
    posted_row = Trade.objects.values().get(ticket=1, version=1)

    # The CRM syncs the account now: its first IB holds since always.
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 2002, "partner": "sub"}])
    adjusting = run(staff_client, this)
    assert adjustment_amounts(adjusting["id"], 1) == {
        ("sub", "volume", month.label): Decimal(5),
        ("master", "volume", month.label): Decimal(2),
    }
    # The posted row is as it was but for being superseded.
    assert Trade.objects.values().get(ticket=1, version=1) | {"is_current": True, "superseded_at": None} == posted_row
    approve(staff_client, adjusting["id"])
    assert paid(1) == {"sub": Decimal(5), "master": Decimal(2)}
    # Paid once: a later run's start finds nothing more to restate for it.
    assert trades_restate_newly_payable(before=datetime(2999, 1, 1, tzinfo=UTC)) == 0
    assert not Trade.objects.filter(ticket=1, version=3).exists()


def test_an_accounts_first_ib_given_after_approval_is_paid_as_an_adjustment(staff_client):
    # Two ended months: the next open period that takes the adjustment must be approvable too.
    month, this = months_ago(2), last_month()
    setup_reference_for(staff_client, month, this)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 2003}])  # no IB
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month, login=2003)])
    approve(staff_client, run(staff_client, month)["id"])
    assert paid(1) == {}
    response = staff_client.post("/api/v1/accounts/live1/2003/attribute/", {"partner": "sub"}, format="json")
    assert response.status_code in (200, 201), response.content
    approve(staff_client, run(staff_client, this)["id"])
    assert paid(1) == {"sub": Decimal(5), "master": Decimal(2)}


def test_a_partners_first_plan_after_approval_moves_money_from_the_upline_by_adjustment(staff_client):
    # Two ended months: the next open period that takes the adjustment must be approvable too.
    month, this = months_ago(2), last_month()
    setup_reference_for(staff_client, month, this)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/partners/", {"code": "newbie", "name": "New", "program": "prog", "parent": "master"})
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 2004, "partner": "newbie"}])
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month, login=2004)])
    locked = run(staff_client, month)
    no_plan = AttributionLine.objects.get(run_id=locked["id"], partner__code="newbie")
    assert no_plan.reason == "no_plan"
    approve(staff_client, locked["id"])
    # Without a plan the newbie earned nothing and did not raise the bar: the master earned its whole 7.
    assert paid(1) == {"master": Decimal(7)}
    response = staff_client.patch("/api/v1/partners/newbie/", {"plan": "plan-sub"}, format="json")
    assert response.status_code == 200, response.content
    adjusting = run(staff_client, this)
    assert adjustment_amounts(adjusting["id"], 1) == {
        ("master", "reversal", month.label): Decimal(-7),
        ("master", "volume", month.label): Decimal(2),
        ("newbie", "volume", month.label): Decimal(5),
    }
    approve(staff_client, adjusting["id"])
    assert paid(1) == {"newbie": Decimal(5), "master": Decimal(2)}
