"""Reference data: instrument/alias, suffix and rate upserts (services and API), 400/403, query counts, schema."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from commissions.models import Instrument, InstrumentAlias, SymbolSuffix
from commissions.services.reference_data import instruments_upsert, suffixes_upsert
from core.exceptions import RowErrors
from ledger.models import ConversionRate
from ledger.services.rates import rates_upsert

pytestmark = pytest.mark.django_db

API = "/api/v1"

# The role check loads the user's and its groups' permissions, once per request (core/api/permissions.py).
ROLE_CHECK = 2


@pytest.fixture(autouse=True)
def resolver(monkeypatch):
    """Stand-in for the resolution of stored trades (``commissions.services.symbols``): records each call and reports
    a fixed number of resolved trades, so these tests do not depend on the trade feed."""
    calls: list[int] = []

    def trades_resolve_unresolved() -> int:
        calls.append(Instrument.objects.count())
        return 3

    monkeypatch.setattr("commissions.services.reference_data.trades_resolve_unresolved", trades_resolve_unresolved)
    return calls


def eurusd(**extra) -> dict:
    return {
        "symbol": "EURUSD",
        "group": "forex_major",
        "base": "EUR",
        "quote": "USD",
        "contract_size": "100000",
        "pip_size": "0.0001",
        "aliases": ["EURUSD.m", "EURUSD.ecn"],
        **extra,
    }


def xauusd(**extra) -> dict:
    return {
        "symbol": "XAUUSD",
        "group": "metals",
        "base": "xau",
        "quote": "usd",
        "contract_size": "100",
        "pip_size": "0.01",
        "volume_max": "50",
        "aliases": ["GOLD"],
        **extra,
    }


# --- services -----------------------------------------------------------------------------------------------------


def test_instruments_upsert_creates_updates_and_resolves(resolver):
    counts = instruments_upsert(rows=[eurusd(), xauusd()])
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "trades_resolved": 3}
    assert resolver == [2]  # called after the instruments were written
    gold = Instrument.objects.get(symbol="XAUUSD")
    assert (gold.base, gold.quote, gold.contract_size, gold.volume_step, gold.volume_max) == (
        "XAU",
        "USD",
        Decimal(100),
        Decimal("0.01"),
        Decimal(50),
    )
    assert set(InstrumentAlias.objects.values_list("alias", "instrument__symbol")) == {
        ("EURUSD.m", "EURUSD"),
        ("EURUSD.ecn", "EURUSD"),
        ("GOLD", "XAUUSD"),
    }
    again = instruments_upsert(
        rows=[eurusd(), xauusd(pip_size="0.001", aliases=[]), eurusd(symbol="GBPUSD", aliases=["GOLD"])]
    )
    assert (again["created"], again["updated"], again["unchanged"]) == (1, 1, 1)
    assert Instrument.objects.get(symbol="XAUUSD").pip_size == Decimal("0.001")
    # An alias moves to the instrument it is listed under; unlisted aliases are kept.
    assert InstrumentAlias.objects.get(alias="GOLD").instrument.symbol == "GBPUSD"
    assert InstrumentAlias.objects.count() == 3


def test_instrument_alias_change_alone_counts_as_update():
    instruments_upsert(rows=[eurusd()])
    counts = instruments_upsert(rows=[eurusd(aliases=["EURUSDpro"])])
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 1, 0)
    assert InstrumentAlias.objects.filter(instrument__symbol="EURUSD").count() == 3


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (eurusd(contract_size="0"), "contract_size"),
        (eurusd(pip_size="abc"), "pip_size"),
        (eurusd(pip_size="0.00000000001"), "pip_size"),
        (eurusd(volume_min="2", volume_max="1"), "volume_max"),
        (eurusd(symbol=""), "symbol"),
        (eurusd(aliases="EURUSD.m"), "aliases"),
        (eurusd(aliases=["XAUUSD"]), "aliases"),
        (eurusd(digits=11), "digits"),
        (eurusd(digits=-1), "digits"),
        (eurusd(digits="5"), "digits"),
    ],
)
def test_instruments_upsert_rejects_bad_rows(row, field, resolver):
    with pytest.raises(RowErrors) as excinfo:
        instruments_upsert(rows=[xauusd(), row])
    assert field in excinfo.value.rows[1]
    assert not Instrument.objects.exists() and resolver == []


def test_instrument_digits_default_by_quote_convention_and_can_be_given():
    usdjpy = eurusd(symbol="USDJPY", base="USD", quote="JPY", pip_size="0.01", aliases=[])
    us30 = eurusd(symbol="US30", group="indices", base="US30", pip_size="1", contract_size="1", aliases=[])
    gold3 = xauusd(symbol="XAUUSD.3", digits=3, aliases=[])
    instruments_upsert(rows=[eurusd(), usdjpy, xauusd(), us30, gold3])
    digits = dict(Instrument.objects.values_list("symbol", "digits"))
    # FX carries a fractional pip; anything else is quoted to its pip unless the broker says otherwise.
    assert digits == {"EURUSD": 5, "USDJPY": 3, "XAUUSD": 2, "US30": 0, "XAUUSD.3": 3}
    # Re-sending an instrument without digits (say, to add an alias) keeps the digits it has.
    instruments_upsert(rows=[xauusd(symbol="XAUUSD.3", aliases=["GOLD3"])])
    assert Instrument.objects.get(symbol="XAUUSD.3").digits == 3


def test_instruments_upsert_rejects_duplicates():
    with pytest.raises(RowErrors) as excinfo:
        instruments_upsert(rows=[eurusd(), eurusd(aliases=[]), xauusd(aliases=["EURUSD.m"])])
    assert set(excinfo.value.rows) == {1, 2}


def test_symbols_and_aliases_never_cross_across_the_database():
    """The in-request check was not enough: an alias equal to an instrument stored earlier, or a symbol equal to a
    stored alias of another instrument, would make a platform symbol resolve two ways."""
    instruments_upsert(rows=[eurusd(), xauusd()])
    with pytest.raises(RowErrors) as excinfo:
        instruments_upsert(rows=[xauusd(aliases=["GOLD", "EURUSD"])])
    assert excinfo.value.rows == {0: {"aliases": ["'EURUSD' is the symbol of another instrument."]}}
    with pytest.raises(RowErrors) as excinfo:
        instruments_upsert(rows=[eurusd(symbol="GOLD", aliases=[])])
    assert excinfo.value.rows == {0: {"symbol": ["'GOLD' is an alias of XAUUSD."]}}
    assert not Instrument.objects.filter(symbol="GOLD").exists()
    assert InstrumentAlias.objects.get(alias="GOLD").instrument.symbol == "XAUUSD"
    # Re-sending a stored instrument with its own aliases (its own symbol among them) is still fine.
    assert instruments_upsert(rows=[xauusd(aliases=["GOLD", "XAUUSD"])])["updated"] == 1


def test_instruments_upsert_is_set_based(django_assert_max_num_queries):
    rows = [eurusd(symbol=f"SYM{n}", aliases=[f"SYM{n}.m", f"SYM{n}.x"]) for n in range(200)]
    # Constant in the row count; 2 of them check symbols and aliases against the stored ones, 1 takes the lock.
    with django_assert_max_num_queries(10):
        assert instruments_upsert(rows=rows)["created"] == 200
    assert InstrumentAlias.objects.count() == 400


def test_suffixes_upsert(resolver):
    assert suffixes_upsert(suffixes=[".m", ".ecn", ".m"]) == {"created": 2, "unchanged": 0, "trades_resolved": 3}
    assert suffixes_upsert(suffixes=[".m", "pro"]) == {"created": 1, "unchanged": 1, "trades_resolved": 3}
    assert suffixes_upsert(suffixes=[".m"])["trades_resolved"] == 0
    assert len(resolver) == 2
    assert sorted(SymbolSuffix.objects.values_list("suffix", flat=True)) == [".ecn", ".m", "pro"]


def test_rates_upsert():
    rows = [
        {"currency": "EUR", "day": date(2024, 1, 2), "usd_rate": Decimal("1.0954")},
        {"currency": "jpy", "day": date(2024, 1, 2), "usd_rate": "0.006931234567"},
    ]
    assert rates_upsert(rows=rows) == {"created": 2, "updated": 0, "unchanged": 0}
    rows[0]["usd_rate"] = Decimal("1.0960")
    rows.append({"currency": "EUR", "day": date(2024, 1, 3), "usd_rate": "1.1"})
    assert rates_upsert(rows=rows) == {"created": 1, "updated": 1, "unchanged": 1}
    assert ConversionRate.objects.get(currency="EUR", day=date(2024, 1, 2)).usd_rate == Decimal("1.0960")
    assert ConversionRate.objects.get(currency="JPY").usd_rate == Decimal("0.006931234567")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"currency": "EUR", "day": date(2024, 1, 2), "usd_rate": "0"}, "usd_rate"),
        ({"currency": "EUR", "day": date(2024, 1, 2), "usd_rate": "-1"}, "usd_rate"),
        ({"currency": "EUR", "day": date(2024, 1, 2), "usd_rate": "0.0000000000001"}, "usd_rate"),
        ({"currency": "E", "day": date(2024, 1, 2), "usd_rate": "1"}, "currency"),
        ({"currency": "EUR", "day": "2024-01-02", "usd_rate": "1"}, "day"),
        ({"currency": "GBP", "day": date(2024, 1, 1), "usd_rate": "1.3"}, "day"),  # duplicate of row 0
    ],
)
def test_rates_upsert_rejects_bad_rows(row, field):
    with pytest.raises(RowErrors) as excinfo:
        rates_upsert(rows=[{"currency": "GBP", "day": date(2024, 1, 1), "usd_rate": "1.27"}, row])
    assert field in excinfo.value.rows[1]
    assert not ConversionRate.objects.exists()


def test_rates_upsert_is_set_based(django_assert_max_num_queries):
    rows = [{"currency": c, "day": date(2024, 1, d), "usd_rate": "1.5"} for c in ("EUR", "GBP") for d in range(1, 32)]
    rates_upsert(rows=rows[:30])
    with django_assert_max_num_queries(5):
        assert rates_upsert(rows=rows) == {"created": 32, "updated": 0, "unchanged": 30}


# --- API ----------------------------------------------------------------------------------------------------------

ROUTES = [
    ("get", "/instruments/"),
    ("post", "/instruments/"),
    ("get", "/rates/"),
    ("post", "/rates/"),
    ("get", "/symbol-suffixes/"),
    ("post", "/symbol-suffixes/"),
]


def call(client: APIClient, method: str, url: str, data=None):
    return getattr(client, method)(API + url, data, format="json")


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_non_staff_token_gets_403(plain_client, method, url):
    body = [eurusd()] if (method, url) == ("post", "/instruments/") else None
    assert call(plain_client, method, url, body).status_code == 403
    assert not Instrument.objects.exists()


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_anonymous_gets_401(method, url):
    assert call(APIClient(), method, url).status_code == 401


def test_instruments_api_upsert_and_list(staff_client, django_assert_max_num_queries):
    response = call(staff_client, "post", "/instruments/", [eurusd(), xauusd()])
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0, "trades_resolved": 3}
    with django_assert_max_num_queries(4 + ROLE_CHECK):
        listing = call(staff_client, "get", "/instruments/").json()
    gold = listing["results"][1]
    assert gold["symbol"] == "XAUUSD" and gold["aliases"] == ["GOLD"]
    assert gold["contract_size"] == "100.000000" and gold["pip_size"] == "0.0100000000"
    assert call(staff_client, "get", "/instruments/?group=metals").json()["count"] == 1


def test_instrument_list_query_count_is_flat(staff_client, django_assert_max_num_queries):
    instruments_upsert(rows=[eurusd(symbol=f"S{n:02d}", aliases=[f"S{n:02d}.m"]) for n in range(60)])
    with django_assert_max_num_queries(4 + ROLE_CHECK):
        data = call(staff_client, "get", "/instruments/?page_size=100").json()
    assert data["count"] == 60 and all(len(i["aliases"]) == 1 for i in data["results"])


def test_rates_api_upsert_and_filters(staff_client, django_assert_max_num_queries):
    rows = [{"currency": c, "day": f"2024-01-{d:02d}", "usd_rate": "1.1"} for c in ("EUR", "GBP") for d in (1, 2, 3)]
    assert call(staff_client, "post", "/rates/", rows).json() == {"created": 6, "updated": 0, "unchanged": 0}
    with django_assert_max_num_queries(3 + ROLE_CHECK):
        data = call(staff_client, "get", "/rates/?currency=EUR&day_from=2024-01-02&day_to=2024-01-03").json()
    assert [(r["currency"], r["day"], r["usd_rate"]) for r in data["results"]] == [
        ("EUR", "2024-01-02", "1.100000000000"),
        ("EUR", "2024-01-03", "1.100000000000"),
    ]


def test_suffixes_api(staff_client):
    assert call(staff_client, "post", "/symbol-suffixes/", {"suffixes": [".m"]}).json()["created"] == 1
    assert call(staff_client, "get", "/symbol-suffixes/").json()["results"] == [{"suffix": ".m"}]


@pytest.mark.parametrize(
    ("url", "body", "index", "field"),
    [
        ("/instruments/", [eurusd(contract_size="-1")], 0, "contract_size"),
        ("/instruments/", [xauusd(), eurusd(contract_size=100000.5)], 1, "contract_size"),
        ("/instruments/", [xauusd(), eurusd(aliases=["GOLD"])], 1, "aliases"),
        ("/instruments/", [{"symbol": "X"}], 0, "group"),
        ("/rates/", [{"currency": "EUR", "day": "2024-02-30", "usd_rate": "1"}], 0, "day"),
        ("/rates/", [{"currency": "EUR", "day": "2024-02-01", "usd_rate": "0"}], 0, "usd_rate"),
        ("/rates/", [{"currency": "EUR", "day": "2024-02-01", "usd_rate": 1.1}], 0, "usd_rate"),
        (
            "/rates/",
            [{"currency": "EUR", "day": "2024-02-01", "usd_rate": "1"}, {"currency": "EUR", "day": "2024-02-01"}],
            1,
            "usd_rate",
        ),
        (
            "/rates/",
            [{"currency": "EUR", "day": "2024-02-01", "usd_rate": "1"}] * 2,
            1,
            "day",
        ),
    ],
)
def test_list_upserts_report_bad_rows(staff_client, url, body, index, field):
    response = call(staff_client, "post", url, body)
    assert response.status_code == 400, response.content
    rows = response.json()["rows"]
    assert rows[0]["index"] == index and field in rows[0]["errors"]
    assert not Instrument.objects.exists() and not ConversionRate.objects.exists()


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("post", "/instruments/", {"symbol": "X"}, "non_field_errors"),
        ("post", "/rates/", "EUR", "non_field_errors"),
        ("post", "/symbol-suffixes/", {"suffixes": []}, "suffixes"),
        ("post", "/symbol-suffixes/", {}, "suffixes"),
        ("get", "/rates/?day_from=yesterday", None, "day_from"),
    ],
)
def test_bad_input_is_400_with_field_errors(staff_client, method, url, body, field):
    response = call(staff_client, method, url, body)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_schema_for_reference_views_has_no_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(
        patterns=[path("api/v1/", include("commissions.api.urls")), path("api/v1/", include("ledger.api.urls"))]
    )
    schema = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._warn_cache)
    assert {"/api/v1/instruments/", "/api/v1/rates/", "/api/v1/symbol-suffixes/"} <= set(schema["paths"])
