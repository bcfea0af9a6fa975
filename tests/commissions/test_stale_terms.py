"""A run approved on terms changed since it read its data (DOMAIN.md 3, 4.0): the approval warns, and restates the
trades the change reaches, so that the next open period pays them exactly the difference — those and no others."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from commissions.models import AttributionLine, Trade
from commissions.services.plans import plan_upsert

from .runs_support import EURUSD, USDJPY, post_ok, setup_chain, setup_reference, trade

pytestmark = pytest.mark.django_db(transaction=True)


def _computed_march(client) -> int:
    """The usual chain (master 7 → sub 5, account 1001 under sub) and an unrelated IB ``other`` (plan-master) with
    account 1002; one March trade each; March computed, not approved."""
    setup_reference(client)
    setup_chain(client)
    post_ok(client, "/api/v1/partners/", {"code": "other", "name": "Other", "program": "prog", "plan": "plan-master"})
    post_ok(client, "/api/v1/accounts/", [{"server": "live1", "login": 1002, "partner": "other"}])
    post_ok(client, "/api/v1/trades/", [trade(1), trade(2, login=1002)])
    return post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})["id"]


def _approve(client, run_id: int) -> dict[str, int]:
    answer = post_ok(client, f"/api/v1/runs/{run_id}/approve/", {})
    assert answer["status"] == "approved"
    return {w["code"]: w["count"] for w in answer["warnings"]}


def _versions() -> dict[int, int]:
    return {t.ticket: t.version for t in Trade.objects.filter(is_current=True)}


def _posted(ticket: int) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    lines = AttributionLine.objects.filter(trade__ticket=ticket, run__status="approved", partner__isnull=False)
    for line in lines.select_related("partner"):
        totals[line.partner.code] += line.amount
    return {code: amount for code, amount in totals.items() if amount}


def _run_april(client) -> None:
    run = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-04"})
    assert _approve(client, run["id"]) == {}


def test_a_plan_changed_back_into_the_period_restates_only_its_partners_trades(staff_client):
    run_id = _computed_march(staff_client)
    rules = [{"type": "per_lot", "rate": "6"}]
    body = {"code": "plan-sub", "name": "plan-sub", "rules": rules, "effective_from": "2026-03-05T00:00:00Z"}
    post_ok(staff_client, "/api/v1/plans/", body)
    assert _approve(staff_client, run_id) == {"dated_changes": 1}
    # March was paid at 5 + 2; the plan now says 6 from March 5: ticket 1 waits for April, ticket 2 is untouched.
    assert _versions() == {1: 2, 2: 1}
    assert (_posted(1), _posted(2)) == ({"sub": Decimal(5), "master": Decimal(2)}, {"other": Decimal(7)})
    _run_april(staff_client)
    assert (_posted(1), _posted(2)) == ({"sub": Decimal(6), "master": Decimal(1)}, {"other": Decimal(7)})
    adjusted = AttributionLine.objects.filter(trade__ticket=1, adjusts_period="2026-03").exclude(amount_micros=0)
    assert sorted((line.kind, line.amount) for line in adjusted) == [
        ("reversal", Decimal(-5)),
        ("reversal", Decimal(-2)),
        ("volume", Decimal(1)),
        ("volume", Decimal(6)),
    ]


def test_an_account_attributed_back_into_the_period_restates_that_accounts_trades(staff_client):
    run_id = _computed_march(staff_client)
    body = {"partner": "other", "effective_from": "2026-03-01T00:00:00Z"}
    post_ok(staff_client, "/api/v1/accounts/live1/1001/attribute/", body)
    assert _approve(staff_client, run_id) == {"dated_changes": 1}
    assert _versions() == {1: 2, 2: 1}
    _run_april(staff_client)
    assert (_posted(1), _posted(2)) == ({"other": Decimal(7)}, {"other": Decimal(7)})


def test_a_new_partner_set_up_meanwhile_restates_nothing(staff_client):
    run_id = _computed_march(staff_client)
    post_ok(staff_client, "/api/v1/partners/", {"code": "newbie", "name": "New", "program": "prog", "plan": "plan-sub"})
    assert _approve(staff_client, run_id) == {"dated_changes": 1}  # its first plan holds since always
    assert _versions() == {1: 1, 2: 1}


def test_a_rate_changed_in_the_period_restates_all_its_trades_and_adjusts_only_the_difference(staff_client):
    run_id = _computed_march(staff_client)
    post_ok(staff_client, "/api/v1/rates/", [{"currency": "EUR", "day": "2026-03-10", "usd_rate": "1.09"}])
    assert _approve(staff_client, run_id) == {"dated_changes": 1}
    assert _versions() == {1: 2, 2: 2}  # a rate names nobody: every trade of the period may be priced with it
    _run_april(staff_client)
    # Per-lot plans in USD do not use the EUR rate: each trade's adjustment nets to nothing.
    assert (_posted(1), _posted(2)) == ({"sub": Decimal(5), "master": Decimal(2)}, {"other": Decimal(7)})


def test_a_back_dated_change_uncommitted_when_the_run_starts_is_warned_about_and_restated(staff_client):
    """The change's insert happens before the run starts, its commit after the run computed: the run did not see
    it (it priced at 5 + 2), so the approval must warn and restate — whatever the clock of the insert said. Two
    connections: the writer holds its transaction open while the run is created and computed."""
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    written, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            with transaction.atomic():
                plan_upsert(
                    code="plan-sub",
                    name="plan-sub",
                    rules=[{"type": "per_lot", "rate": "6"}],
                    effective_from=datetime(2026, 3, 5, tzinfo=UTC),
                )
                written.set()
                release.wait(60)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            written.set()
            connection.close()

    writing = threading.Thread(target=writer)
    writing.start()
    assert written.wait(30)
    run_id = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})["id"]
    march = {
        line.partner.code: line.amount
        for line in AttributionLine.objects.filter(run_id=run_id, partner__isnull=False).select_related("partner")
    }
    release.set()
    writing.join(30)
    assert failure == [] and not writing.is_alive()
    assert march == {"sub": Decimal(5), "master": Decimal(2)}  # computed without the uncommitted change
    assert _approve(staff_client, run_id) == {"dated_changes": 1}
    assert _versions() == {1: 2}
    _run_april(staff_client)
    assert _posted(1) == {"sub": Decimal(6), "master": Decimal(1)}


def test_an_instrument_repriced_after_the_run_is_warned_about_and_restates_its_trades_only(staff_client):
    """An instrument is not dated, so changing its pricing fields between compute and approval is recorded as a
    change reaching the accounts that trade it: the approval warns and restates their trades; another account's
    trade of another instrument is untouched, and so is the instrument left alone."""
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(
        staff_client, "/api/v1/partners/", {"code": "other", "name": "Other", "program": "prog", "plan": "plan-master"}
    )
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 1002, "partner": "other"}])
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2, login=1002, symbol="USDJPY")])
    run_id = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})["id"]
    post_ok(staff_client, "/api/v1/instruments/", [{**EURUSD, "contract_size": "1000"}])
    assert _approve(staff_client, run_id) == {"dated_changes": 1}
    assert _versions() == {1: 2, 2: 1}
    # Approved March holds EURUSD's trade now: its pricing fields are fixed from here on.
    response = staff_client.post("/api/v1/instruments/", [EURUSD], format="json")
    assert response.status_code == 409, response.content


def test_an_instrument_nobody_trades_in_open_periods_records_no_change(staff_client):
    run_id = _computed_march(staff_client)
    post_ok(staff_client, "/api/v1/instruments/", [{**USDJPY, "contract_size": "1000"}])
    assert _approve(staff_client, run_id) == {}
    assert _versions() == {1: 1, 2: 1}
