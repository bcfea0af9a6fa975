"""The payout API as finance uses it: make a batch, approve it as another user, export the CSV (parsed back with the
``csv`` module to exactly the journal's amounts, formula-safe), mark it paid — once, however many requests."""

from __future__ import annotations

import csv
import io
import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ledger.models import JournalEntry, JournalTransaction, PayoutBatch, PayoutLine
from tests.twofactor import verified_login

from .payout_support import earn, partner, user

NASTY = ['=HYPERLINK("http://x")', "+cmd", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]


def _client(name: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user(name))[0].key}")
    return client


def _make(maker: APIClient, period: str = "2026-01") -> dict:
    response = maker.post("/api/v1/payout-batches/", {"period": period}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
def test_the_batch_csv_parses_back_to_the_journal_and_neutralises_formulas():
    partners = [partner(f"ib{i}", name=name) for i, name in enumerate(NASTY)]
    partners.append(partner("plain", name='Plain, Name "Q"'))
    for i, who in enumerate(partners):
        earn(who, f"{100 + i}.{i:02d}", period="2026-01")
    maker, checker = _client("maker"), _client("checker")
    batch = _make(maker)
    assert batch["status"] == "draft" and batch["created_by"] == "maker"
    assert batch["totals"] == [{"status": "to_pay", "currency": "USD", "lines": 7, "amount": "721.21"}]
    refused = maker.post(f"/api/v1/payout-batches/{batch['id']}/approve/", {}, format="json")
    assert refused.status_code == 403 and "maker-checker" in refused.json()["detail"]
    assert (
        checker.post(f"/api/v1/payout-batches/{batch['id']}/approve/", {}, format="json").json()["approved_by"]
        == "checker"
    )
    export = maker.get(f"/api/v1/payout-batches/{batch['id']}/export/")
    assert export.status_code == 200 and export["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(export.streaming_content).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["partner_name"] for r in rows[: len(NASTY)]] == [f"'{name}" for name in NASTY]
    assert rows[-1]["partner_name"] == 'Plain, Name "Q"'
    assert {r["period_start"] for r in rows} == {"2026-01-01"} and {r["period_end"] for r in rows} == {"2026-01-31"}
    paid = maker.post(f"/api/v1/payout-batches/{batch['id']}/mark-paid/", {}, format="json")
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    posted = {
        e.account.partner.code: e.amount
        for e in JournalEntry.objects.filter(
            transaction__kind="payout", account__purpose="partner_payable"
        ).select_related("account__partner")
    }
    assert {r["partner_code"]: Decimal(r["amount"]) for r in rows} == posted
    assert all(r["reference"] == f"IBEX-{batch['id']}-{r['partner_code']}" for r in rows)


@pytest.mark.django_db
def test_lines_and_payables_show_amounts_as_strings():
    ib = partner("ib", payout_account="")
    earn(ib, "12.345678", period="2026-01")  # a payable leg is posted at the minor unit: 12.35
    maker = _client("maker")
    assert maker.get("/api/v1/payables/").json()["results"] == [
        {
            "partner": "ib",
            "purpose": "partner_payable",
            "currency": "USD",
            "owed": "12.35",
            "held": "0.00",
            "available": "12.35",
        }
    ]
    batch = _make(maker)
    line = maker.get(f"/api/v1/payout-batches/{batch['id']}/lines/").json()["results"][0]
    assert (line["status"], line["amount"], line["reason"]) == (
        "held",
        "12.35",
        "Missing payout details: payout account.",
    )
    assert line["items"] == [
        {
            "purpose": "partner_payable",
            "currency": "USD",
            "amount": "12.35",
            "rate": "1.000000000000000000",
            "rate_day": "2026-01-31",
            "transaction": None,
        }
    ]


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_pay_requests_pay_once():
    who = partner("ib")
    earn(who, "50.00", period="2026-01")
    maker, checker = _client("maker"), _client("checker")
    batch = _make(maker)
    checker.post(f"/api/v1/payout-batches/{batch['id']}/approve/", {}, format="json")
    b"".join(maker.get(f"/api/v1/payout-batches/{batch['id']}/export/").streaming_content)
    barrier, answers = threading.Barrier(10), []

    def pay():
        try:
            client = _client("maker")
            barrier.wait()
            answers.append(
                client.post(f"/api/v1/payout-batches/{batch['id']}/mark-paid/", {}, format="json").status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 10
    assert JournalTransaction.objects.filter(kind="payout").count() == 1
    assert PayoutBatch.objects.get(pk=batch["id"]).status == PayoutBatch.Status.PAID


@pytest.mark.django_db(transaction=True)
def test_concurrent_makes_hold_the_money_once_and_concurrent_approvals_approve_once():
    """Three makers at once for one period: the money is in exactly one batch (the others find it held). Three
    checkers approving that batch at once: one approval, which every answer shows."""
    who = partner("ib")
    earn(who, "50.00", period="2026-01")
    for name in ("maker", "checker1", "checker2", "checker3"):
        _client(name)  # the users and their tokens exist before the threads: none races to create them

    def at_once(step, names) -> list:
        barrier, answers = threading.Barrier(len(names)), []

        def run(name):
            try:
                client = _client(name)
                barrier.wait()
                answers.append(step(client))
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    made = at_once(lambda c: c.post("/api/v1/payout-batches/", {"period": "2026-01"}, format="json"), ["maker"] * 3)
    assert [r.status_code for r in made] == [201] * 3
    to_pay = PayoutLine.objects.filter(status="to_pay")
    assert list(to_pay.values_list("amount", flat=True)) == [Decimal("50.00")]  # in one batch, once
    assert PayoutBatch.objects.count() == 3
    batch = to_pay.get().batch
    url = f"/api/v1/payout-batches/{batch.pk}/approve/"
    approved = at_once(lambda c: c.post(url, {}, format="json"), ["checker1", "checker2", "checker3"])
    assert [r.status_code for r in approved] == [200] * 3
    batch.refresh_from_db()
    assert batch.status == "approved" and {r.json()["approved_by"] for r in approved} == {batch.approved_by.username}


@pytest.mark.django_db
def test_steps_out_of_order_are_409_and_bad_outcomes_are_field_errors():
    earn(partner("ib"), "10.00", period="2026-01")
    maker, checker = _client("maker"), _client("checker")
    batch = _make(maker)
    base = f"/api/v1/payout-batches/{batch['id']}"
    assert maker.get(f"{base}/export/").status_code == 409  # a draft is not exported
    assert maker.post(f"{base}/mark-paid/", {}, format="json").status_code == 409
    checker.post(f"{base}/approve/", {}, format="json")
    assert maker.post(f"{base}/discard/", {}, format="json").status_code == 409  # only a draft is discarded
    b"".join(maker.get(f"{base}/export/").streaming_content)
    bad = maker.post(f"{base}/mark-paid/", {"lines": [{"partner": "nobody", "status": "paid"}]}, format="json")
    assert bad.status_code == 400 and "partner" in str(bad.json()["lines"])
    no_reason = maker.post(f"{base}/mark-paid/", {"lines": [{"partner": "ib", "status": "failed"}]}, format="json")
    assert no_reason.status_code == 400 and "reason" in str(no_reason.json())
    for reason in ("x" * 300, "IBAN\nclosed", "IBAN\u202eclosed"):  # the column's 255, one line: field errors
        refused = maker.post(
            f"{base}/mark-paid/", {"lines": [{"partner": "ib", "status": "failed", "reason": reason}]}, format="json"
        )
        assert refused.status_code == 400 and "reason" in str(refused.json()["lines"]), refused.content
    assert not JournalTransaction.objects.filter(kind="payout").exists()
    unended = maker.post("/api/v1/payout-batches/", {"period": "2999-12"}, format="json")
    assert unended.status_code == 409


@pytest.mark.django_db(transaction=True)
def test_end_to_end_from_approved_commissions_to_paid_partners_and_exported_client_rebates(staff_client):
    """Set up through the API, run and approve March, export the client rebates and pay the IBs: every exported
    figure is the journal's, each partner is paid its statement's closing balance, and the trial balance nets to 0."""
    from ledger.selectors import trial_balance, trial_balance_totals
    from tests.commissions.runs_support import post_ok, setup_chain, setup_reference, trade

    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 1002, "partner": "sub"}])
    post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub", "pct": "10"})
    post_ok(staff_client, "/api/v1/trades/", [trade(1, login=1001, lots="2.00"), trade(2, login=1002)])
    run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    post_ok(staff_client, f"/api/v1/runs/{run['id']}/approve/", {})
    for code in ("master", "sub"):
        staff_client.patch(
            f"/api/v1/partners/{code}/", {"payout_method": "bank", "payout_account": code}, format="json"
        )

    export = staff_client.get("/api/v1/client-rebates/export/?period=2026-03")
    rebates = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode(), newline="")))
    posted = sorted(
        (e.account.client_account.login, -e.amount)
        for e in JournalEntry.objects.filter(account__purpose="client_payable").select_related(
            "account__client_account"
        )
    )
    assert (
        sorted((int(r["login"]), Decimal(r["amount"])) for r in rebates)
        == posted
        == [(1001, Decimal("1.00")), (1002, Decimal("0.50"))]
    )
    from core.models import DataExport

    recorded = DataExport.objects.get(kind="client_rebates")
    assert (recorded.period, recorded.rows, recorded.totals) == ("2026-03", 2, {"USD": "1.50"})
    assert sorted(r["amount"] for r in rebates) == ["0.50", "1.00"]  # as written: at the minor unit, not 8 places
    assert {r["reference"] for r in rebates} == set(
        JournalTransaction.objects.filter(kind="rebate").values_list("source_key", flat=True)
    )

    closing = {
        code: Decimal(staff_client.get(f"/api/v1/partners/{code}/statement/?period=2026-03").json()["closing_balance"])
        for code in ("master", "sub")
    }
    maker, checker = _client("maker"), _client("checker")
    batch = _make(maker, "2026-03")
    checker.post(f"/api/v1/payout-batches/{batch['id']}/approve/", {}, format="json")
    rows = list(
        csv.DictReader(
            io.StringIO(
                b"".join(maker.get(f"/api/v1/payout-batches/{batch['id']}/export/").streaming_content).decode(),
                newline="",
            )
        )
    )
    assert {r["partner_code"]: Decimal(r["amount"]) for r in rows} == closing
    assert maker.post(f"/api/v1/payout-batches/{batch['id']}/mark-paid/", {}, format="json").json()["status"] == "paid"
    assert set(trial_balance_totals(trial_balance()).values()) == {Decimal(0)}
    assert maker.get("/api/v1/payables/?partner=sub").json()["results"] == []


