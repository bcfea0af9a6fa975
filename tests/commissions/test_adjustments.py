"""Trades changed or cancelled after their period was approved: reversals and adjustments in the next open period."""

from decimal import Decimal

import pytest

from commissions.models import AttributionLine
from commissions.services.adjustments import has_pending_adjustments, pending_by_locked_period
from runs.models import Run

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


def test_a_trade_that_arrives_late_for_an_approved_period_is_paid_once_in_the_next_open_one(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    march = _compute(staff_client, "2026-03")
    # Trade 2 closed in March but reaches Ibex after March was approved; then it is corrected before April runs.
    post_ok(staff_client, "/api/v1/trades/", [trade(2)])
    post_ok(staff_client, "/api/v1/trades/", [trade(2, lots="3.00")])
    assert [t for t, *_ in _lines(march)] == [1, 1]  # March's posted lines are untouched
    april = _compute(staff_client, "2026-04", approve=False)
    d = Decimal
    # Never posted, so nothing to reverse: the current version's earnings, naming March.
    assert _lines(april) == [
        (2, 2, "master", "volume", 2, d(6), "2026-03"),
        (2, 2, "sub", "volume", 1, d(15), "2026-03"),
    ]
    post_ok(staff_client, f"/api/v1/runs/{april}/approve/", {})
    statement = staff_client.get("/api/v1/partners/sub/statement/?period=2026-04").json()
    assert Decimal(statement["earned"]) == d(15)
    # Paid once: later periods carry nothing for it.
    assert _lines(_compute(staff_client, "2026-05", approve=False)) == []


@pytest.mark.parametrize(
    ("new_close", "carried_by"),
    [
        ("2026-04-20T12:00:00Z", "2026-04"),  # into the open period: April's own run pays it, April reverses March
        ("2026-05-05T12:00:00Z", "2026-05"),  # two periods on: April reverses March, May's own run pays it
    ],
)
def test_a_correction_that_moves_a_trade_out_of_an_approved_period_reverses_what_it_paid(
    staff_client, new_close, carried_by
):
    setup_reference(
        staff_client, [f"2026-{m:02d}-{d:02d}" for m, n in ((3, 31), (4, 30), (5, 31)) for d in range(1, n + 1)]
    )
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    _compute(staff_client, "2026-03")
    post_ok(staff_client, "/api/v1/trades/", [{**trade(1), "close_time": new_close}])
    april = _compute(staff_client, "2026-04")
    may = _compute(staff_client, "2026-05")
    d = Decimal
    reversal = [(1, 1, "master", "reversal", 2, d(-2), "2026-03"), (1, 1, "sub", "reversal", 1, d(-5), "2026-03")]
    paid = [(1, 2, "master", "volume", 2, d(2), ""), (1, 2, "sub", "volume", 1, d(5), "")]
    expected = {"2026-04": (reversal + paid, []), "2026-05": (reversal, paid)}[carried_by]
    assert (_lines(april), _lines(may)) == (sorted(expected[0]), sorted(expected[1]))
    # Over the three periods the trade is paid exactly once.
    earned = sum(
        Decimal(staff_client.get(f"/api/v1/partners/sub/statement/?period={p}").json()["earned"])
        for p in ("2026-03", "2026-04", "2026-05")
    )
    assert earned == d(5)


def test_the_admin_shows_per_locked_period_what_is_pending_for_adjustment(staff_client, admin_client):
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2)])
    _compute(staff_client, "2026-03")
    # After approval: one late trade, one correction (to compute and to reverse), one cancellation (the same).
    post_ok(staff_client, "/api/v1/trades/", [trade(3), trade(1, lots="2.00"), trade(2, status="cancelled")])
    url = "/admin/commissions/lockedcommissionperiod/"
    page = admin_client.get(url)
    assert page.status_code == 200
    [march] = page.context["cl"].result_list
    assert (march.period, march.to_compute, march.to_reverse) == ("2026-03", 3, 2)
    # Once April's run carries them (computed, even before approval), nothing is pending any more.
    _compute(staff_client, "2026-04", approve=False)
    [march] = admin_client.get(url).context["cl"].result_list
    assert (march.to_compute, march.to_reverse) == (0, 0)


def test_a_correction_of_a_trade_posted_at_zero_leaves_nothing_pending(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(7, login=4242)])  # no account: posted at 0 (no_ib)
    _compute(staff_client, "2026-03")
    post_ok(staff_client, "/api/v1/trades/", [trade(7, login=4242, lots="2.00")])
    april = _compute(staff_client, "2026-04")
    assert _lines(april) == []  # no partner lines: nothing was paid, nothing is owed
    assert pending_by_locked_period() == {}
    assert not has_pending_adjustments(run=Run.objects.get(pk=_compute(staff_client, "2026-05", approve=False)))


def test_late_versions_are_queued_and_dropped_once_adjusted(staff_client):
    """The adjustments start from a queue of late versions (never from the locked period's trades): a correction
    after approval and a trade ingested between compute and approval are queued; both leave once paid."""
    from commissions.models import LateTradeVersion, Trade

    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2)])
    march = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})["id"]
    post_ok(staff_client, "/api/v1/trades/", [trade(3)])  # after March was computed, before it is approved
    assert not LateTradeVersion.objects.exists()  # March is not locked yet
    post_ok(staff_client, f"/api/v1/runs/{march}/approve/", {})
    post_ok(staff_client, "/api/v1/trades/", [trade(1, lots="2.00"), trade(9, close="2026-04-02T12:00:00Z")])
    late = set(LateTradeVersion.objects.values_list("trade__ticket", "trade__version"))
    assert late == {(3, 1), (1, 2)}  # April's own trade 9 is not late
    april = _compute(staff_client, "2026-04")
    assert {(t, v) for t, v, *_ in _lines(april) if t != 9} == {(1, 1), (1, 2), (3, 1)}
    assert not LateTradeVersion.objects.exists()
    assert Trade.objects.filter(ticket=3).count() == 1
