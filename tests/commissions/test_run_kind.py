"""The commission run kind on the framework: a run reads the trades and accounts as they were when it started (later
data goes to the next run, never half into this one and never lost), and missing conversion rates are listed for the
whole run, across every chunk."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commissions.models import AttributionLine
from runs.models import Run
from runs.services.chunks import chunk_process
from runs.services.lifecycle import run_start
from runs.services.requests import run_request

from .runs_support import post_ok, setup_chain, setup_reference, trade

pytestmark = pytest.mark.django_db(transaction=True)


def _account(login: int, partner: str = "sub") -> dict:
    return {
        "server": "live1",
        "login": login,
        "currency": "USD",
        "group": "standard",
        "partner": partner,
        "earns_commission": True,
    }


def _paid(run_id: int) -> dict[tuple[int, str], Decimal]:
    """(ticket, partner) → amount of the run's paid lines."""
    lines = AttributionLine.objects.filter(run_id=run_id, partner__isnull=False).select_related("trade", "partner")
    return {(line.trade.ticket, line.partner.code): line.amount for line in lines if line.amount}


def test_a_run_reads_the_trades_and_accounts_of_when_it_started(staff_client, monkeypatch):
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    # Trade 2's login has no account yet: it is computed (as earning nothing) in the run's no-account chunk.
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2, login=2002)])
    monkeypatch.setattr("runs.services.requests.dispatch_start", lambda run_id: None)
    run = run_request(kind="commissions", period="2026-03").run
    run_start(run_id=run.pk, enqueue=lambda run_id, index: None)  # snapshot taken, chunks planned, none computed yet

    # Meanwhile: trade 1 is corrected, a new trade arrives, and login 2002's account is created.
    post_ok(staff_client, "/api/v1/trades/", [trade(1, lots="3.00"), trade(3)])
    post_ok(staff_client, "/api/v1/accounts/", [_account(2002)])

    for index in range(Run.objects.get(pk=run.pk).chunks_total):
        chunk_process(run_id=run.pk, index=index)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED
    # Exactly the data of when it started: trade 1 at its first version (1 lot), no trade 3, trade 2 without an IB.
    assert _paid(run.pk) == {(1, "sub"): Decimal(5), (1, "master"): Decimal(2)}
    no_ib = AttributionLine.objects.get(run=run, trade__ticket=2)
    assert (no_ib.reason, no_ib.amount, no_ib.trade.version) == ("no_ib", Decimal(0), 1)
    assert not AttributionLine.objects.filter(run=run, trade__ticket=3).exists()

    # The next run of the period has all of it: nothing was lost.
    monkeypatch.undo()  # starts are sent again (eager Celery: the run computes on commit)
    recomputed = run_request(kind="commissions", period="2026-03", recompute=True).run
    recomputed.refresh_from_db()
    assert recomputed.status == Run.Status.COMPUTED, recomputed.error
    assert _paid(recomputed.pk) == {
        (1, "sub"): Decimal(15),
        (1, "master"): Decimal(6),
        (2, "sub"): Decimal(5),
        (2, "master"): Decimal(2),
        (3, "sub"): Decimal(5),
        (3, "master"): Decimal(2),
    }


def test_missing_rates_across_three_chunks_are_all_listed(staff_client, settings):
    """Per-million plans need the quote currency's rate on each trade's close day; GBP has none. One account per
    chunk, each trading on another day: the run fails once, naming every missing (currency, day) of all chunks."""
    settings.IBEX_RUN_CHUNK_TRADES = 1
    setup_reference(staff_client)
    post_ok(
        staff_client,
        "/api/v1/instruments/",
        [
            {
                "symbol": "EURGBP",
                "group": "forex_minor",
                "base": "EUR",
                "quote": "GBP",
                "contract_size": "100000",
                "pip_size": "0.0001",
                "aliases": [],
            }
        ],
    )
    post_ok(staff_client, "/api/v1/programs/", {"code": "prog", "name": "Program"})
    post_ok(
        staff_client, "/api/v1/plans/", {"code": "pm", "name": "pm", "rules": [{"type": "per_million", "rate": "10"}]}
    )
    post_ok(
        staff_client,
        "/api/v1/partners/",
        {"code": "ib", "name": "IB", "program": "prog", "plan": "pm"},
    )
    post_ok(staff_client, "/api/v1/accounts/", [_account(login, "ib") for login in (3001, 3002, 3003)])
    days = {3001: "2026-03-03", 3002: "2026-03-10", 3003: "2026-03-17"}
    trades = [
        {**trade(login, symbol="EURGBP", login=login, close=f"{day}T12:00:00Z"), "open_time": f"{day}T10:00:00Z"}
        for login, day in days.items()
    ]
    post_ok(staff_client, "/api/v1/trades/", trades)
    run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    run = Run.objects.get(pk=run["id"])
    assert run.status == Run.Status.FAILED and run.chunks_total == 3
    missing = ["GBP 2026-03-03", "GBP 2026-03-10", "GBP 2026-03-17"]
    assert run.error_details == {"missing conversion rates (currency, day)": missing}
    assert run.error.startswith("3 of 3 chunk(s) failed: missing conversion rates (currency, day) (3): ")
    assert all(pair in run.error for pair in missing)
    assert not AttributionLine.objects.filter(run=run).exists()