@pytest.mark.django_db
def test_payables_of_one_partner_show_only_its_accounts_and_the_export_is_get_only():
    ib, other = partner("ib"), partner("other")
    earn(ib, "10.00", period="2026-01")
    earn(other, "20.00", period="2026-01")
    maker, checker = _client("maker"), _client("checker")
    batch = _make(maker)  # holds both balances
    mine = maker.get("/api/v1/payables/", {"partner": "ib"}).json()["results"]
    assert mine == [
        {
            "partner": "ib",
            "purpose": "partner_payable",
            "currency": "USD",
            "owed": "10.00",
            "held": "10.00",
            "available": "0.00",
        }
    ]
    assert maker.get("/api/v1/payables/", {"partner": "nobody"}).json()["results"] == []
    checker.post(f"/api/v1/payout-batches/{batch['id']}/approve/", {}, format="json")
    assert maker.head(f"/api/v1/payout-batches/{batch['id']}/export/").status_code == 405
    assert PayoutBatch.objects.get(pk=batch["id"]).status == PayoutBatch.Status.APPROVED  # a HEAD exported nothing


@pytest.mark.django_db
def test_a_session_cookie_does_not_export_an_approved_batch_but_downloads_an_exported_one_again():
    """A browser sends the admin's cookie with a prefetch or a link preview by itself: the first export (it marks
    the batch exported) takes a token or the admin's confirmation page; a re-download through the cookie is fine."""
    earn(partner("ib"), "10.00", period="2026-01")
    maker, checker = _client("maker"), _client("checker")
    batch = _make(maker)
    checker.post(f"/api/v1/payout-batches/{batch['id']}/approve/", {}, format="json")
    browser = verified_login(APIClient(), user("maker"))  # staff: a session that passed its two-factor step
    refused = browser.get(f"/api/v1/payout-batches/{batch['id']}/export/")
    assert refused.status_code == 409
    assert "confirmation page" in refused.json()["detail"] and "token" in refused.json()["detail"]
    assert PayoutBatch.objects.get(pk=batch["id"]).status == PayoutBatch.Status.APPROVED
    first = maker.get(f"/api/v1/payout-batches/{batch['id']}/export/")
    assert first.status_code == 200 and b"IBEX-" in b"".join(first.streaming_content)
    again = browser.get(f"/api/v1/payout-batches/{batch['id']}/export/")
    assert again.status_code == 200 and b"IBEX-" in b"".join(again.streaming_content)
    assert PayoutBatch.objects.get(pk=batch["id"]).exported_by.username == "maker"


