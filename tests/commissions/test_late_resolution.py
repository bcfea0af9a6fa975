"""DOMAIN.md 3: a trade whose symbol is resolved after its period was approved is paid once, as an adjustment in
the next open period, and resolving it never edits the trade row that posted lines refer to."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commissions.models import AttributionLine, Trade

from .runs_support import EURUSD, post_ok, setup_chain
from .test_dating_api import approve, last_month, month_trade, months_ago, run, setup_reference_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_symbol_resolved_after_approval_is_paid_once_as_an_adjustment(staff_client):
    # Two ended months: the next open period that takes the adjustment must be approvable too.
    month, this = months_ago(2), last_month()
    setup_reference_for(staff_client, month, this)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month, symbol="EURUSD.pro"), month_trade(2, month)])
    locked = run(staff_client, month)
    posted = AttributionLine.objects.filter(run_id=locked["id"], trade__ticket=1)
    assert {(line.reason, line.amount) for line in posted} == {("unresolved_symbol", 0)}
    approve(staff_client, locked["id"])
    original = Trade.objects.values().get(ticket=1, version=1)

    post_ok(staff_client, "/api/v1/instruments/", [{**EURUSD, "aliases": ["EURUSD.pro"]}])

    # The posted row is untouched; the resolution is a new version with the instrument.
    assert Trade.objects.values().get(ticket=1, version=1) | {"is_current": True, "superseded_at": None} == original
    current = Trade.objects.get(ticket=1, is_current=True)
    assert (current.version, current.instrument.symbol) == (2, "EURUSD")
    # Re-sending the platform's row changes nothing.
    assert post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month, symbol="EURUSD.pro")])["unchanged"] == 1

    adjusting = run(staff_client, this)
    lines = {
        (line.partner.code, line.adjusts_period): line.amount
        for line in AttributionLine.objects.filter(run_id=adjusting["id"], trade__ticket=1).select_related("partner")
        if line.amount
    }
    assert lines == {("sub", month.label): Decimal(5), ("master", month.label): Decimal(2)}
    approve(staff_client, adjusting["id"])
    # Paid once: nothing is pending any more and a recompute of this month would find nothing new for it.
    total = sum(
        line.amount
        for line in AttributionLine.objects.filter(trade__ticket=1, run__status="approved")
        if line.partner_id
    )
    assert total == Decimal(7)


def test_an_unposted_trade_is_resolved_in_place(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month, symbol="EURUSD.pro")])
    post_ok(staff_client, "/api/v1/instruments/", [{**EURUSD, "aliases": ["EURUSD.pro"]}])
    trade = Trade.objects.get(ticket=1)
    assert (trade.version, trade.instrument.symbol) == (1, "EURUSD")


def test_a_trade_of_a_period_being_computed_is_resolved_as_a_new_version(staff_client):
    """A running run's lines are not visible yet, but it may be reading the row: the row is never edited."""
    from core.periods import server_period
    from runs.models import Run

    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month, symbol="EURUSD.pro")])
    bounds = server_period(month.label)
    Run.objects.create(
        kind="commissions", period=month.label, period_start=bounds.start, period_end=bounds.end, status="running"
    )
    post_ok(staff_client, "/api/v1/instruments/", [{**EURUSD, "aliases": ["EURUSD.pro"]}])
    first, second = Trade.objects.filter(ticket=1).order_by("version")
    assert (first.instrument_id, first.is_current) == (None, False)
    assert (second.version, second.instrument.symbol, second.is_current) == (2, "EURUSD", True)
