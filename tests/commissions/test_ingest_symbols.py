"""Symbol resolution (exact, alias, suffix longest first, case-insensitive), late resolution, concurrent imports,
and the pandas/PostgreSQL agreement on the ISO 8601 times the parser accepts."""

from __future__ import annotations

import threading
from decimal import Decimal

import pandas as pd
import pytest
from django.db import connection, connections
from hypothesis import given, settings
from hypothesis import strategies as st

from commissions.ingest.formats import ISO_TIME
from commissions.models import InstrumentAlias, SymbolSuffix, Trade
from commissions.services.symbols import symbols_resolve, trades_resolve_unresolved
from commissions.services.trade_ingest import trades_import_file

from .ingest_support import current, make_instrument, trade_row, write_csv

pytestmark = pytest.mark.django_db


def test_resolution_order_exact_then_alias_then_longest_suffix():
    eurusd = make_instrument("EURUSD")
    eurusd_pro = make_instrument("EURUSDPRO")
    gold = make_instrument("XAUUSD")
    InstrumentAlias.objects.create(alias="GOLD", instrument=gold)
    InstrumentAlias.objects.create(alias="EURUSD.M", instrument=gold)  # an exact alias beats stripping ".m"
    for suffix in (".m", "pro", ".ecn", "o.ecn"):
        SymbolSuffix.objects.create(suffix=suffix)
    resolved = symbols_resolve(
        symbols=["eurusd", "EURUSD.m", "GOLD.ecn", "gold", "EURUSDpro", "EURUSDPRO.m", "US30", "pro", "EURUSDo.ecn"]
    )
    assert resolved == {
        "eurusd": eurusd.pk,  # exact, case-insensitive
        "EURUSD.m": gold.pk,  # exact alias
        "GOLD.ecn": gold.pk,  # suffix stripped, then alias
        "gold": gold.pk,
        "EURUSDpro": eurusd_pro.pk,  # the instrument's own symbol beats stripping "pro"
        "EURUSDPRO.m": eurusd_pro.pk,
        "US30": None,
        "pro": None,  # a suffix alone is not a symbol
        "EURUSDo.ecn": eurusd.pk,  # longest suffix "o.ecn" first; ".ecn" would leave "EURUSDo"
    }


def test_unresolved_trades_resolve_once_an_alias_is_added(tmp_path):
    make_instrument("EURUSD")
    spx = make_instrument("US500", group="indices", base="USD", quote="USD", contract_size=1, pip_size=1)
    rows = [trade_row(ticket=1, symbol="SPX500"), trade_row(ticket=2, symbol="SPX500.m"), trade_row(ticket=3)]
    trades_import_file(path=write_csv(tmp_path / "t.csv", rows), fmt="generic")
    assert Trade.objects.filter(instrument__isnull=True).count() == 2
    assert trades_resolve_unresolved() == 0

    InstrumentAlias.objects.create(alias="spx500", instrument=spx)
    assert trades_resolve_unresolved() == 1
    assert current("Live-1", 1).instrument == spx
    assert current("Live-1", 2).instrument is None

    SymbolSuffix.objects.create(suffix=".M")
    assert trades_resolve_unresolved() == 1
    assert current("Live-1", 2).instrument == spx
    assert trades_resolve_unresolved() == 0


def test_resolution_updates_superseded_versions_too(tmp_path):
    spx = make_instrument("US500", group="indices", base="USD", quote="USD", contract_size=1, pip_size=1)
    trades_import_file(path=write_csv(tmp_path / "a.csv", [trade_row(symbol="SPX")]), fmt="generic")
    trades_import_file(path=write_csv(tmp_path / "b.csv", [trade_row(symbol="SPX", profit="1")]), fmt="generic")
    InstrumentAlias.objects.create(alias="SPX", instrument=spx)
    assert trades_resolve_unresolved() == 2
    assert set(Trade.objects.values_list("instrument_id", flat=True)) == {spx.pk}