@pytest.mark.django_db
def test_every_batch_download_and_client_rebate_export_is_in_the_audit_log():
    """A re-download changes no batch row, a rebate export no row at all: each leaves its own record (who, the file,
    its rows and total per currency) with its audit event naming the user and the request."""
    from core.models import AuditEvent, DataExport

    earn(partner("a"), "10.25", period="2026-01")
    earn(partner("b"), "4.75", period="2026-01")
    maker, checker = _client("maker"), _client("checker")
    batch = _make(maker)
    checker.post(f"/api/v1/payout-batches/{batch['id']}/approve/", {}, format="json")
    for client in (maker, checker):
        b"".join(client.get(f"/api/v1/payout-batches/{batch['id']}/export/").streaming_content)
    b"".join(checker.get("/api/v1/client-rebates/export/?period=2026-01").streaming_content)
    records = list(DataExport.objects.order_by("pk"))
    assert [(r.kind, r.period, r.scope, r.rows, r.totals, r.exported_by.username) for r in records] == [
        ("payout_batch", "2026-01", str(batch["id"]), 2, {"USD": "15.00"}, "maker"),
        ("payout_batch", "2026-01", str(batch["id"]), 2, {"USD": "15.00"}, "checker"),
        ("client_rebates", "2026-01", "", 0, {}, "checker"),
    ]
    events = [AuditEvent.objects.tracks(r).get() for r in records]
    assert [(e.pgh_label, e.via, e.username) for e in events] == [
        ("insert", "request", "maker"),
        ("insert", "request", "checker"),
        ("insert", "request", "checker"),
    ]
