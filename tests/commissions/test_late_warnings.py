"""Approval counts what arrived after the run read its data (DOMAIN.md 3, issue: visibility of late data)."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from partners.models import ClientAccount, Partner
from partners.services.accounts import account_attribute, accounts_upsert
from runs.services.approve import run_approval

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


def _first_ib(account_login: int) -> None:
    account = ClientAccount.objects.get(server="live1", login=account_login)
    account_attribute(account=account, partner=Partner.objects.get(code="sub"))  # no date: since always


def _new_account(account_login: int) -> None:
    accounts_upsert(rows=[{"server": "live1", "login": account_login, "partner": "sub"}])


@pytest.mark.parametrize(
    ("write", "expected"),
    [(_first_ib, {"dated_changes": 1}), (_new_account, {"late_accounts": 1})],
    ids=["account's first IB", "new account"],
)
def test_an_approval_waits_for_a_first_assignment_being_written_and_counts_it(staff_client, write, expected):
    """A first assignment (since always, not checked against approvals) is written under the approvals hold like any
    dated change: an approval that starts while it is uncommitted waits for it, then counts it — it is never missed
    because it was not visible yet. Two connections: the writer holds its transaction open until the approval is
    seen waiting on the hold (or has finished: then it did not wait, and its warnings show what it missed)."""
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 1002}])  # no IB yet
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2, login=1002), trade(3, login=5005)])
    run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    login = 1002 if write is _first_ib else 5005
    written, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def writer() -> None:
        try:
            with transaction.atomic():
                write(login)
                written.set()
                release.wait(60)
        finally:
            written.set()
            connection.close()

    def approver() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            outcome["late"] = {c.code: c.count for c in run_approval(run_id=run["id"]).late}
        finally:
            connection.close()

    writing = threading.Thread(target=writer)
    writing.start()
    assert written.wait(30)
    approving = threading.Thread(target=approver)
    approving.start()
    blocked = False
    for _ in range(600):  # until the approval waits on a lock, or has finished without waiting
        if not approving.is_alive():
            break
        if "pid" in outcome:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted AND locktype = 'advisory')",
                    [outcome["pid"]],
                )
                if cursor.fetchone()[0]:
                    blocked = True
                    break
        threading.Event().wait(0.05)
    release.set()
    writing.join(30)
    approving.join(60)
    assert not approving.is_alive()
    assert (blocked, outcome["late"]) == (True, expected)


def test_a_rate_of_the_month_before_reaches_the_period(staff_client):
    """A both-legs plan converts a trade's open leg at its open day's rate, and a trade opened in March may close in
    April: a March rate changed after April was computed is warned about, and once April is approved it is refused
    even though March is open."""
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(9, close="2026-04-02T12:00:00Z")])
    run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-04"})
    post_ok(staff_client, "/api/v1/rates/", [{"currency": "EUR", "day": "2026-03-31", "usd_rate": "1.09"}])
    answer = post_ok(staff_client, f"/api/v1/runs/{run['id']}/approve/", {})
    assert {w["code"]: w["count"] for w in answer["warnings"]} == {"dated_changes": 1}
    response = staff_client.post(
        "/api/v1/rates/", [{"currency": "EUR", "day": "2026-03-10", "usd_rate": "1.10"}], format="json"
    )
    assert response.status_code == 409, response.content
    assert response.json()["period"] == "2026-04"
