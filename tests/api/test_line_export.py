"""``GET /lines/export/``: the CSV of the lines of ``GET /lines/`` — the same rows, amounts and filters, streamed by
PostgreSQL's COPY — with text cells neutralised against formula injection, field errors for bad filters and staff
only. The SQL neutraliser itself is checked against every starting character it must catch."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse

from commissions.models import AttributionLine, Trade
from commissions.selectors import LINE_EXPORT_HEADER
from core.csv_export import FORMULA_STARTS, neutralised, neutralised_sql
from partners.models import Partner
from tests.twofactor import verified_login

URL = "/api/v1/lines/export/"


def _text(response) -> str:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return b"".join(response.streaming_content).decode("utf-8")


def _rows(response) -> list[dict[str, str]]:
    text = _text(response)
    assert text.startswith(",".join(LINE_EXPORT_HEADER) + "\r\n")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames) == LINE_EXPORT_HEADER
    return list(reader)


def _all_listed(client, query: dict) -> list[dict]:
    """Every line ``GET /lines/`` lists for ``query``, page after page."""
    body = client.get("/api/v1/lines/", {**query, "page_size": 1000}).json()
    lines = body["results"]
    while body["next"]:
        body = client.get(body["next"]).json()
        lines += body["results"]
    return lines


def _shown(value, text: bool = False) -> str:
    """A value of the list's JSON as the CSV writes it: null is an empty field, text neutralised."""
    if value is None:
        return ""
    return neutralised(value) if text else str(value)


def _expected(line: dict) -> dict[str, str]:
    rule = line["rule"] or {}
    return {
        "id": _shown(line["id"]),
        "run": _shown(line["run"]),
        "period": line["period"],
        "server": _shown(line["server"], text=True),
        "ticket": _shown(line["ticket"]),
        "trade_version": _shown(line["trade_version"]),
        "login": _shown(line["login"]),
        "symbol": _shown(line["symbol"], text=True),
        "partner": _shown(line["partner"], text=True),
        "beneficiary_server": _shown(line["beneficiary_server"], text=True),
        "beneficiary_login": _shown(line["beneficiary_login"]),
        "kind": line["kind"],
        "level": _shown(line["level"]),
        "rule_id": _shown(rule.get("id")),
        "rule_plan": _shown(rule.get("plan"), text=True),
        "rule_terms_from": _shown(rule.get("terms_from")),
        "rule_type": _shown(rule.get("type")),
        "rule_symbol": _shown(rule.get("symbol"), text=True),
        "rule_symbol_group": _shown(rule.get("symbol_group"), text=True),
        "rule_account_group": _shown(rule.get("account_group"), text=True),
        "rule_priority": _shown(rule.get("priority")),
        "base": _shown(line["base"]),
        "rate": _shown(line["rate"]),
        "tier": _shown(line["tier"]),
        "multiplier": _shown(line["multiplier"]),
        "amount": line["amount"],
        "currency": line["currency"],
        "reason": line["reason"],
        "adjusts_period": line["adjusts_period"],
    }


def _without_names(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "partner_name"} for row in rows]


def test_the_export_is_exactly_the_listed_lines_for_the_same_filters(seeded, staff_client):
    march = seeded["run"]
    queries = [
        {},
        {"period": "2026-03"},
        {"partner": "sub"},
        {"account": "live1:1001", "kind": "volume"},
        {"server": "live1", "login": 1002},
        {"symbol": "USDJPY"},
        {"level": 2},
        {"run": march},
        {"period": "2025-01"},  # nothing: the header alone
    ]
    seen_rebates = seen_volume = False
    for query in queries:
        listed = _all_listed(staff_client, query)
        rows = _rows(staff_client.get(URL, query))
        assert _without_names(rows) == [_expected(line) for line in listed], query
        seen_rebates |= any(row["beneficiary_login"] for row in rows)
        seen_volume |= any(row["kind"] == "volume" and row["rule_terms_from"] for row in rows)
    assert seen_rebates and seen_volume  # the comparison covered rebate lines and rules with their terms

    rows = _rows(staff_client.get(URL, {"period": "2026-03"}))
    assert rows and {row["period"] for row in rows} == {"2026-03"}
    # Amounts at the stored scale, and exactly the lines' amounts of record.
    assert all(len(row["amount"].split(".")[1]) == 6 for row in rows)
    stored = AttributionLine.objects.filter(run_id=march).order_by("id").values_list("id", "amount", "partner__name")
    assert [(int(r["id"]), Decimal(r["amount"]), r["partner_name"] or None) for r in rows] == list(stored)
    assert sum(Decimal(r["amount"]) for r in rows) == sum(amount for _, amount, _ in stored)


def test_the_file_name_carries_the_filters(seeded, staff_client):
    response = staff_client.get(URL, {"period": "2026-03"})
    assert response["Content-Disposition"] == 'attachment; filename="lines-2026-03.csv"'
    response = staff_client.get(URL, {"period": "2026-03", "account": "live1:1001", "kind": "volume"})
    assert response["Content-Disposition"] == (
        'attachment; filename="lines-2026-03-account-live1_1001-kind-volume.csv"'
    )
    assert staff_client.get(URL)["Content-Disposition"] == 'attachment; filename="lines.csv"'


