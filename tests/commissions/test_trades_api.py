"""The trades API: POST /trades/ (ingest with per-object rejections), listing, lookup with versions, import reports."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from commissions.models import Trade, TradeImport
from commissions.services.trade_ingest import trades_import_file

from .ingest_support import instruments, trade_row, write_csv  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("instruments")]

API = "/api/v1"


def body(*rows: dict) -> list[dict]:
    """Trade objects as an integration would send them: amounts as strings, integers as numbers."""
    out = []
    for row in rows:
        item = {k: v for k, v in row.items() if v != ""}
        item["ticket"], item["login"] = int(item["ticket"]), int(item["login"])
        out.append(item)
    return out


def test_post_creates_trades_and_reports_rejections_by_index(staff_client):
    payload = body(trade_row(ticket=1), trade_row(ticket=2, lots="0"), trade_row(ticket=3, symbol="GOLD"))
    payload.append("not an object")
    payload.append({**payload[0], "ticket": 4, "profit": 1.5, "colour": "red"})
    payload.append({k: v for k, v in payload[0].items() if k != "close_price"} | {"ticket": 5})
    response = staff_client.post(f"{API}/trades/", payload, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["created"], data["updated"], data["unchanged"]) == (2, 0, 0)
    assert [r["index"] for r in data["rejected"]] == [1, 3, 4, 5]
    by_index = {r["index"]: r["errors"] for r in data["rejected"]}
    assert list(by_index[1]) == ["lots"]
    assert by_index[3] == {"non_field_errors": ["must be an object"]}
    assert set(by_index[4]) == {"profit", "colour"}
    assert by_index[5] == {"close_price": ["this field is required"]}
    assert sorted(Trade.objects.values_list("ticket", flat=True)) == [1, 3]
    trade_import = TradeImport.objects.get(pk=data["import_id"])
    assert (trade_import.format, trade_import.rejected, trade_import.created_by.username) == ("api", 4, "staff")


def test_post_is_idempotent_and_versions_changes(staff_client):
    payload = body(trade_row(ticket=1), trade_row(ticket=2))
    first = staff_client.post(f"{API}/trades/", payload, format="json").json()
    again = staff_client.post(f"{API}/trades/", payload, format="json").json()
    payload[1]["status"] = "cancelled"
    changed = staff_client.post(f"{API}/trades/", payload, format="json").json()
    assert (first["created"], again["unchanged"], changed["updated"], changed["unchanged"]) == (2, 2, 1, 1)
    assert Trade.objects.count() == 3


@pytest.mark.parametrize("payload", [{"ticket": 1}, "trades", 5, None])
def test_post_needs_a_list(staff_client, payload):
    response = staff_client.post(f"{API}/trades/", payload, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_post_refuses_more_than_10000_trades(staff_client):
    payload = body(trade_row()) * 10_001
    response = staff_client.post(f"{API}/trades/", payload, format="json")
    assert response.status_code == 400
    assert "10000" in response.json()["non_field_errors"][0]
    assert Trade.objects.count() == 0


def test_post_accepts_10000_trades(staff_client):
    payload = [dict(item, ticket=n) for n, item in enumerate(body(trade_row()) * 10_000, start=1)]
    response = staff_client.post(f"{API}/trades/", payload, format="json")
    assert response.status_code == 200
    assert response.json()["created"] == 10_000


def test_malformed_json_is_a_400(staff_client):
    response = staff_client.generic("POST", f"{API}/trades/", "[{", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/trades/"), ("post", "/trades/"), ("get", "/trades/Live-1/1/"), ("get", "/trade-imports/1/")],
)
def test_non_staff_get_403_and_anonymous_401(plain_client, client, method, path):
    assert getattr(plain_client, method)(f"{API}{path}", [], format="json").status_code == 403
    assert getattr(client, method)(f"{API}{path}").status_code in (401, 403)


@pytest.fixture
def stored(tmp_path, request):
    request.getfixturevalue("instruments")
    rows = [
        trade_row(ticket=1, login=10, symbol="EURUSD.m"),
        trade_row(ticket=2, login=11, symbol="SPX500"),
        trade_row(ticket=3, login=10, server="Live-2"),
        trade_row(ticket=4, login=10, status="cancelled", symbol="GOLD"),
    ]
    trades_import_file(path=write_csv(tmp_path / "a.csv", rows), fmt="generic")
    changed = [trade_row(ticket=1, login=10, symbol="EURUSD.m", profit="1")]
    trades_import_file(path=write_csv(tmp_path / "b.csv", changed), fmt="generic")


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [("Live-1", 1, 2), ("Live-1", 2, 1), ("Live-1", 4, 1), ("Live-2", 3, 1)]),
        ("?current=false", [("Live-1", 1, 1)]),
        ("?server=Live-2", [("Live-2", 3, 1)]),
        ("?login=10&server=Live-1", [("Live-1", 1, 2), ("Live-1", 4, 1)]),
        ("?symbol=eurusd", [("Live-1", 1, 2), ("Live-2", 3, 1)]),
        ("?symbol=XAUUSD", [("Live-1", 4, 1)]),
        ("?ticket=2", [("Live-1", 2, 1)]),
        ("?status=cancelled", [("Live-1", 4, 1)]),
        ("?unresolved=true", [("Live-1", 2, 1)]),
    ],
)
def test_list_filters(staff_client, query, expected):
    response = staff_client.get(f"{API}/trades/{query}")
    assert response.status_code == 200, response.content
    got = [(t["server"], t["ticket"], t["version"]) for t in response.json()["results"]]
    assert got == expected


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize("query", ["?login=abc", "?status=open", "?current=maybe", "?ticket=1.5"])
def test_bad_filter_values_are_400_with_field_errors(staff_client, query):
    response = staff_client.get(f"{API}/trades/{query}")
    assert response.status_code == 400
    assert query[1:].split("=")[0] in response.json()


@pytest.mark.usefixtures("stored")
def test_list_shape_pagination_and_query_count(staff_client):
    response = staff_client.get(f"{API}/trades/?page_size=2")
    data = response.json()
    assert data["count"] == 4 and len(data["results"]) == 2 and data["next"]
    first = data["results"][0]
    assert first["lots"] == "1.5000" and first["open_price"] == "1.0850000000" and first["side"] == "buy"
    assert first["instrument"] == "EURUSD" and first["symbol"] == "EURUSD.m" and first["is_current"] is True
    with CaptureQueriesContext(connection) as few:
        staff_client.get(f"{API}/trades/?page_size=1")
    with CaptureQueriesContext(connection) as many:
        staff_client.get(f"{API}/trades/?page_size=1000")
    assert len(few) == len(many)


@pytest.mark.usefixtures("stored")
def test_detail_shows_the_current_version_and_all_versions(staff_client):
    response = staff_client.get(f"{API}/trades/Live-1/1/")
    assert response.status_code == 200
    data = response.json()
    assert (data["version"], data["profit"]) == (2, "1.000000")
    assert [(v["version"], v["is_current"], v["profit"]) for v in data["versions"]] == [
        (1, False, "225.000000"),
        (2, True, "1.000000"),
    ]
    assert staff_client.get(f"{API}/trades/Live-1/999/").status_code == 404
    assert staff_client.get(f"{API}/trades/Nowhere/1/").status_code == 404


def test_detail_handles_servers_with_slashes(staff_client, tmp_path):
    trades_import_file(path=write_csv(tmp_path / "s.csv", [trade_row(server="Broker/Live 1")]), fmt="generic")
    assert staff_client.get(f"{API}/trades/Broker/Live%201/1001/").json()["server"] == "Broker/Live 1"


def test_import_report(staff_client, tmp_path):
    rows = [trade_row(ticket=1), trade_row(ticket=2, side="hold"), trade_row(ticket=1), trade_row(symbol="X")]
    result = trades_import_file(path=write_csv(tmp_path / "r.csv", rows), fmt="generic")
    response = staff_client.get(f"{API}/trade-imports/{result.pk}/")
    assert response.status_code == 200
    data = response.json()
    assert (data["rows_read"], data["created"], data["skipped"], data["rejected"]) == (4, 2, 1, 1)
    assert data["skipped_reasons"] == {"duplicate in file": 1}
    assert data["rejections"] == [{"line": 3, "errors": {"side": ["buy or sell"]}}]
    assert data["unresolved_symbols"] == {"X": 1}
    assert (data["status"], data["format"], data["source_name"]) == ("done", "generic", "r.csv")
    assert staff_client.get(f"{API}/trade-imports/{result.pk + 100}/").status_code == 404
    listing = staff_client.get(f"{API}/trade-imports/").json()
    assert listing["results"][0]["id"] == result.pk


def test_schema_documents_the_trade_endpoints(staff_client):
    response = staff_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert "/api/v1/trades/" in paths and "/api/v1/trade-imports/{id}/" in paths
    post = paths["/api/v1/trades/"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"
    params = {p["name"] for p in paths["/api/v1/trades/"]["get"]["parameters"]}
    assert {"server", "login", "symbol", "ticket", "status", "unresolved", "current", "page"} <= params


def test_the_trade_endpoints_schema_generates_without_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("commissions.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._warn_cache)
    assert "/api/v1/trades/{server}/{ticket}/" in schema["paths"]
