"""Adjustments of a locked period price volume tiers as a from-scratch computation of the period with its final
versions would: a corrected trade's old version is not earlier volume of its new version (DOMAIN.md 3, 4.3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commissions.adapters import Snapshot, engine_inputs, load_trades
from commissions.models import AttributionLine
from runs.models import Run
from tests.engine.reference import reference_lines

from .runs_support import post_ok, setup_reference, trade

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


def _setup_solo(client, *, tier_mode: str) -> None:
    """One IB on 5 USD per lot with bands 0-10 lots x1 and 10+ lots x2, and its one client account."""
    post_ok(client, "/api/v1/programs/", {"code": "prog", "name": "Program", "model": "differential"})
    post_ok(
        client,
        "/api/v1/plans/",
        {
            "code": "tiered",
            "name": "Tiered",
            "tier_mode": tier_mode,
            "tiers": [{"from_lots": "0", "multiplier": "1"}, {"from_lots": "10", "multiplier": "2"}],
            "rules": [{"type": "per_lot", "rate": "5"}],
        },
    )
    post_ok(client, "/api/v1/partners/", {"code": "solo", "name": "Solo IB", "program": "prog", "plan": "tiered"})
    post_ok(
        client,
        "/api/v1/accounts/",
        [{"server": "live1", "login": 1001, "currency": "USD", "group": "standard", "partner": "solo"}],
    )


def _trade(ticket: int, lots: str, day: int) -> dict:
    return {
        **trade(ticket, lots=lots, close=f"2026-03-{day:02d}T12:00:00Z"),
        "open_time": f"2026-03-{day:02d}T10:00:00Z",
    }


def _compute(client, period: str, *, approve: bool = True) -> int:
    run = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": period})
    assert client.get(f"/api/v1/runs/{run['id']}/").json()["status"] == "computed"
    if approve:
        post_ok(client, f"/api/v1/runs/{run['id']}/approve/", {})
    return run["id"]


def _paid(run_id: int) -> dict[tuple[int, int, str], Decimal]:
    """(ticket, version, kind) → amount of the partner's volume and reversal lines of the run."""
    return {
        (line.trade.ticket, line.trade.version, line.kind): line.amount
        for line in AttributionLine.objects.filter(run_id=run_id, partner__code="solo").select_related("trade")
    }


def _assert_as_from_scratch(*, locked_run: int, adjusting_run: int) -> None:
    """The adjusting run's lines for the versions it computes equal the independent Decimal reference's lines for
    them in a from-scratch computation of the locked period with its final versions (as of the adjusting run's
    snapshot), field by field."""
    locked = Run.objects.get(pk=locked_run)
    final = load_trades(run=locked, snapshot=Snapshot.of(Run.objects.get(pk=adjusting_run)))
    expected = reference_lines(engine_inputs(run=locked, trades=final))
    adjusted = AttributionLine.objects.filter(run_id=adjusting_run).exclude(kind="reversal")
    got = sorted(
        (line.trade_id, line.partner_id, line.kind, line.level, line.amount, line.tier, line.rate, line.multiplier)
        for line in adjusted
    )
    ids = {row[0] for row in got}
    want = sorted(
        (r.trade_id, r.partner_id, r.kind, r.level, r.amount, r.tier, r.rate, r.multiplier)
        for r in expected.itertuples(index=False)
        if r.trade_id in ids
    )
    assert got and got == want


def test_marginal_adjustments_count_the_final_versions_before_each_trade(staff_client):
    setup_reference(staff_client)
    _setup_solo(staff_client, tier_mode="marginal")
    post_ok(staff_client, "/api/v1/trades/", [_trade(1, "3.00", 5), _trade(2, "6.00", 10), _trade(3, "2.00", 15)])
    march = _compute(staff_client, "2026-03")
    # 0→3 lots at 5; 3→9 at 5; 9→11: one lot at 5, one at 10.
    assert _paid(march) == {(1, 1, "volume"): D(15), (2, 1, "volume"): D(30), (3, 1, "volume"): D(15)}

    # After approval: ticket 2 drops to 4 lots, ticket 1 moves to the 20th, ticket 4 (2 lots, the 12th) arrives.
    post_ok(staff_client, "/api/v1/trades/", [_trade(2, "4.00", 10), _trade(1, "3.00", 20), _trade(4, "2.00", 12)])
    april = _compute(staff_client, "2026-04")
    # The final March in order: #2 (4 lots, 0→4), #4 (2, 4→6), #3 (2, 6→8, kept as posted), #1 (3, 8→11).
    # Priced on the stored context, #2's new version would start at 9 lots (3 + its own old 6): 1×5 + 3×10 = 35;
    # #4 at 9: 15; #1 at 11 (its own old 3 lots included): 30.
    assert _paid(april) == {
        (1, 1, "reversal"): D(-15),
        (2, 1, "reversal"): D(-30),
        (2, 2, "volume"): D(20),  # 4 × 5
        (4, 1, "volume"): D(10),  # 2 × 5
        (1, 2, "volume"): D(20),  # 2 × 5 + 1 × 10
    }
    line = AttributionLine.objects.get(run_id=april, trade__ticket=1, trade__version=2, kind="volume")
    assert (line.tier, line.rate, line.multiplier, line.adjusts_period) == (0, D("6.666667"), D("1.333333"), "2026-03")
    _assert_as_from_scratch(locked_run=march, adjusting_run=april)

    # Later still: ticket 3 grows to 5 lots. The context is March's as it is now: #2 at 4 lots, #4 in, #1 after.
    post_ok(staff_client, "/api/v1/trades/", [_trade(3, "5.00", 15)])
    may = _compute(staff_client, "2026-05")
    # 6→11: 4 × 5 + 1 × 10 (the stored context would start it at 11: 50; without the corrections since, at 9: 45).
    assert _paid(may) == {(3, 1, "reversal"): D(-15), (3, 2, "volume"): D(30)}
    _assert_as_from_scratch(locked_run=march, adjusting_run=may)


def test_retroactive_adjustments_keep_the_band_the_period_was_paid_at(staff_client):
    setup_reference(staff_client)
    _setup_solo(staff_client, tier_mode="retroactive")
    post_ok(staff_client, "/api/v1/trades/", [_trade(1, "6.00", 5), _trade(2, "5.00", 10)])
    march = _compute(staff_client, "2026-03")
    assert _paid(march) == {(1, 1, "volume"): D(60), (2, 1, "volume"): D(50)}  # 11 lots: all at ×2
    post_ok(staff_client, "/api/v1/trades/", [_trade(2, "3.00", 10)])
    april = _compute(staff_client, "2026-04")
    # March was paid at ×2 and stays so: the new version too (3 × 5 × 2), though its final 9 lots reach only ×1.
    assert _paid(april) == {(2, 1, "reversal"): D(-50), (2, 2, "volume"): D(30)}
    line = AttributionLine.objects.get(run_id=april, trade__ticket=2, trade__version=2)
    assert (line.tier, line.multiplier) == (1, D(2))
