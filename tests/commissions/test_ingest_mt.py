"""MT4 trades-table and MT5 deals imports against PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from commissions.models import Mt5OpenDeal, Trade, TradeImport
from commissions.models.trades import Mt5Deal
from commissions.services.trade_ingest import trades_import_file

from .ingest_support import MT4_HEADER, MT5_HEADER, current, instruments, mt4_row, mt5_deal, table_state, write_csv  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("instruments")]

# --- MT4 ----------------------------------------------------------------------------------------------------------


def test_mt4_trades_are_converted_and_non_trades_skipped(tmp_path):
    rows = [
        mt4_row(TICKET=1, CMD=0, VOLUME=150, COMMENT='partial, "close"'),
        mt4_row(TICKET=2, CMD=1, VOLUME=1, SYMBOL="GOLD", OPEN_PRICE="2030.15", CLOSE_PRICE="2029.80"),
        mt4_row(TICKET=3, CMD=6, SYMBOL="", VOLUME=0, PROFIT="1000.00", COMMENT="deposit"),
        mt4_row(TICKET=4, CMD=4),
        mt4_row(TICKET=5, CLOSE_TIME="1970-01-01 00:00:00", CLOSE_PRICE="0"),
        mt4_row(TICKET=6, VOLUME=-5),
    ]
    result = trades_import_file(path=write_csv(tmp_path / "mt4.csv", rows, MT4_HEADER), fmt="mt4", server="MT4-Live")
    assert result.status == TradeImport.Status.DONE, result.error
    assert (result.rows_read, result.created, result.skipped, result.rejected) == (6, 2, 3, 1)
    assert result.skipped_reasons == {
        "cmd 4 (buy stop) is not a trade": 1,
        "cmd 6 (balance) is not a trade": 1,
        "open position (close time 1970-01-01)": 1,
    }
    assert result.rejections == [
        {"line": 7, "errors": {"volume": "a whole number of hundredths of a lot, greater than 0"}}
    ]
    buy, sell = current("MT4-Live", 1), current("MT4-Live", 2)
    assert (buy.side, buy.lots, buy.commission, buy.swap, buy.profit) == (
        Trade.Side.BUY,
        Decimal("1.5"),
        Decimal("-10.5"),
        Decimal(0),
        Decimal(225),
    )
    assert buy.open_time == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert (sell.side, sell.lots, sell.instrument.symbol) == (Trade.Side.SELL, Decimal("0.01"), "XAUUSD")
    assert result.server == "MT4-Live"


def test_mt4_server_times_are_converted_from_the_given_zone(tmp_path):
    path = write_csv(tmp_path / "mt4.csv", [mt4_row(TICKET=1)], MT4_HEADER)
    trades_import_file(path=path, fmt="mt4", server="S", tz="Etc/GMT-2")
    trade = current("S", 1)
    assert trade.open_time == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert trade.close_time == datetime(2024, 3, 1, 10, 30, tzinfo=UTC)


def test_mt4_reimport_is_a_no_op_and_matches_the_same_trade_sent_as_generic(tmp_path):
    path = write_csv(tmp_path / "mt4.csv", [mt4_row(TICKET=1, VOLUME=150)], MT4_HEADER)
    trades_import_file(path=path, fmt="mt4", server="S")
    before = table_state()
    again = trades_import_file(path=path, fmt="mt4", server="S")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert table_state() == before


# --- MT5 ----------------------------------------------------------------------------------------------------------


def mt5_file(tmp_path, name: str, deals: list[dict]):
    return write_csv(tmp_path / name, deals, MT5_HEADER)


def test_mt5_in_and_out_deals_become_trades(tmp_path):
    deals = [
        mt5_deal(100, 1, 0, 0, 20_000, "1.10000", "2024-03-01 10:00:00", Commission="-7"),
        mt5_deal(101, 1, 1, 1, 5_000, "1.10100", "2024-03-01 11:00:00", Profit="5", Commission="-1.75"),
        mt5_deal(102, 1, 1, 1, 15_000, "1.10200", "2024-03-01 12:00:00", Profit="30", Storage="-2"),
        mt5_deal(103, 9, 2, 2, 0, "0", "2024-03-01 12:00:00", Symbol="", Profit="500"),
    ]
    result = trades_import_file(path=mt5_file(tmp_path, "d.csv", deals), fmt="mt5", server="MT5")
    assert result.status == TradeImport.Status.DONE, result.error
    assert (result.rows_read, result.created, result.skipped) == (4, 2, 1)
    assert result.skipped_reasons == {"action 2 (balance) is not a trade": 1}
    first, second = current("MT5", 101), current("MT5", 102)
    assert (first.lots, first.open_price, first.close_price, first.side) == (
        Decimal("0.5"),
        Decimal("1.1"),
        Decimal("1.101"),
        Trade.Side.BUY,
    )
    assert first.commission == Decimal("-3.5")  # -1.75 own + a quarter of the entry's -7
    assert (second.lots, second.profit, second.swap, second.commission) == (
        Decimal("1.5"),
        Decimal(30),
        Decimal(-2),
        Decimal("-5.25"),
    )
    assert second.open_time == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert Mt5OpenDeal.objects.count() == 0
    assert Mt5Deal.objects.count() == 3


def test_mt5_an_exit_in_a_later_file_pairs_with_an_open_entry(tmp_path):
    opening = [
        mt5_deal(200, 2, 0, 1, 10_000, "1.20000", "2024-03-01 10:00:00", Commission="-3"),
        mt5_deal(201, 2, 0, 1, 10_000, "1.20200", "2024-03-01 10:05:00", Commission="-3"),
        mt5_deal(202, 2, 1, 0, 5_000, "1.19000", "2024-03-01 11:00:00"),
    ]
    first = trades_import_file(path=mt5_file(tmp_path, "a.csv", opening), fmt="mt5", server="MT5")
    assert (first.created, first.skipped_reasons) == (1, {"open position (entry kept for a later exit)": 2})
    open_deals = list(Mt5OpenDeal.objects.order_by("deal").values_list("deal", "lots", "remaining_lots"))
    assert open_deals == [(200, Decimal(1), Decimal("0.5")), (201, Decimal(1), Decimal(1))]

    closing = [mt5_deal(203, 2, 1, 0, 15_000, "1.18000", "2024-03-02 09:00:00", Profit="300")]
    second = trades_import_file(path=mt5_file(tmp_path, "b.csv", closing), fmt="mt5", server="MT5")
    assert (second.created, second.unchanged, second.skipped) == (1, 1, 0)
    trade = current("MT5", 203)
    assert (trade.side, trade.lots, trade.profit) == (Trade.Side.SELL, Decimal("1.5"), Decimal(300))
    assert trade.open_price == Decimal("1.2013333333")  # (0.5 × 1.2 + 1 × 1.202) / 1.5
    assert trade.commission == Decimal("-4.5")  # the rest of both entries' commissions
    assert trade.open_time == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert Mt5OpenDeal.objects.count() == 0


def test_mt5_reimporting_files_in_any_order_never_consumes_an_entry_twice(tmp_path):
    a = mt5_file(
        tmp_path,
        "a.csv",
        [
            mt5_deal(300, 3, 0, 0, 20_000, "1.5", "2024-03-01 10:00:00"),
            mt5_deal(301, 3, 1, 1, 10_000, "1.6", "2024-03-01 11:00:00"),
        ],
    )
    b = mt5_file(tmp_path, "b.csv", [mt5_deal(302, 3, 1, 1, 10_000, "1.7", "2024-03-01 12:00:00")])
    for path in (a, b):
        trades_import_file(path=path, fmt="mt5", server="MT5")
    state = table_state()
    trades = list(Trade.objects.order_by("ticket").values_list("ticket", "lots", "open_price", "version"))
    for path in (a, b, a, b, a):
        result = trades_import_file(path=path, fmt="mt5", server="MT5")
        assert (result.created, result.updated) == (0, 0)
    assert table_state() == state
    assert list(Trade.objects.order_by("ticket").values_list("ticket", "lots", "open_price", "version")) == trades
    assert trades == [(301, Decimal(1), Decimal("1.5"), 1), (302, Decimal(1), Decimal("1.5"), 1)]
    assert Mt5OpenDeal.objects.count() == 0


def test_mt5_an_exit_before_its_entry_waits_and_pairs_when_the_entry_arrives(tmp_path):
    exit_only = mt5_file(tmp_path, "x.csv", [mt5_deal(401, 4, 1, 1, 10_000, "1.3", "2024-03-01 11:00:00")])
    early = trades_import_file(path=exit_only, fmt="mt5", server="MT5")
    assert (early.created, early.skipped_reasons) == (0, {"exit without a matching entry": 1})
    entry = mt5_file(tmp_path, "e.csv", [mt5_deal(400, 4, 0, 0, 10_000, "1.2", "2024-03-01 10:00:00")])
    late = trades_import_file(path=entry, fmt="mt5", server="MT5")
    assert late.created == 1
    assert current("MT5", 401).open_price == Decimal("1.2")


def test_mt5_reversal_and_out_by(tmp_path):
    deals = [
        mt5_deal(500, 5, 0, 0, 10_000, "1.1000", "2024-03-01 10:00:00"),
        mt5_deal(501, 5, 2, 1, 30_000, "1.1100", "2024-03-01 11:00:00", Profit="100", Commission="-6"),
        mt5_deal(502, 5, 3, 0, 20_000, "1.1050", "2024-03-01 12:00:00", Profit="100"),
    ]
    result = trades_import_file(path=mt5_file(tmp_path, "r.csv", deals), fmt="mt5", server="MT5")
    assert result.created == 2
    reversal, out_by = current("MT5", 501), current("MT5", 502)
    assert (reversal.side, reversal.lots, reversal.open_price, reversal.commission) == (
        Trade.Side.BUY,
        Decimal(1),
        Decimal("1.1"),
        Decimal(-2),
    )
    assert (out_by.side, out_by.lots, out_by.open_price, out_by.commission) == (
        Trade.Side.SELL,
        Decimal(2),
        Decimal("1.11"),
        Decimal(-4),
    )


def test_mt5_a_corrected_entry_in_a_later_file_makes_new_versions(tmp_path):
    deals = [
        mt5_deal(600, 6, 0, 0, 10_000, "1.1000", "2024-03-01 10:00:00"),
        mt5_deal(601, 6, 1, 1, 10_000, "1.2000", "2024-03-01 11:00:00"),
    ]
    trades_import_file(path=mt5_file(tmp_path, "a.csv", deals), fmt="mt5", server="MT5")
    deals[0]["Price"] = "1.1500"
    result = trades_import_file(path=mt5_file(tmp_path, "b.csv", deals), fmt="mt5", server="MT5")
    assert (result.created, result.updated) == (0, 1)
    assert current("MT5", 601).open_price == Decimal("1.15")
    assert current("MT5", 601).version == 2


def test_mt5_duplicate_deals_in_a_file_keep_the_last(tmp_path):
    deals = [
        mt5_deal(700, 7, 0, 0, 10_000, "1.0", "2024-03-01 10:00:00"),
        mt5_deal(701, 7, 1, 1, 10_000, "1.1", "2024-03-01 11:00:00"),
        mt5_deal(700, 7, 0, 0, 10_000, "1.05", "2024-03-01 10:00:00"),
    ]
    result = trades_import_file(path=mt5_file(tmp_path, "d.csv", deals), fmt="mt5", server="MT5")
    assert result.skipped_reasons == {"duplicate in file": 1}
    assert current("MT5", 701).open_price == Decimal("1.05")


def test_mt5_positions_stream_in_batches(tmp_path, monkeypatch):
    """Deals are fetched from a server-side cursor in batches and trades are copied between fetches."""
    from commissions.services import trade_ingest

    monkeypatch.setattr(trade_ingest, "_MT5_FETCH", 3)
    deals = []
    for position in range(1, 8):
        deals.append(mt5_deal(1000 + position * 10, position, 0, 0, 10_000, "1.1", "2024-03-01 10:00:00"))
        deals.append(mt5_deal(1001 + position * 10, position, 1, 1, 4_000, "1.2", "2024-03-01 11:00:00"))
        deals.append(mt5_deal(1002 + position * 10, position, 1, 1, 6_000, "1.3", "2024-03-01 12:00:00"))
    result = trades_import_file(path=mt5_file(tmp_path, "many.csv", deals), fmt="mt5", server="MT5")
    assert (result.rows_read, result.created) == (21, 14)
    assert sorted(Trade.objects.values_list("ticket", flat=True)) == sorted(
        d for p in range(1, 8) for d in (1001 + p * 10, 1002 + p * 10)
    )
    assert set(Trade.objects.values_list("open_price", flat=True)) == {Decimal("1.1")}


# --- bad MT4/MT5 input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "header", "missing"),
    [
        ("mt4", [h for h in MT4_HEADER if h != "VOLUME"], "volume"),
        ("mt4", [h.replace("CMD", "TYPE") for h in MT4_HEADER], "cmd"),
        ("mt5", [h for h in MT5_HEADER if h not in ("PositionID", "Entry")], "entry, positionid"),
    ],
)
def test_mt_wrong_headers_fail_and_write_nothing(tmp_path, fmt, header, missing):
    path = tmp_path / "h.csv"
    path.write_text(",".join(header) + "\n1,2,3\n")
    result = trades_import_file(path=path, fmt=fmt, server="S")
    assert result.status == TradeImport.Status.FAILED
    assert missing in result.error
    assert not Trade.objects.exists() and not Mt5Deal.objects.exists()


def test_mt4_bad_dates_volumes_encoding_and_duplicates(tmp_path):
    rows = [
        mt4_row(TICKET=1),
        mt4_row(TICKET=2, OPEN_TIME="2024-02-30 10:00:00"),
        mt4_row(TICKET=3, VOLUME=0),
        mt4_row(TICKET=4, CLOSE_TIME="2024-03-01 09:00:00"),
        mt4_row(TICKET=1, PROFIT="226.00"),
        mt4_row(TICKET=5, SYMBOL="UNKNOWN"),
    ]
    data = write_csv(tmp_path / "m.csv", rows, MT4_HEADER).read_bytes() + "7,5001,EUR\xe9".encode("latin-1") + b"\n"
    path = tmp_path / "m2.csv"
    path.write_bytes(data)
    result = trades_import_file(path=path, fmt="mt4", server="S")
    assert (result.rows_read, result.created, result.rejected) == (7, 2, 4)
    assert [r["line"] for r in result.rejections] == [3, 4, 5, 8]
    assert set(result.rejections[0]["errors"]) == {"open_time"}
    assert set(result.rejections[1]["errors"]) == {"volume"}
    assert result.rejections[2]["errors"] == {"close_time": "before open_time"}
    assert "UTF-8" in result.rejections[3]["errors"]["row"]
    assert result.skipped_reasons == {"duplicate in file": 1}
    assert current("S", 1).profit == Decimal(226)
    assert result.unresolved_symbols == {"UNKNOWN": 1}


def test_mt5_bad_rows_are_rejected_and_the_rest_paired(tmp_path):
    deals = [
        mt5_deal(800, 8, 0, 0, 10_000, "1.0", "2024-03-01 10:00:00"),
        mt5_deal(801, 8, 1, 1, 10_000, "1.1", "2024-13-01 11:00:00"),
        mt5_deal(802, 8, 1, 1, 0, "1.1", "2024-03-01 11:00:00"),
        mt5_deal(803, 8, 1, 1, 10_000, "1.1", "2024-03-01 12:00:00", Symbol="XYZ"),
    ]
    result = trades_import_file(path=mt5_file(tmp_path, "bad.csv", deals), fmt="mt5", server="MT5")
    assert [(r["line"], set(r["errors"])) for r in result.rejections] == [(3, {"time"}), (4, {"volume"})]
    assert result.created == 1
    assert current("MT5", 803).symbol == "XYZ" and current("MT5", 803).instrument is None
