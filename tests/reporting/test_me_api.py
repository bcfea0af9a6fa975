"""The partner API (``/api/v1/me/``) over the seeded broker of the API tests: ``master`` with the sub-IBs ``sub``
(client live1:1001, trades 1 and 2) and ``sub2`` (client live1:1002, trade 3), and a computed March run.

Scope: a partner sees its own lines (its downline's clients' trades among them) and nothing of a sibling's; out of
scope is a 404. Figures are checked against independent sums over the lines and trades tables."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from commissions.models import AttributionLine, Trade
from commissions.selectors import attribution_lines

pytestmark = pytest.mark.django_db

PERIOD = "2026-03"


def _all(client, url, **query):
    response = client.get(url, {"page_size": 1000, **query})
    assert response.status_code == 200, response.content[:300]
    return response.json()["results"]


def test_me_is_the_partner_with_its_referral_code_and_masked_payout_account(seeded, partner_client, settings):
    settings.IBEX_PORTAL_BASE_URL = "https://portal.example.com/"
    me = partner_client.get("/api/v1/me/").json()
    assert (me["code"], me["parent"], me["program"], me["plan"]) == ("sub", "master", "prog", "plan-sub")
    assert me["payout_account"] == "****"  # "IBAN-sub": eight characters, nothing of it shown
    assert len(me["referral_code"]) == 10 and me["referral_code"].isalnum()
    assert me["referral_link"] == f"https://portal.example.com/join/?ref={me['referral_code']}"


def test_referral_codes_are_unique_per_partner(seeded, partner_client, master_client):
    assert (
        partner_client.get("/api/v1/me/").json()["referral_code"]
        != master_client.get("/api/v1/me/").json()["referral_code"]
    )


def test_a_partner_sees_its_own_lines_and_its_downline_s_trades_not_a_sibling_s(seeded, partner_client, master_client):
    sub_lines = _all(partner_client, "/api/v1/me/lines/")
    expected = set(attribution_lines().filter(partner__code="sub").values_list("id", flat=True))
    assert expected and {line["id"] for line in sub_lines} == expected
    assert {line["login"] for line in sub_lines} == {1001}  # sub2's client 1002 is not sub's
    master_lines = _all(master_client, "/api/v1/me/lines/")
    assert {line["login"] for line in master_lines} == {1001, 1002}  # both sub-IBs' clients, master's own lines
    assert {line["level"] for line in master_lines} == {2}
    assert set(attribution_lines().filter(partner__code="master").values_list("id", flat=True)) == {
        line["id"] for line in master_lines
    }
    # the sub-IB filter: the lines master earned on sub's clients; a sibling's code finds nothing of sub's
    assert {line["login"] for line in _all(master_client, "/api/v1/me/lines/", sub_ib="sub")} == {1001}
    assert _all(partner_client, "/api/v1/me/lines/", sub_ib="sub2") == []
    assert _all(partner_client, "/api/v1/me/lines/", account="live1:1002") == []


def test_each_line_is_explained_in_words(seeded, partner_client):
    line = _all(partner_client, "/api/v1/me/lines/", kind="volume")[0]
    text = line["explanation"]
    assert f"ticket {line['ticket']}" in text and "plan plan-sub" in text and "per lot" in text, text
    assert text.endswith(f"amount {Decimal(line['amount']).normalize():f} USD."), text


def test_lines_csv_parses_back_to_the_json_amounts(seeded, master_client):
    response = master_client.get("/api/v1/me/lines/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    json_lines = {line["id"]: line for line in _all(master_client, "/api/v1/me/lines/")}
    assert len(rows) == len(json_lines)
    for row in rows:
        line = json_lines[int(row["id"])]
        assert Decimal(row["amount"]) == Decimal(line["amount"]) and row["kind"] == line["kind"]
        assert row["explanation"] == line["explanation"]


def test_a_negative_line_stays_a_number_in_the_csv(seeded, master_client):
    """A reversal or an adjustment is negative: the CSV writes it as the number it is (``-5.250000``), not as text
    neutralised against formula injection (``'-5.250000``), so it sums in a spreadsheet and parses back exactly."""
    from core.csv_export import csv_lines
    from reporting.api.views import LINE_CSV_HEADER, _line_csv_rows

    line = attribution_lines().filter(partner__code="master").order_by("pk").first()
    line.amount = Decimal("-5.25")  # as a reversal's line (posted lines cannot be edited in the database)

    class OneLine:
        def iterator(self, chunk_size):
            return iter([line])

    text = b"".join(csv_lines(LINE_CSV_HEADER, _line_csv_rows(OneLine()))).decode()
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["amount"] == "-5.250000" and Decimal(row["amount"]) == line.amount


def test_a_bad_filter_is_a_json_400_even_for_csv(seeded, partner_client):
    response = partner_client.get("/api/v1/me/lines/", {"format": "csv", "period": "2026-13"})
    assert response.status_code == 400 and "period" in response.json()


def test_downline_volumes_and_earnings_match_the_lines(seeded, master_client, partner_client):
    rows = {row["code"]: row for row in _all(master_client, "/api/v1/me/downline/", period=PERIOD)}
    assert set(rows) == {"sub", "sub2"} and {row["depth"] for row in rows.values()} == {1}
    for code, login in (("sub", 1001), ("sub2", 1002)):
        lots = Trade.objects.filter(login=login, lines__isnull=False).distinct().aggregate(s=Sum("lots"))["s"]
        assert Decimal(rows[code]["volume"]) == lots
        earned = attribution_lines().filter(partner__code="master", trade__login=login).aggregate(s=Sum("amount"))
        assert Decimal(rows[code]["earned"]) == earned["s"]
    assert _all(partner_client, "/api/v1/me/downline/") == []  # sub has no sub-IB


def test_clients_are_the_partner_s_own_with_their_figures(seeded, partner_client, staff_client):
    rows = {(row["server"], row["login"]): row for row in _all(partner_client, "/api/v1/me/clients/", period=PERIOD)}
    attributed = _all(staff_client, "/api/v1/accounts/", partner="sub")
    assert set(rows) == {(a["server"], a["login"]) for a in attributed} and ("live1", 1002) not in rows
    earned = attribution_lines().filter(partner__code="sub", trade__login=1001).aggregate(s=Sum("amount"))["s"]
    assert Decimal(rows["live1", 1001]["earned"]) == earned
    lots = Trade.objects.filter(login=1001, lines__isnull=False).distinct().aggregate(s=Sum("lots"))["s"]
    assert Decimal(rows["live1", 1001]["volume"]) == lots
    # another period: no figures, the accounts still listed
    assert {row["earned"] for row in _all(partner_client, "/api/v1/me/clients/", period="2025-01")} == {"0"}


def test_the_statement_is_the_broker_s_statement_in_json_csv_and_pdf(seeded, staff_client, partner_client):
    assert staff_client.post(f"/api/v1/runs/{seeded['run']}/approve/", {}, format="json").status_code == 200
    mine = partner_client.get(f"/api/v1/me/statements/{PERIOD}/").json()
    assert mine == staff_client.get("/api/v1/partners/sub/statement/", {"period": PERIOD}).json()
    assert Decimal(mine["earned"]) > 0
    response = partner_client.get(f"/api/v1/me/statements/{PERIOD}/", {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_item = {(row["item"], row["kind"]): row["amount"] for row in rows}
    assert by_item[("earned", "")] == mine["earned"]
    assert by_item[("closing_balance", "")] == mine["closing_balance"]
    assert {kind: amount for (item, kind), amount in by_item.items() if item == "earned_by_kind"} == mine["totals"]
    pdf = partner_client.get(f"/api/v1/me/statements/{PERIOD}/", {"format": "pdf"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    summary = partner_client.get("/api/v1/me/summary/", {"period": PERIOD}).json()
    assert summary["approved"] and summary["estimate"] is None
    assert summary["earnings"] == {
        kind: f"{total:f}"
        for kind, total in attribution_lines()
        .filter(partner__code="sub")
        .values_list("kind")
        .annotate(t=Sum("amount"))
        .order_by("kind")
    }


def test_an_open_period_has_no_earnings_and_a_null_estimate(seeded, partner_client):
    summary = partner_client.get("/api/v1/me/summary/", {"period": PERIOD}).json()
    assert (summary["approved"], summary["earnings"], summary["estimate"]) == (False, {}, None)


def test_a_statement_period_that_is_no_month_is_a_404(seeded, partner_client):
    for period in ("2026-13", "2026-00", "0000-01"):
        response = partner_client.get(f"/api/v1/me/statements/{period}/")
        assert response.status_code == 404 and set(response.json()) == {"detail"}, period


def test_payouts_are_the_partner_s_lines_only(seeded, partner_client):
    rows = _all(partner_client, "/api/v1/me/payouts/")
    assert [row["batch"] for row in rows] == [seeded["payout_batch"]]
    assert rows[0]["currency"] == "USD" and re.fullmatch(r"\d+\.\d{2}", rows[0]["amount"])  # the minor unit
    from ledger.models import PayoutBatch, PayoutLine

    line = PayoutLine.objects.get(batch_id=seeded["payout_batch"], partner__code="sub")
    assert Decimal(rows[0]["amount"]) == line.amount
    # A draft is finance's work in progress (it may be discarded): not shown until approved.
    PayoutBatch.objects.filter(pk=seeded["payout_batch"]).update(status=PayoutBatch.Status.DRAFT)
    assert _all(partner_client, "/api/v1/me/payouts/") == []


def test_a_created_token_works_until_revoked_and_is_listed_without_its_key(seeded, partner_client):
    created = partner_client.post("/api/v1/me/tokens/", {"name": "nightly"}, format="json")
    assert created.status_code == 201, created.content
    key = created.json()["key"]
    listed = _all(partner_client, "/api/v1/me/tokens/")
    assert "nightly" in {t["name"] for t in listed} and all("key" not in t for t in listed)
    named = APIClient()
    named.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert named.get("/api/v1/me/").json()["code"] == "sub"
    assert named.get("/api/v1/partners/").status_code == 403  # a partner's token, on a staff route
    again = partner_client.post("/api/v1/me/tokens/", {"name": "nightly"}, format="json")
    assert again.status_code == 400 and "name" in again.json()
    assert named.delete(f"/api/v1/me/tokens/{created.json()['id']}/").status_code == 204
    assert named.get("/api/v1/me/").status_code == 401
    assert partner_client.delete(f"/api/v1/me/tokens/{created.json()['id']}/").status_code == 404


def test_another_partner_s_token_is_a_404(seeded, partner_client):
    response = partner_client.delete(f"/api/v1/me/tokens/{seeded['token_sub2']}/")
    assert response.status_code == 404
    assert APIClient().get("/api/v1/me/").status_code == 401


def test_staff_get_403_on_partner_routes(seeded, staff_client):
    response = staff_client.get("/api/v1/me/lines/")
    assert response.status_code == 403 and "partner" in response.json()["detail"]


@pytest.mark.parametrize("path", ["lines", "downline", "clients", "payouts", "tokens"])
def test_query_count_does_not_grow_with_the_page(seeded, master_client, staff_client, path):
    # more rows of each kind for master: extra clients and trades, so a larger page holds more of them
    body = [{"server": "live1", "login": 3000 + i, "partner": "master"} for i in range(3)]
    assert staff_client.post("/api/v1/accounts/", body, format="json").status_code == 200
    counts = []
    for size in (1, 50):
        with CaptureQueriesContext(connection) as queries:
            response = master_client.get(f"/api/v1/me/{path}/", {"page_size": size, "period": PERIOD})
        assert response.status_code == 200, response.content[:300]
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_line_kinds_listed_are_the_partner_s(seeded, master_client):
    kinds = {line["kind"] for line in _all(master_client, "/api/v1/me/lines/")}
    assert kinds == set(AttributionLine.objects.filter(partner__code="master").values_list("kind", flat=True))
