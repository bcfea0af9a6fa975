"""The commissions admin: reference data through the services, the trade feed read-only, uploads through the task."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from commissions.models import (
    Instrument,
    InstrumentAlias,
    Mt5OpenDeal,
    SymbolSuffix,
    Trade,
    TradeImport,
)
from commissions.models.trades import Mt5Deal
from ledger.models import ConversionRate
from tests.twofactor import verified_login

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CHANGELIST_QUERY_BUDGET = 14  # session, user, counts, page, filter choices: fixed whatever the page size


def make_instrument(symbol: str, group: str = "forex_major", quote: str = "USD", **extra) -> Instrument:
    return Instrument.objects.create(
        symbol=symbol,
        group=group,
        base=symbol[:3],
        quote=quote,
        contract_size=Decimal(100_000),
        pip_size=Decimal("0.0001"),
        digits=extra.pop("digits", 5),
        **extra,
    )


def make_trade(ticket: int, *, version: int = 1, is_current: bool = True, **fields) -> Trade:
    values = {
        "server": "live",
        "login": 7000 + ticket % 5,
        "symbol": "EURUSD",
        "side": Trade.Side.BUY,
        "lots": Decimal("0.10"),
        "open_time": T0 + timedelta(minutes=ticket),
        "open_price": Decimal("1.08000"),
        "close_time": T0 + timedelta(minutes=ticket, seconds=90),
        "close_price": Decimal("1.08100"),
        "profit": Decimal("10.00"),
        "content_hash": f"{ticket:032d}",
        "ingested_at": T0 + timedelta(days=1),
    }
    values.update(fields)
    return Trade.objects.create(ticket=ticket, version=version, is_current=is_current, **values)


@pytest.fixture
def feed() -> dict[str, object]:
    """60 current trades: 40 EURUSD (forex_major), 15 XAUUSD (metals) on server ``mt5``, 5 unresolved ``FOO.x``;
    trade 1 also has a superseded version 1 and a cancelled current version 2."""
    eurusd = make_instrument("EURUSD")
    gold = Instrument.objects.create(
        symbol="XAUUSD", group="metals", base="XAU", quote="USD", contract_size=100, pip_size=Decimal("0.01"), digits=2
    )
    for ticket in range(2, 42):
        make_trade(ticket, instrument=eurusd)
    for ticket in range(42, 57):
        make_trade(ticket, instrument=gold, symbol="XAUUSD.ecn", server="mt5")
    for ticket in range(57, 62):
        make_trade(ticket, instrument=None, symbol="FOO.x")
    make_trade(1, instrument=eurusd, is_current=False, superseded_at=T0 + timedelta(days=2))
    make_trade(1, version=2, instrument=eurusd, status=Trade.Status.CANCELLED, content_hash="c" * 32)
    return {"eurusd": eurusd, "gold": gold}


def logins_and_tickets(response) -> list[tuple[int, int]]:
    return sorted((t.ticket, t.version) for t in response.context["cl"].result_list)


# --- trades -------------------------------------------------------------------------------------------------------


def test_trade_changelist_renders_a_page_in_bounded_queries(admin_client, feed, django_assert_max_num_queries):
    with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
        response = admin_client.get(reverse("admin:commissions_trade_changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 62
    assert "XAUUSD.ecn" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"resolved": "no"}, [(t, 1) for t in range(57, 62)]),
        ({"symbol_group": "metals"}, [(t, 1) for t in range(42, 57)]),
        ({"is_current__exact": "0"}, [(1, 1)]),
        ({"status__exact": "cancelled"}, [(1, 2)]),
        ({"server__exact": "mt5", "resolved": "yes"}, [(t, 1) for t in range(42, 57)]),
        ({"q": "1"}, [(1, 1), (1, 2)]),  # a ticket: every version of it
        ({"q": "7003"}, [(t, 1) for t in range(2, 62) if t % 5 == 3]),  # a login
        ({"q": "foo"}, [(t, 1) for t in range(57, 62)]),  # a symbol prefix, any case
        ({"q": "9" * 30}, []),  # too long for a bigint: no match, no error
    ],
)
def test_trade_filters_and_search(admin_client, feed, params, expected):
    response = admin_client.get(reverse("admin:commissions_trade_changelist"), params)
    assert response.status_code == 200
    assert logins_and_tickets(response) == expected


def test_trade_admin_is_read_only(admin_client, feed):
    trade = Trade.objects.get(ticket=2)
    change_url = reverse("admin:commissions_trade_change", args=[trade.pk])
    assert admin_client.get(reverse("admin:commissions_trade_add")).status_code == 403
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.post(change_url, {"lots": "9"}).status_code == 403
    assert admin_client.get(reverse("admin:commissions_trade_delete", args=[trade.pk])).status_code == 403
    changelist = admin_client.get(reverse("admin:commissions_trade_changelist"))
    assert "delete_selected" not in changelist.content.decode()
    trade.refresh_from_db()
    assert trade.lots == Decimal("0.1000")


def test_trade_page_shows_every_version_of_the_trade(admin_client, feed):
    first, second = Trade.objects.filter(ticket=1).order_by("version")
    html = admin_client.get(reverse("admin:commissions_trade_change", args=[first.pk])).content.decode()
    for version in (first, second):
        assert reverse("admin:commissions_trade_change", args=[version.pk]) in html
    assert ">v2</a> (current)" in html
    assert "Cancelled" in html


# --- imports and the upload page ----------------------------------------------------------------------------------


def test_trade_import_changelist_and_report(admin_client, django_assert_max_num_queries, admin_user):
    for i in range(55):
        TradeImport.objects.create(format="generic", source_name=f"file-{i}.csv", status="done", created_by=admin_user)
    report = TradeImport.objects.create(
        format="mt4",
        source_name="mt4-export.csv",
        server="live",
        status="done",
        rows_read=10,
        created=6,
        skipped=2,
        rejected=2,
        unresolved=1,
        skipped_reasons={"open position": 1, "not a trade (CMD 6)": 1},
        rejections=[{"line": 4, "errors": {"VOLUME": ["must be positive"]}}, {"line": 9, "errors": ["bad time"]}],
        unresolved_symbols={"FOO.x": 1},
    )
    with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
        response = admin_client.get(reverse("admin:commissions_tradeimport_changelist"))
    assert response.status_code == 200 and len(response.context["cl"].result_list) == 56
    assert reverse("admin:commissions_tradeimport_upload") in response.content.decode()
    html = admin_client.get(reverse("admin:commissions_tradeimport_change", args=[report.pk])).content.decode()
    for text in ("open position", "not a trade (CMD 6)", "VOLUME: must be positive", "bad time", "FOO.x"):
        assert text in html
    assert f"trade_import__id__exact={report.pk}" in html
    assert admin_client.get(reverse("admin:commissions_tradeimport_add")).status_code == 403
    assert admin_client.get(reverse("admin:commissions_tradeimport_delete", args=[report.pk])).status_code == 403


GENERIC_CSV = (
    "server,ticket,login,symbol,side,lots,open_time,open_price,close_time,close_price,profit,swap,commission,"
    "spread_pips,master_ticket,status\n"
    "live,501,9001,EURUSD,buy,0.10,2025-03-03T09:00:00Z,1.08000,2025-03-03T10:00:00Z,1.08100,10.00,0,0,1.2,,closed\n"
    "live,502,9001,EURUSD,sell,1.00,2025-03-03T09:00:00Z,1.08000,2025-03-03T10:00:00Z,1.07900,100.00,0,0,,,closed\n"
    "live,503,9002,ZZZUSD.q,buy,0.50,2025-03-03T09:00:00Z,1.5,2025-03-03T10:00:00Z,1.6,5.00,0,0,,,closed\n"
    "live,504,9002,EURUSD,buy,-1,2025-03-03T09:00:00Z,1.08000,2025-03-03T10:00:00Z,1.08100,10.00,0,0,,,closed\n"
)


def test_upload_page_imports_a_generic_csv_and_shows_its_report(
    admin_client, admin_user, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    make_instrument("EURUSD")
    url = reverse("admin:commissions_tradeimport_upload")
    page = admin_client.get(url)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.content.decode()
    upload = SimpleUploadedFile("march trades.csv", GENERIC_CSV.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(url, {"file": upload, "format": "generic", "server": ""})
    assert response.status_code == 302
    # The import is queued for after the commit, not run inside the request's transaction.
    assert len(callbacks) == 1 and not TradeImport.objects.exists()
    callbacks[0]()
    status_url = response["Location"]
    stored = list((tmp_path / "uploads").iterdir())
    assert len(stored) == 1 and stored[0].name.endswith("march_trades.csv")
    assert stored[0].read_text() == GENERIC_CSV

    trade_import = TradeImport.objects.get()
    assert trade_import.source_name == stored[0].name
    assert trade_import.created_by == admin_user
    assert (trade_import.created, trade_import.rejected, trade_import.unresolved) == (3, 1, 1)
    assert sorted(Trade.objects.values_list("ticket", flat=True)) == [501, 502, 503]

    follow = admin_client.get(status_url)
    assert follow.status_code == 302
    assert follow["Location"] == reverse("admin:commissions_tradeimport_change", args=[trade_import.pk])
    report = admin_client.get(follow["Location"]).content.decode()
    assert "ZZZUSD.q" in report
    assert "<td>5</td>" in report  # the rejected row's line number (header = line 1)


def test_uploads_go_through_the_storage_api_and_workers_get_a_storage_name(
    admin_client, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """No local path is handed to a worker: with an in-memory storage (no file on any disk) the import still works."""
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    make_instrument("EURUSD")
    sent = []
    monkeypatch.setattr("commissions.admin.imports.import_trades_file.delay", lambda *args: sent.append(args) or None)
    upload = SimpleUploadedFile("march.csv", GENERIC_CSV.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:commissions_tradeimport_upload"), {"file": upload, "format": "generic"})
    ((storage_name, fmt, server, user_id, source_name),) = sent
    assert storage_name.startswith("uploads/") and storage_name.endswith("-march.csv") and fmt == "generic"
    assert not Path(storage_name).is_absolute()

    from django.core.files.storage import default_storage

    from commissions.tasks import import_trades_file

    assert default_storage.exists(storage_name)
    trade_import = TradeImport.objects.get(pk=import_trades_file(storage_name, fmt, server, user_id, source_name))
    assert (trade_import.status, trade_import.created) == (TradeImport.Status.DONE, 3)


def test_upload_status_page_waits_until_the_import_exists(admin_client):
    response = admin_client.get(reverse("admin:commissions_tradeimport_upload_status", args=["0123456789abcdef"]))
    assert response.status_code == 200
    assert 'http-equiv="refresh"' in response.content.decode()


def test_upload_needs_a_server_for_mt4_and_mt5(admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("mt4.csv", b"TICKET,LOGIN\n", content_type="text/csv")
    response = admin_client.post(
        reverse("admin:commissions_tradeimport_upload"), {"file": upload, "format": "mt4", "server": ""}
    )
    assert response.status_code == 200
    assert "server" in response.context["form"].errors
    assert not (tmp_path / "uploads").exists()
    assert not TradeImport.objects.exists()


def test_upload_is_for_staff_with_the_permission(client, django_user_model):
    url = reverse("admin:commissions_tradeimport_upload")
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    verified_login(client, django_user_model.objects.get(username="clerk"))
    assert client.get(url).status_code == 403


# --- reference data -----------------------------------------------------------------------------------------------


def test_reference_changelists_render_in_bounded_queries(admin_client, django_assert_max_num_queries):
    for i in range(60):
        instrument = make_instrument(f"S{i:02d}USD")
        InstrumentAlias.objects.create(alias=f"ALIAS{i:02d}", instrument=instrument)
        InstrumentAlias.objects.create(alias=f"OTHER{i:02d}", instrument=instrument)
        ConversionRate.objects.create(currency="EUR", day=date(2025, 1, 1) + timedelta(days=i), usd_rate="1.08")
        SymbolSuffix.objects.create(suffix=f".s{i}")
        deal = {"server": "mt5", "position_id": i, "login": 5, "symbol": "EURUSD", "side": 1, "time": T0}
        Mt5OpenDeal.objects.create(
            **deal, deal=1000 + i, price=Decimal("1.1"), lots=Decimal(1), remaining_lots=Decimal("0.5")
        )
        Mt5Deal.objects.create(**deal, deal=2000 + i, entry=0, price=Decimal("1.1"), lots=Decimal(1))
    for name in (
        "commissions_instrument",
        "ledger_conversionrate",
        "commissions_symbolsuffix",
        "commissions_mt5opendeal",
        "commissions_mt5deal",
    ):
        with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
            response = admin_client.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name
        assert len(response.context["cl"].result_list) == 60, name
    html = admin_client.get(reverse("admin:commissions_instrument_changelist")).content.decode()
    assert "ALIAS07, OTHER07" in html
    assert admin_client.get(reverse("admin:commissions_mt5opendeal_add")).status_code == 403
    deals = admin_client.get(reverse("admin:commissions_mt5deal_changelist"), {"q": "2007"})
    assert [d.deal for d in deals.context["cl"].result_list] == [2007]


def instrument_form(symbol: str, aliases: list[str], **fields) -> dict[str, str]:
    data = {
        "symbol": symbol,
        "group": "metals",
        "base": "XAU",
        "quote": "USD",
        "contract_size": "100",
        "pip_size": "0.01",
        "digits": "2",
        "volume_step": "0.01",
        "volume_min": "0.01",
        "volume_max": "100",
        "aliases-TOTAL_FORMS": str(len(aliases)),
        "aliases-INITIAL_FORMS": "0",
        **fields,
    }
    for i, alias in enumerate(aliases):
        data[f"aliases-{i}-alias"] = alias
    return data


def test_instrument_added_in_the_admin_resolves_waiting_trades(admin_client):
    make_trade(1, instrument=None, symbol="GOLD")
    make_trade(2, instrument=None, symbol="XAUUSD")
    make_trade(3, instrument=None, symbol="SILVER")
    response = admin_client.post(reverse("admin:commissions_instrument_add"), instrument_form("XAUUSD", ["GOLD"]))
    assert response.status_code == 302
    gold = Instrument.objects.get(symbol="XAUUSD")
    assert list(gold.aliases.values_list("alias", flat=True)) == ["GOLD"]
    assert dict(Trade.objects.values_list("ticket", "instrument_id")) == {1: gold.pk, 2: gold.pk, 3: None}


def test_instrument_change_keeps_the_symbol_and_saves_through_the_service(admin_client):
    gold = Instrument.objects.create(
        symbol="XAUUSD", group="metals", base="XAU", quote="USD", contract_size=100, pip_size=Decimal("0.01"), digits=2
    )
    make_trade(1, instrument=None, symbol="XAU.pro")
    url = reverse("admin:commissions_instrument_change", args=[gold.pk])
    data = instrument_form("RENAMED", ["XAU.pro"], volume_max="50")
    response = admin_client.post(url, data)
    assert response.status_code == 302
    gold.refresh_from_db()
    assert (gold.symbol, gold.volume_max) == ("XAUUSD", Decimal(50))
    assert Instrument.objects.count() == 1
    assert Trade.objects.get(ticket=1).instrument_id == gold.pk  # the new alias resolved it


def test_suffix_added_in_the_admin_resolves_waiting_trades(admin_client):
    eurusd = make_instrument("EURUSD")
    make_trade(1, instrument=None, symbol="EURUSD.x")
    response = admin_client.post(reverse("admin:commissions_symbolsuffix_add"), {"suffix": ".x"})
    assert response.status_code == 302
    assert Trade.objects.get(ticket=1).instrument_id == eurusd.pk
    suffix = SymbolSuffix.objects.get(suffix=".x")
    assert admin_client.post(reverse("admin:commissions_symbolsuffix_change", args=[suffix.pk]), {}).status_code == 403


def test_rate_admin_saves_through_the_service(admin_client):
    response = admin_client.post(
        reverse("admin:ledger_conversionrate_add"), {"currency": "JPY", "day": "2025-03-03", "usd_rate": "0.0067"}
    )
    assert response.status_code == 302
    rate = ConversionRate.objects.get(currency="JPY")
    assert rate.usd_rate == Decimal("0.0067")
    change = reverse("admin:ledger_conversionrate_change", args=[rate.pk])
    assert admin_client.post(change, {"usd_rate": "0.0068"}).status_code == 302
    rate.refresh_from_db()
    assert (rate.currency, rate.day, rate.usd_rate) == ("JPY", date(2025, 3, 3), Decimal("0.0068"))


def test_upload_paths_stay_inside_the_uploads_folder(
    admin_client, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("../../etc/passwd", b"x\n", content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(
            reverse("admin:commissions_tradeimport_upload"), {"file": upload, "format": "generic", "server": ""}
        )
    assert response.status_code == 302
    stored = list(Path(tmp_path, "uploads").iterdir())
    assert len(stored) == 1 and stored[0].parent == tmp_path / "uploads"
    assert stored[0].name.endswith("-passwd")


def test_import_task_is_registered_under_its_stable_name():
    from commissions.tasks import import_trades_file
    from config.celery import app

    assert import_trades_file.name == "commissions.import_trades_file"
    registered = app.tasks["commissions.import_trades_file"]
    assert registered.run is import_trades_file.run  # a worker finds this function by that name


@pytest.mark.parametrize("queued", ["/var/lib/ibex/imports/march.csv", "../../etc/march.csv"])
def test_an_import_queued_with_a_local_path_fails_with_a_reason_instead_of_an_internal_error(
    queued, settings, tmp_path
):
    """Messages queued by a version that handed workers local paths: the import fails, saying to upload again."""
    from commissions.tasks import import_trades_file

    settings.MEDIA_ROOT = tmp_path
    trade_import = TradeImport.objects.get(pk=import_trades_file(queued, "generic"))
    assert trade_import.status == TradeImport.Status.FAILED
    assert "march.csv is not a file in the upload storage" in trade_import.error
    assert "upload the file again" in trade_import.error and "Internal error" not in trade_import.error
