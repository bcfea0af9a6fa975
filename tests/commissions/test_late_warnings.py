"""Approval counts what arrived after the run read its data (DOMAIN.md 3, issue: visibility of late data)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from .runs_support import EURUSD, post_ok, setup_chain, setup_reference, trade

pytestmark = pytest.mark.django_db(transaction=True)


def _computed_march(client) -> int:
    setup_reference(client)
    setup_chain(client)
    post_ok(
        client,
        "/api/v1/trades/",
        [trade(1), trade(2), trade(3), trade(4, login=5005), trade(9, close="2026-04-02T12:00:00Z")],
    )
    run = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    assert client.get(f"/api/v1/runs/{run['id']}/").json()["status"] == "computed"
    return run["id"]


def _arrive_late(client) -> None:
    post_ok(
        client,
        "/api/v1/trades/",
        [
            trade(5),  # a March trade that arrives late
            {**trade(1), "close_price": "1.08200"},  # a correction
            trade(2, status="cancelled"),  # a cancellation
            {**trade(3), "close_time": "2026-04-01T12:00:00Z"},  # a correction moving it out of March
            {**trade(9), "close_time": "2026-03-31T12:00:00Z"},  # an April trade corrected into March
        ],
    )
    post_ok(client, "/api/v1/accounts/", [{"server": "live1", "login": 5005, "partner": "sub"}])  # a late account


def test_approval_warns_with_counts_of_what_arrived_after_the_run_read_its_data(staff_client):
    run_id = _computed_march(staff_client)
    _arrive_late(staff_client)
    answer = post_ok(staff_client, f"/api/v1/runs/{run_id}/approve/", {})
    assert answer["status"] == "approved"
    counts = {w["code"]: w["count"] for w in answer["warnings"]}
    assert counts == {"late_trades": 1, "corrections": 3, "cancellations": 1, "late_accounts": 1}
    assert all("not in its figures" in w["message"] for w in answer["warnings"])
    # Approving again changes nothing and has nothing new to say.
    again = post_ok(staff_client, f"/api/v1/runs/{run_id}/approve/", {})
    assert again["status"] == "approved" and again["warnings"] == []


def test_symbols_resolved_after_the_run_read_its_data_are_counted_apart_from_corrections(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(
        staff_client,
        "/api/v1/trades/",
        [trade(1, symbol="EURUSD.pro"), trade(2, symbol="EURUSD.pro"), trade(3, symbol="EURUSD.pro"), trade(4)],
    )
    run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    # The platform corrects one unresolved trade (its price) and another to a known symbol: both are corrections.
    post_ok(
        staff_client,
        "/api/v1/trades/",
        [{**trade(2, symbol="EURUSD.pro"), "close_price": "1.08200"}, trade(3), {**trade(4), "lots": "2.00"}],
    )
    # An alias resolves tickets 1 and 2 (Ibex's own new versions: symbol resolutions, never corrections).
    post_ok(staff_client, "/api/v1/instruments/", [{**EURUSD, "aliases": ["EURUSD.pro"]}])
    answer = post_ok(staff_client, f"/api/v1/runs/{run['id']}/approve/", {})
    counts = {w["code"]: w["count"] for w in answer["warnings"]}
    assert counts == {"corrections": 3, "symbol_resolutions": 2}
    resolved = next(w for w in answer["warnings"] if w["code"] == "symbol_resolutions")
    assert resolved["message"].startswith("2 trade(s) of 2026-03 had their symbol resolved")


def test_an_approval_with_nothing_late_has_no_warnings(staff_client):
    run_id = _computed_march(staff_client)
    assert post_ok(staff_client, f"/api/v1/runs/{run_id}/approve/", {})["warnings"] == []


def test_the_command_prints_the_warnings(staff_client):
    _computed_march(staff_client)
    _arrive_late(staff_client)
    out = StringIO()
    call_command("run_commissions", "--period", "2026-03", "--approve", stdout=out)
    text = out.getvalue()
    assert "approved" in text and "Warning: 1 trade(s) closed in 2026-03 arrived after" in text
    assert "3 correction(s)" in text and "1 cancellation(s)" in text


def test_a_back_dated_change_after_the_run_started_is_warned_about(staff_client):
    run_id = _computed_march(staff_client)
    # The broker back-dates a plan change into March after March was computed, then approves without recomputing.
    response = staff_client.patch(
        "/api/v1/partners/sub/", {"plan": "plan-master", "effective_from": "2026-03-05T00:00:00Z"}, format="json"
    )
    assert response.status_code == 200, response.content
    post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub", "pct": "10"})  # a first rebate: since always
    answer = post_ok(staff_client, f"/api/v1/runs/{run_id}/approve/", {})
    assert {w["code"]: w["count"] for w in answer["warnings"]} == {"dated_changes": 2}


def test_a_change_dated_after_the_period_is_not_warned_about(staff_client):
    run_id = _computed_march(staff_client)
    post_ok(staff_client, "/api/v1/partners/sub/move/", {"parent": None, "effective_from": "2026-04-02T00:00:00Z"})
    assert post_ok(staff_client, f"/api/v1/runs/{run_id}/approve/", {})["warnings"] == []


def test_a_change_that_ends_before_the_period_is_not_warned_about(staff_client):
    """A rate of a February day changes February only; April's approval says nothing of it."""
    setup_reference(
        staff_client, [f"2026-02-{d:02d}" for d in range(1, 29)] + [f"2026-04-{d:02d}" for d in range(1, 31)]
    )
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(9, close="2026-04-02T12:00:00Z")])
    run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-04"})
    post_ok(staff_client, "/api/v1/rates/", [{"currency": "EUR", "day": "2026-02-10", "usd_rate": "1.09"}])
    assert post_ok(staff_client, f"/api/v1/runs/{run['id']}/approve/", {})["warnings"] == []
