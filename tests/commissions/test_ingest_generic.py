"""Generic CSV ingest against PostgreSQL: versions, idempotency, duplicates, rejections, fatal errors, streaming."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from commissions.models import Trade, TradeImport
from commissions.services.trade_ingest import trades_import_file

from .ingest_support import csv_text, current, instruments, table_state, trade_row, write_csv  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("instruments")]


def test_a_good_file_creates_current_version_one_trades(tmp_path, django_user_model):
    user = django_user_model.objects.create_user("ops", is_staff=True)
    rows = [
        trade_row(ticket=1, symbol="EURUSD", side="buy"),
        trade_row(ticket=2, symbol="GOLD", side="SELL", lots="0.01", spread_pips="", status=""),
        trade_row(ticket=3, symbol="GBPUSD.m", master_ticket="99", open_time="2024-03-01T12:00:00+02:00"),
    ]
    progress: list[int] = []
    result = trades_import_file(
        path=write_csv(tmp_path / "t.csv", rows), fmt="generic", user=user, progress=progress.append
    )
    assert result.status == TradeImport.Status.DONE, result.error
    assert (result.rows_read, result.created, result.updated, result.unchanged) == (3, 3, 0, 0)
    assert (result.skipped, result.rejected, result.unresolved) == (0, 0, 0)
    assert sum(progress) == 3
    assert result.created_by == user and result.source_name == "t.csv" and result.finished_at is not None

    t1, t2, t3 = (current("Live-1", n) for n in (1, 2, 3))
    assert (t1.version, t1.is_current, t1.side, t1.instrument.symbol) == (1, True, Trade.Side.BUY, "EURUSD")
    assert (t1.lots, t1.open_price, t1.profit, t1.commission) == (
        Decimal("1.5"),
        Decimal("1.085"),
        Decimal(225),
        Decimal("-10.5"),
    )
    assert t1.open_time == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert t1.trade_import_id == result.pk and t1.status == Trade.Status.CLOSED
    assert (t2.side, t2.instrument.symbol, t2.spread_pips, t2.status) == (Trade.Side.SELL, "XAUUSD", None, "closed")
    assert (t3.instrument.symbol, t3.master_ticket) == ("GBPUSD", 99)
    assert t3.open_time == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert len({t1.content_hash, t2.content_hash, t3.content_hash}) == 3


def test_reimporting_the_same_file_changes_nothing(tmp_path):
    path = write_csv(tmp_path / "t.csv", [trade_row(ticket=n) for n in range(1, 51)])
    first = trades_import_file(path=path, fmt="generic")
    before = table_state()
    rows_before = list(Trade.objects.order_by("id").values())
    again = trades_import_file(path=path, fmt="generic")
    assert (first.created, again.created, again.updated, again.unchanged) == (50, 0, 0, 50)
    assert table_state() == before
    assert list(Trade.objects.order_by("id").values()) == rows_before


def test_equal_values_written_differently_are_unchanged(tmp_path):
    trades_import_file(path=write_csv(tmp_path / "a.csv", [trade_row()]), fmt="generic")
    before = table_state()
    same = trade_row(
        lots="1.5000",
        open_price="1.085",
        profit="225",
        swap="0.000",
        commission="-10.500000",
        spread_pips="0.40",
        open_time="2024-03-01T12:00:00+02:00",
        close_time="2024-03-01 12:30:00",
        side="BUY",
        status="",
    )
    result = trades_import_file(path=write_csv(tmp_path / "b.csv", [same]), fmt="generic")
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert table_state() == before


def test_a_changed_trade_becomes_version_two_and_keeps_version_one(tmp_path):
    trades_import_file(path=write_csv(tmp_path / "a.csv", [trade_row(ticket=7), trade_row(ticket=8)]), fmt="generic")
    v1 = current("Live-1", 7)
    corrected = [trade_row(ticket=7, close_price="1.08700", profit="300.00"), trade_row(ticket=8)]
    result = trades_import_file(path=write_csv(tmp_path / "b.csv", corrected), fmt="generic")
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    versions = list(Trade.objects.filter(server="Live-1", ticket=7).order_by("version"))
    assert [(v.version, v.is_current) for v in versions] == [(1, False), (2, True)]
    old, new = versions
    assert old.pk == v1.pk and old.close_price == Decimal("1.0865") and old.superseded_at is not None
    assert new.close_price == Decimal("1.087") and new.profit == Decimal(300)
    assert new.trade_import_id == result.pk and new.content_hash != old.content_hash
    assert Trade.objects.filter(ticket=8).count() == 1


def test_a_cancellation_is_a_new_cancelled_version(tmp_path):
    trades_import_file(path=write_csv(tmp_path / "a.csv", [trade_row(ticket=7)]), fmt="generic")
    result = trades_import_file(
        path=write_csv(tmp_path / "b.csv", [trade_row(ticket=7, status="cancelled")]), fmt="generic"
    )
    assert result.updated == 1
    versions = list(Trade.objects.filter(ticket=7).order_by("version").values_list("version", "status", "is_current"))
    assert versions == [(1, "closed", False), (2, "cancelled", True)]
    again = trades_import_file(
        path=write_csv(tmp_path / "c.csv", [trade_row(ticket=7, status="CANCELLED")]), fmt="generic"
    )
    assert (again.updated, again.unchanged) == (0, 1)


def test_duplicates_in_a_file_keep_the_last_and_count_the_others(tmp_path):
    rows = [
        trade_row(ticket=5, profit="1"),
        trade_row(ticket=6),
        trade_row(ticket=5, profit="2"),
        trade_row(ticket=5, profit="3"),
        trade_row(ticket=5, server="Live-2", profit="4"),
    ]
    result = trades_import_file(path=write_csv(tmp_path / "d.csv", rows), fmt="generic")
    assert (result.rows_read, result.created, result.skipped) == (5, 3, 2)
    assert result.skipped_reasons == {"duplicate in file": 2}
    assert current("Live-1", 5).profit == Decimal(3)
    assert current("Live-2", 5).profit == Decimal(4)


def test_bad_rows_are_rejected_with_lines_and_good_rows_kept(tmp_path):
    rows = [
        trade_row(ticket=1),
        trade_row(ticket=2, lots="0"),
        trade_row(ticket=3, lots="-1", open_time="yesterday"),
        trade_row(ticket=4, close_time="2024-02-30T00:00:00Z"),
        trade_row(ticket=5),
    ]
    result = trades_import_file(path=write_csv(tmp_path / "r.csv", rows), fmt="generic")
    assert (result.rows_read, result.created, result.rejected) == (5, 2, 3)
    assert [r["line"] for r in result.rejections] == [3, 4, 5]
    assert set(result.rejections[1]["errors"]) == {"lots", "open_time"}
    assert sorted(Trade.objects.values_list("ticket", flat=True)) == [1, 5]


def test_non_utf8_rows_are_rejected_and_the_rest_imported(tmp_path):
    data = csv_text([trade_row(ticket=1), trade_row(ticket=2)]).encode()
    data = data.replace(b"5001,EURUSD", b"5001,EUR\xff", 1)
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    result = trades_import_file(path=path, fmt="generic")
    assert (result.created, result.rejected) == (1, 1)
    assert result.rejections[0]["line"] == 2 and "UTF-8" in result.rejections[0]["errors"]["row"]


def test_a_wrong_header_fails_the_import_and_writes_nothing(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("ticket,login,symbol\n1,2,EURUSD\n")
    result = trades_import_file(path=path, fmt="generic")
    assert result.status == TradeImport.Status.FAILED
    assert "server" in result.error and "lots" in result.error
    assert Trade.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "xls"}, "Unknown format"),
        ({"fmt": "mt4"}, "--server"),
        ({"fmt": "mt5", "server": "a,b"}, "Invalid server"),
        ({"fmt": "mt4", "server": "Live", "tz": "Mars/Olympus"}, "time zone"),
    ],
)
def test_bad_options_fail_the_import(tmp_path, kwargs, message):
    path = write_csv(tmp_path / "t.csv", [trade_row()])
    result = trades_import_file(path=path, **kwargs)
    assert result.status == TradeImport.Status.FAILED and message in result.error
    assert Trade.objects.count() == 0


def test_a_missing_file_fails_cleanly(tmp_path):
    result = trades_import_file(path=tmp_path / "nope.csv", fmt="generic")
    assert result.status == TradeImport.Status.FAILED and "Cannot read" in result.error


def test_unknown_symbols_are_stored_unresolved_and_reported(tmp_path):
    rows = [trade_row(ticket=1, symbol="SPX500"), trade_row(ticket=2, symbol="SPX500"), trade_row(ticket=3)]
    result = trades_import_file(path=write_csv(tmp_path / "u.csv", rows), fmt="generic")
    assert (result.created, result.unresolved, result.unresolved_symbols) == (3, 2, {"SPX500": 2})
    assert current("Live-1", 1).instrument is None
    assert current("Live-1", 3).instrument is not None


def test_no_staging_table_outlives_an_import(tmp_path):
    trades_import_file(path=write_csv(tmp_path / "t.csv", [trade_row()]), fmt="generic")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'ibex_ingest_%%'")
        assert cursor.fetchone()[0] == 0


def test_a_large_file_is_imported_through_the_streaming_path(tmp_path):
    """200k rows (about 24 MB): imported whole, in blocks, with progress reported per block."""
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write(csv_text([]))
        line = csv_text([trade_row(ticket="{}")]).split("\n")[1]
        for start in range(0, 200_000, 10_000):
            handle.write("".join(line.format(n) + "\n" for n in range(start + 1, start + 10_001)))
    progress: list[int] = []
    result = trades_import_file(path=path, fmt="generic", progress=progress.append)
    assert (result.rows_read, result.created, result.rejected) == (200_000, 200_000, 0)
    assert len(progress) > 1 and sum(progress) == 200_000
    assert Trade.objects.filter(is_current=True).count() == 200_000


# --- every valid row lands exactly once, every invalid row is reported with its line --------------------------------

_good = st.fixed_dictionaries(
    {
        "ticket": st.integers(1, 40),
        "lots": st.decimals(min_value=Decimal("0.01"), max_value=100, places=2),
        "profit": st.decimals(min_value=-(10**6), max_value=10**6, places=2),
        "side": st.sampled_from(["buy", "sell"]),
    }
)
_bad = st.sampled_from(
    [{"lots": "0"}, {"side": "hold"}, {"open_price": "1,1"}, {"close_time": "2024-03-01T09:00:00Z"}, {"login": "-"}]
)


class TestEveryRowIsAccountedFor(HypothesisTestCase):
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=st.lists(st.tuples(_good, st.one_of(st.none(), _bad)), min_size=1, max_size=30))
    def test_rows(self, rows):
        import tempfile
        from pathlib import Path

        generated = [trade_row(**{**{k: str(v) for k, v in good.items()}, **(bad or {})}) for good, bad in rows]
        with tempfile.TemporaryDirectory() as tmp:
            path = write_csv(Path(tmp) / "h.csv", generated)
            result = trades_import_file(path=path, fmt="generic")
        bad_lines = [n for n, (_, bad) in enumerate(rows, start=2) if bad]
        assert [r["line"] for r in result.rejections] == bad_lines
        last_valid: dict[int, dict] = {}
        for (good, bad), row in zip(rows, generated, strict=True):
            if not bad:
                last_valid[good["ticket"]] = row
        assert result.rows_read == len(rows)
        assert result.created == len(last_valid)
        assert result.skipped == len(rows) - len(bad_lines) - len(last_valid)
        assert result.rows_read == result.created + result.updated + result.unchanged + result.skipped + result.rejected
        stored = {t.ticket: t for t in Trade.objects.filter(is_current=True)}
        assert set(stored) == set(last_valid)
        for ticket, row in last_valid.items():
            assert stored[ticket].lots == Decimal(row["lots"])
            assert stored[ticket].profit == Decimal(row["profit"])
            assert stored[ticket].get_side_display() == row["side"]
        assert Trade.objects.count() == len(last_valid)


def _trade_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'commissions_trade'")
        return dict(cursor.fetchall())


def test_a_bulk_load_rebuilds_the_same_indexes_and_an_ordinary_import_keeps_them(tmp_path, settings):
    settings.IBEX_INGEST_BULK_ROWS = 100
    before = _trade_indexes()
    plain = {name for name, definition in before.items() if "UNIQUE" not in definition}
    assert {"trade_close_time", "trade_account_close", "trade_unresolved"} < plain
    constraints = {"commissions_trade_pkey", "trade_version_unique"}
    path = write_csv(tmp_path / "a.csv", [trade_row(ticket=n) for n in range(1, 301)])
    with CaptureQueriesContext(connection) as bulk:
        first = trades_import_file(path=path, fmt="generic")
    assert first.created == 300
    dropped = {q["sql"] for q in bulk.captured_queries if q["sql"].startswith(("DROP INDEX", "ALTER TABLE"))}
    dropped -= {q for q in dropped if " ADD CONSTRAINT " in q}
    assert dropped == {f'DROP INDEX "{name}"' for name in set(before) - constraints} | {
        f'ALTER TABLE commissions_trade DROP CONSTRAINT "{name}"' for name in constraints
    }
    assert _trade_indexes() == before
    # 300 stored and 300 to write: not more than the table holds, so the indexes are maintained row by row.
    rows = [trade_row(ticket=n, profit="1") for n in range(151, 451)]
    with CaptureQueriesContext(connection) as ordinary:
        second = trades_import_file(path=write_csv(tmp_path / "b.csv", rows), fmt="generic")
    assert (second.created, second.updated) == (150, 150)
    assert not [q for q in ordinary.captured_queries if q["sql"].startswith(("DROP INDEX", "ALTER TABLE"))]
    assert _trade_indexes() == before
    assert Trade.objects.filter(is_current=True).count() == 450
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM commissions_trade WHERE is_current AND close_time > '2000-01-01'")
        assert cursor.fetchone()[0] == 450


def test_a_bulk_load_over_stored_trades_versions_the_changed_ones(tmp_path, settings):
    """Bulk mode drops even the unique indexes: the stored trades it changes still get exactly one current version."""
    settings.IBEX_INGEST_BULK_ROWS = 100
    before = _trade_indexes()
    trades_import_file(path=write_csv(tmp_path / "a.csv", [trade_row(ticket=n) for n in range(1, 51)]), fmt="generic")
    rows = [trade_row(ticket=n, profit="2") for n in range(26, 326)]  # 25 stored ones change, 275 are new
    with CaptureQueriesContext(connection) as bulk:
        second = trades_import_file(path=write_csv(tmp_path / "b.csv", rows), fmt="generic")
    assert any(q["sql"].endswith('DROP CONSTRAINT "trade_version_unique"') for q in bulk.captured_queries)
    assert (second.created, second.updated, second.unchanged) == (275, 25, 0)
    assert _trade_indexes() == before
    assert Trade.objects.filter(is_current=True).count() == 325
    assert Trade.objects.filter(version=2).count() == 25 and Trade.objects.count() == 350
    assert set(Trade.objects.filter(ticket__in=range(26, 51), is_current=False).values_list("version", flat=True)) == {
        1
    }


def test_a_frame_of_python_values_goes_through_the_same_path():
    import pandas as pd

    from commissions.services.trade_ingest import trades_ingest_frame

    base = {k: v for k, v in trade_row().items()}
    frame = pd.DataFrame(
        [
            {
                **base,
                "ticket": 1,
                "login": 7,
                "lots": Decimal("0.25"),
                "open_price": Decimal("1.1"),
                "open_time": datetime(2024, 3, 1, 10, tzinfo=UTC),
                "close_time": datetime(2024, 3, 1, 11),
                "master_ticket": 555,
                "spread_pips": None,
            },
            {**base, "ticket": 2, "lots": 0.1},
        ]
    )
    result = trades_ingest_frame(frame=frame, source_name="mam")
    assert (result.created, result.rejected) == (1, 1)
    assert result.rejections[0]["index"] == 1 and "lots" in result.rejections[0]["errors"]
    trade = current("Live-1", 1)
    assert (trade.lots, trade.master_ticket, trade.spread_pips, trade.login) == (Decimal("0.25"), 555, None, 7)
    assert trade.close_time == datetime(2024, 3, 1, 11, tzinfo=UTC)
    assert result.source_name == "mam" and result.format == "api"