def test_text_cells_starting_like_a_formula_are_neutralised(seeded, staff_client):
    """Partner codes and names and trade symbols starting with ``=``, ``+``, ``-``, ``@``, a tab or a CR — what a
    spreadsheet would run — get a ``'`` in front; the JSON list keeps them as they are."""
    names = {"master": '=HYPERLINK("http://x")', "sub": "+1+2", "sub2": '\tTabbed, "quoted"'}
    for code, name in names.items():
        Partner.objects.filter(code=code).update(name=name)
    Partner.objects.filter(code="sub2").update(code="-sub2")
    Trade.objects.filter(ticket=1).update(symbol="@EURUSD")
    Trade.objects.filter(ticket=2).update(symbol="\rUSDJPY")

    rows = _rows(staff_client.get(URL, {"period": "2026-03"}))
    by_partner = {row["partner"]: row for row in rows}
    assert by_partner["master"]["partner_name"] == '\'=HYPERLINK("http://x")'
    assert by_partner["sub"]["partner_name"] == "'+1+2"
    assert by_partner["'-sub2"]["partner_name"] == '\'\tTabbed, "quoted"'
    symbols = {(row["ticket"], row["symbol"]) for row in rows}
    assert ("1", "'@EURUSD") in symbols and ("2", "'\rUSDJPY") in symbols
    assert ("3", "EURUSD") in symbols  # plain text is left alone
    listed = _all_listed(staff_client, {"period": "2026-03"})
    assert {line["symbol"] for line in listed} >= {"@EURUSD", "\rUSDJPY"}  # JSON is not a spreadsheet
    assert _without_names(rows) == [_expected(line) for line in listed]
    # The raw file quotes what needs quoting (RFC 4180): a CR inside a value does not end the record.
    text = _text(staff_client.get(URL, {"period": "2026-03", "symbol": "\rUSDJPY"}))
    records = text.split("\r\n")
    assert records[-1] == "" and all(records[1:-1]) and len(records) - 2 == len(rows_of(text))


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))[1:]


@pytest.mark.django_db
def test_the_sql_neutraliser_catches_every_formula_start():
    values = [f"{start}cmd" for start in FORMULA_STARTS] + ["plain", "a=b", " =lead-blank", "", "'quoted", None]
    expression = neutralised_sql("v")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {expression} FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n", [values])
        got = [row[0] for row in cursor.fetchall()]
    assert got == [
        "'=cmd",
        "'+cmd",
        "'-cmd",
        "'@cmd",
        "'\tcmd",
        "'\rcmd",
        "plain",
        "a=b",
        " =lead-blank",
        "",
        "'quoted",
        None,
    ]
    assert got[:-1] == [neutralised(v) for v in values[:-1]]  # the same rule as the Python exports'


def test_bad_filters_are_400_with_field_errors_and_json(seeded, staff_client):
    for query, field in (
        ({"period": "2026-13"}, "period"),
        ({"account": "1001"}, "account"),
        ({"kind": "bonus"}, "kind"),
        ({"level": "x"}, "level"),
        ({"run": "1.5"}, "run"),
    ):
        response = staff_client.get(URL, query, HTTP_ACCEPT="text/csv")
        assert response.status_code == 400, query
        assert response["Content-Type"].startswith("application/json") and field in response.json(), query


def test_staff_only_and_csv_only(seeded, staff_client, plain_client, partner_client, api_client):
    assert plain_client.get(URL).status_code == 403
    assert partner_client.get(URL).status_code == 403
    assert api_client.get(URL).status_code == 401
    assert staff_client.get(URL, HTTP_ACCEPT="application/json").status_code == 406
    assert staff_client.get(URL, {"format": "json"}).status_code == 406
    assert staff_client.get(URL, HTTP_ACCEPT="text/csv").status_code == 200


def _staff_browser(django_user_model, name: str, *permissions: str):
    user = django_user_model.objects.create_user(name, is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="commissions"))
    return verified_login(Client(), user)


def test_the_admin_downloads_the_filtered_list_as_the_same_csv(seeded, staff_client, django_user_model):
    viewer = _staff_browser(django_user_model, "viewer", "view_attributionline")
    changelist = reverse("admin:commissions_attributionline_changelist")
    url = reverse("admin:commissions_attributionline_export")
    page = viewer.get(changelist, {"period": "2026-03", "kind__exact": "volume"})
    assert page.status_code == 200
    assert f"{url}?period=2026-03&amp;kind__exact=volume" in page.content.decode()  # the link keeps the filter

    response = viewer.get(url, {"period": "2026-03", "kind__exact": "volume"})
    assert response["Content-Disposition"] == 'attachment; filename="lines-2026-03-kind-volume.csv"'
    rows = _rows(response)
    listed = _all_listed(staff_client, {"period": "2026-03", "kind": "volume"})
    assert rows and _without_names(rows) == [_expected(line) for line in listed]
    # The admin's search (a partner code) and level filter narrow the file as they narrow the list.
    searched = _rows(viewer.get(url, {"q": "master", "level": "2"}))
    assert searched and _without_names(searched) == [
        _expected(line) for line in _all_listed(staff_client, {"partner": "master", "level": 2})
    ]
    # Every line of record without a filter, across pages (the list shows 100 a page).
    assert _without_names(_rows(viewer.get(url))) == [_expected(line) for line in _all_listed(staff_client, {})]


def test_the_admin_download_needs_the_view_permission(seeded, django_user_model):
    url = reverse("admin:commissions_attributionline_export")
    assert _staff_browser(django_user_model, "nobody").get(url).status_code == 403
    assert _staff_browser(django_user_model, "planner", "view_plan").get(url).status_code == 403
    outsider = django_user_model.objects.create_user("outsider")  # not staff: the admin's login page
    client = Client()
    client.force_login(outsider)
    assert client.get(url).status_code == 302