# --- concurrency --------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_of_overlapping_data_serialise(tmp_path):
    make_instrument("EURUSD")
    a = write_csv(tmp_path / "a.csv", [trade_row(ticket=n, profit="1") for n in range(1, 301)])
    b = write_csv(tmp_path / "b.csv", [trade_row(ticket=n, profit="2") for n in range(151, 451)])
    results: dict[str, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(name, path):
        try:
            start.wait()
            results[name] = trades_import_file(path=path, fmt="generic")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ra, rb = results["a"], results["b"]
    assert ra.status == rb.status == "done"
    # Whichever ran second saw the first's 150 overlapping trades and versioned them.
    assert sorted([(ra.created, ra.updated), (rb.created, rb.updated)]) == [(150, 150), (300, 0)]
    assert Trade.objects.filter(is_current=True).count() == 450
    assert Trade.objects.count() == 600
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT server, ticket FROM commissions_trade WHERE is_current "
            "GROUP BY 1, 2 HAVING count(*) > 1) d"
        )
        assert cursor.fetchone()[0] == 0


# --- pandas and PostgreSQL read accepted ISO 8601 times identically ------------------------------------------------

_iso = st.builds(
    lambda d, t, frac, off: d.isoformat() + t + frac + off,
    st.dates(min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2999-12-31").date()),
    st.sampled_from(["", "T00:00", "T23:59:59", " 12:30:45", "T07:08"]),
    st.sampled_from(["", ".5", ".123456", ".000001"]),
    st.sampled_from(["", "Z", "+05:30", "-0800", "+14", "-12:45"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_iso, min_size=1, max_size=20))
def test_accepted_iso_times_mean_the_same_instant_to_pandas_and_postgresql(values):
    import re

    values = [v for v in values if re.fullmatch(ISO_TIME, v)]
    if not values:
        return
    ours = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", utc=True, errors="coerce")
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.execute("SELECT v::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i", [values])
        theirs = [row[0] for row in cursor.fetchall()]
    for value, mine, pg in zip(values, ours, theirs, strict=True):
        assert not pd.isna(mine), value
        assert mine.to_pydatetime() == pg, value


def test_amounts_keep_every_digit(tmp_path):
    make_instrument("EURUSD")
    row = trade_row(
        lots="123456789012.3456",
        open_price="98765432109876.0123456789",
        profit="-99999999999999.999999",
        spread_pips="12345678.1234",
        ticket="999999999999999999",
    )
    result = trades_import_file(path=write_csv(tmp_path / "t.csv", [row]), fmt="generic")
    assert result.created == 1, result.rejections
    trade = current("Live-1", 999999999999999999)
    assert trade.lots == Decimal("123456789012.3456")
    assert trade.open_price == Decimal("98765432109876.0123456789")
    assert trade.profit == Decimal("-99999999999999.999999")
    assert trade.spread_pips == Decimal("12345678.1234")


@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_loads_queue_for_the_table_instead_of_deadlocking(tmp_path, settings):
    settings.IBEX_INGEST_BULK_ROWS = 50
    make_instrument("EURUSD")
    sizes = {"Live-A": 200, "Live-B": 200, "Live-C": 200, "Live-D": 20}  # three bulk loads and an ordinary import
    files = {
        server: write_csv(tmp_path / f"{server}.csv", [trade_row(server=server, ticket=n) for n in range(1, size + 1)])
        for server, size in sizes.items()
    }
    results: dict[str, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(files))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'commissions_trade'")
        indexes_before = cursor.fetchone()[0]

    def run(server, path):
        try:
            start.wait()
            results[server] = trades_import_file(path=path, fmt="generic")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in files.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {s: (r.status, r.created) for s, r in results.items()} == {s: ("done", n) for s, n in sizes.items()}
    assert Trade.objects.count() == sum(sizes.values())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'commissions_trade'")
        assert cursor.fetchone()[0] == indexes_before >= 7  # every index the bulk loads dropped is back
