"""The trade file parser on its own (no database): rules, reasons, line numbers, encodings, streaming."""

from __future__ import annotations

import csv
import io
import re
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commissions.ingest import GENERIC, GENERIC_COLUMNS, MT4, MT5, ImportFatalError, TradeFileParser

from .ingest_support import MT4_HEADER, MT5_HEADER, csv_text, mt4_row, trade_row


def parse(text: str | bytes, spec=GENERIC, *, block_bytes: int = 1 << 20, tz: str = "UTC"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    parser = TradeFileParser(spec, io.BytesIO(data), tz=tz, block_bytes=block_bytes)
    parser.read_header()
    blocks = list(parser.blocks())
    payload = b"".join(b.payload for b in blocks)
    rejections = [r for b in blocks for r in b.rejections]
    skipped = sum((b.skipped for b in blocks), start=__import__("collections").Counter())
    return {
        "rows": sum(b.rows for b in blocks),
        "accepted": sum(b.accepted for b in blocks),
        "payload": payload.decode("utf-8"),
        "rejections": {r.line: r.errors for r in rejections},
        "skipped": skipped,
    }


def accepted_rows(result) -> list[list[str]]:
    return list(csv.reader(io.StringIO(result["payload"])))


# --- servers ------------------------------------------------------------------------------------------------------


def test_a_server_name_must_survive_as_a_path_and_its_rule_looks_at_its_own_column_only():
    """``core.names``: no "/" at either end, no "//", no "." or ".." segment — judged on the server's own value, never
    on the columns after it or the next line (the rule is embedded in the feed's whole-line pattern)."""
    servers = ["eu/live", "eu/", "a/../b", "..", "eu", "eu"]
    rows = [trade_row(server=server, ticket=str(1000 + i)) for i, server in enumerate(servers)]
    rows[4]["symbol"] = "EUR//USD/"  # a later column holding what a server may not: the row is fine
    header = [c for c in GENERIC_COLUMNS if c != "server"] + ["server"]  # the server last: before the next line
    for columns in (None, header):
        result = parse(csv_text(rows, columns))
        assert sorted(result["rejections"]) == [3, 4, 5], result["rejections"]
        assert all("server" in errors for errors in result["rejections"].values())
        assert result["accepted"] == 3


# --- header -------------------------------------------------------------------------------------------------------


def test_missing_columns_are_a_fatal_error_naming_them():
    text = "server,ticket,login,symbol,side,lots,open_time,open_price,close_time\n"
    parser = TradeFileParser(GENERIC, io.BytesIO(text.encode()))
    with pytest.raises(ImportFatalError) as exc:
        parser.read_header()
    assert "close_price" in str(exc.value) and "profit" in str(exc.value) and "commission" in str(exc.value)
    assert "open_price" not in str(exc.value).split("(found")[0]


def test_a_data_row_in_place_of_the_header_is_fatal():
    text = csv_text([trade_row()]).split("\n", 1)[1]
    with pytest.raises(ImportFatalError, match="lacks required generic columns: server, ticket"):
        TradeFileParser(GENERIC, io.BytesIO(text.encode())).read_header()


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"\n\n", "blank"), (b"serv\xe9r,ticket\n", "not valid UTF-8"), (b"a,a\n", "lacks")],
)
def test_unusable_headers_are_fatal(data, message):
    with pytest.raises(ImportFatalError, match=message):
        TradeFileParser(GENERIC, io.BytesIO(data)).read_header()


def test_duplicate_columns_are_fatal():
    header = ",".join([*GENERIC_COLUMNS, "lots"])
    with pytest.raises(ImportFatalError, match="more than once: lots"):
        TradeFileParser(GENERIC, io.BytesIO(header.encode() + b"\n")).read_header()


def test_header_is_case_and_space_insensitive_and_extra_columns_pass_through():
    header = [" Server", *[c.upper() for c in GENERIC_COLUMNS[1:]], "comment"]
    row = {h: v for h, v in zip(header, trade_row().values(), strict=False)}
    row["comment"] = 'said "hi", twice'
    result = parse("\ufeff" + csv_text([row], header))
    assert result["accepted"] == 1
    assert accepted_rows(result)[0][-1] == 'said "hi", twice'


def test_optional_columns_may_be_absent():
    header = [c for c in GENERIC_COLUMNS if c not in ("spread_pips", "master_ticket", "status")]
    assert parse(csv_text([trade_row()], header))["accepted"] == 1


# --- values -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lots", "0"),
        ("lots", "0.0000"),
        ("lots", "-1"),
        ("lots", "1.23456"),
        ("lots", "1e2"),
        ("lots", "1,5"),
        ("lots", " 1.5"),
        ("lots", "NaN"),
        ("lots", "١.٥"),  # Arabic-Indic digits: \d would accept them, PostgreSQL would not
        ("open_price", "1.00000000001"),
        ("open_price", "123456789012345"),
        ("profit", "1.0000001"),
        ("profit", "--1"),
        ("ticket", "-5"),
        ("ticket", "12.0"),
        ("ticket", "1234567890123456789"),
        ("server", ""),
        ("side", "long"),
        ("status", "open"),
        ("spread_pips", "-0.5"),
        ("master_ticket", "x"),
        ("symbol", ""),
        ("symbol", " EURUSD"),
        ("symbol", "EUR\\USD"),
        ("symbol", "X" * 49),
        ("server", "Live\t1"),
        ("open_time", "2024-13-01T00:00:00Z"),
        ("open_time", "01/03/2024 10:00"),
        ("open_time", "2024-03-01T10:00:00+25"),
        ("close_time", "2024-02-30T10:00:00Z"),
        ("close_time", "2024-03-01T24:00:00Z"),
        ("close_time", "1800-01-01T00:00:00Z"),
    ],
)
def test_each_bad_value_is_rejected_with_its_field_and_line(field, value):
    good = trade_row(login=1)
    bad = trade_row(**{"login": 2, field: value})
    result = parse(csv_text([good, bad, trade_row(login=3)]))
    assert result["rows"] == 3
    assert result["accepted"] == 2
    assert list(result["rejections"]) == [3]
    assert list(result["rejections"][3]) == [field]
    assert [r[2] for r in accepted_rows(result)] == ["1", "3"]


def test_close_before_open_is_rejected_on_close_time():
    result = parse(csv_text([trade_row(close_time="2024-03-01T09:59:59Z")]))
    assert result["rejections"] == {2: {"close_time": "before open_time"}}


def test_offsets_are_compared_in_utc():
    # 11:00+02:00 is 09:00Z, before the 10:00Z open; 12:00+02:00 is 10:00Z, equal and fine.
    rows = [
        trade_row(ticket=1, close_time="2024-03-01T11:00:00+02:00"),
        trade_row(ticket=2, close_time="2024-03-01T12:00:00+02:00"),
    ]
    result = parse(csv_text(rows))
    assert list(result["rejections"]) == [2]
    assert result["accepted"] == 1


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01",
        "2024-03-01T10:00",
        "2024-03-01 10:00:00",
        "2024-03-01T10:00:00.123456Z",
        "2024-03-01T10:00:00+0530",
    ],
)
def test_iso_8601_forms_are_accepted(value):
    row = trade_row(open_time=value, close_time="2024-03-02T00:00:00Z")
    assert parse(csv_text([row]))["accepted"] == 1


def test_several_reasons_are_all_reported():
    result = parse(csv_text([trade_row(lots="0", side="up", login="abc")]))
    assert set(result["rejections"][2]) == {"lots", "side", "login"}


def test_quoted_valid_values_are_accepted_and_passed_on_unquoted():
    text = csv_text([trade_row()]).replace("EURUSD", '"EURUSD"').replace(",1.50,", ',"1.50",')
    result = parse(text)
    assert result["accepted"] == 1
    assert accepted_rows(result)[0][3:6] == ["EURUSD", "buy", "1.50"]


def test_wrong_field_counts_and_broken_quotes_are_rejected_with_their_lines():
    lines = csv_text([trade_row(ticket=1)]).splitlines()
    good = lines[1]
    text = "\n".join([lines[0], good + ",extra", good.rsplit(",", 1)[0], '"unterminated,' + good, good]) + "\n"
    result = parse(text)
    assert result["rows"] == 4
    assert result["accepted"] == 1
    assert set(result["rejections"]) == {2, 3, 4}
    assert result["rejections"][2] == {"row": "expected 16 fields, found 17"}
    assert "malformed" in result["rejections"][4]["row"] or "expected" in result["rejections"][4]["row"]


def test_blank_lines_are_ignored_but_keep_line_numbers_right():
    lines = csv_text([trade_row(ticket=1), trade_row(ticket=2, lots="0")]).splitlines()
    text = "\n".join([lines[0], "", lines[1], "", "", lines[2], ""]) + "\n"
    result = parse(text)
    assert result["rows"] == 2
    assert list(result["rejections"]) == [6]


def test_crlf_line_ends_are_accepted():
    text = csv_text([trade_row(ticket=1), trade_row(ticket=2)]).replace("\n", "\r\n")
    result = parse(text)
    assert result["accepted"] == 2
    assert "\r" not in result["payload"]


def test_a_stray_carriage_return_rejects_only_its_line():
    lines = csv_text([trade_row(ticket=1), trade_row(ticket=2)]).splitlines()
    text = "\n".join([lines[0], lines[1].replace("EURUSD", "EUR\rUSD"), lines[2]]) + "\n"
    result = parse(text)
    assert result["accepted"] == 1
    assert list(result["rejections"]) == [2]


def test_invalid_utf8_rejects_only_the_bad_lines():
    text = csv_text([trade_row(ticket=1), trade_row(ticket=2), trade_row(ticket=3)]).encode()
    data = text.replace(b"5001,EURUSD", b"5001,EUR\xe9USD", 1)  # first data row only
    result = parse(data)
    assert result["accepted"] == 2
    assert list(result["rejections"]) == [2]
    assert "not valid UTF-8" in result["rejections"][2]["row"] and "0xE9" in result["rejections"][2]["row"]
    assert [r[1] for r in accepted_rows(result)] == ["2", "3"]


def test_non_ascii_text_is_fine():
    result = parse(csv_text([trade_row(symbol="DAX40€", server="Сервер-1")]))
    assert result["accepted"] == 1


def test_nul_in_an_ignored_column_is_rejected():
    header = [*GENERIC_COLUMNS, "note"]
    result = parse(csv_text([{**trade_row(), "note": "a\x00b"}], header))
    assert result["rejections"] == {2: {"note": "contains a NUL character"}}


# --- blocks and streaming -----------------------------------------------------------------------------------------


def test_results_do_not_depend_on_the_block_size():
    rows = [trade_row(ticket=i, lots="0" if i % 7 == 0 else "1") for i in range(1, 400)]
    text = csv_text(rows)
    small = parse(text, block_bytes=256)
    large = parse(text, block_bytes=1 << 20)
    assert small == large
    assert sorted(small["rejections"]) == [i + 1 for i in range(1, 400) if i % 7 == 0]


def test_a_last_line_without_newline_is_read():
    text = csv_text([trade_row(ticket=1), trade_row(ticket=2)]).rstrip("\n")
    assert parse(text)["accepted"] == 2


class CountingStream(io.RawIOBase):
    """A readable stream that records the size of every read and never holds more than one read's data."""

    def __init__(self, header: bytes, line: bytes, count: int) -> None:
        self.header, self.line, self.count = header, line, count
        self.sent = 0
        self.reads: list[int] = []
        self.pending = header

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "the parser must never read the whole file at once"
        self.reads.append(size)
        while len(self.pending) < size and self.sent < self.count:
            take = min(self.count - self.sent, max(1, size // len(self.line)))
            self.pending += self.line * take
            self.sent += take
        data, self.pending = self.pending[:size], self.pending[size:]
        return data


def test_a_200k_row_file_is_streamed_not_slurped():
    lines = csv_text([trade_row()]).encode().split(b"\n")
    stream = CountingStream(lines[0] + b"\n", lines[1] + b"\n", 200_000)
    total_bytes = len(stream.header) + len(stream.line) * stream.count
    parser = TradeFileParser(GENERIC, stream, block_bytes=256 * 1024)
    parser.read_header()
    tracemalloc.start()
    try:
        accepted = 0
        for block in parser.blocks():
            accepted += block.accepted
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert accepted == 200_000
    assert total_bytes > 20_000_000
    assert max(stream.reads) <= 256 * 1024
    assert len(stream.reads) > 90
    assert peak < total_bytes / 5, f"peak {peak} bytes for a {total_bytes} byte file"


# --- MT4 and MT5 --------------------------------------------------------------------------------------------------


def test_mt4_non_trades_and_open_positions_are_skipped_by_reason():
    rows = [
        mt4_row(TICKET=1),
        mt4_row(TICKET=2, CMD=6, SYMBOL="", VOLUME=0, COMMENT="deposit"),
        mt4_row(TICKET=3, CMD=2),
        mt4_row(TICKET=4, CMD=7, SYMBOL=""),
        mt4_row(TICKET=5, CLOSE_TIME="1970-01-01 00:00:00", CLOSE_PRICE="0"),
        mt4_row(TICKET=6, CMD=1, VOLUME=0),
        mt4_row(TICKET=7, CMD="x"),
        mt4_row(TICKET=8, CMD="x", CLOSE_TIME="1970-01-01 00:00:00"),
    ]
    result = parse(csv_text(rows, MT4_HEADER), MT4)
    assert result["rows"] == 8
    assert result["accepted"] == 1
    assert dict(result["skipped"]) == {
        "cmd 6 (balance) is not a trade": 1,
        "cmd 2 (buy limit) is not a trade": 1,
        "cmd 7 (credit) is not a trade": 1,
        "open position (close time 1970-01-01)": 1,
    }
    assert result["rejections"] == {
        7: {"volume": MT4.field("volume").message},
        8: {"cmd": MT4.field("cmd").message},
        9: {"cmd": MT4.field("cmd").message},
    }


def test_mt4_server_times_in_a_dst_zone_reject_ambiguous_and_missing_hours():
    rows = [
        mt4_row(TICKET=1, OPEN_TIME="2024-03-31 01:30:00", CLOSE_TIME="2024-03-31 03:30:00"),
        mt4_row(TICKET=2, OPEN_TIME="2024-03-31 02:30:00", CLOSE_TIME="2024-03-31 03:30:00"),  # does not exist
        mt4_row(TICKET=3, OPEN_TIME="2024-10-27 01:30:00", CLOSE_TIME="2024-10-27 02:30:00"),  # ambiguous close
    ]
    result = parse(csv_text(rows, MT4_HEADER), MT4, tz="Europe/Berlin")
    assert result["accepted"] == 1
    assert set(result["rejections"]) == {3, 4}
    assert "Europe/Berlin" in result["rejections"][3]["open_time"]
    assert "Europe/Berlin" in result["rejections"][4]["close_time"]


def test_mt5_non_trade_actions_are_skipped_and_entries_validated():
    rows = [
        {
            "Deal": "1",
            "Login": "1",
            "Time": "2024-03-01 10:00:00",
            "Symbol": "EURUSD",
            "Action": "0",
            "Entry": "0",
            "Volume": "10000",
            "Price": "1.1",
            "Profit": "0",
            "Storage": "0",
            "Commission": "0",
            "PositionID": "1",
        },
        {
            "Deal": "2",
            "Login": "1",
            "Time": "2024-03-01 10:00:00",
            "Symbol": "",
            "Action": "2",
            "Entry": "0",
            "Volume": "0",
            "Price": "0",
            "Profit": "100",
            "Storage": "0",
            "Commission": "0",
            "PositionID": "0",
        },
        {
            "Deal": "3",
            "Login": "1",
            "Time": "2024-03-01 10:00:00",
            "Symbol": "EURUSD",
            "Action": "1",
            "Entry": "4",
            "Volume": "10000",
            "Price": "1.1",
            "Profit": "0",
            "Storage": "0",
            "Commission": "0",
            "PositionID": "1",
        },
    ]
    result = parse(csv_text(rows, MT5_HEADER), MT5)
    assert result["accepted"] == 1
    assert dict(result["skipped"]) == {"action 2 (balance) is not a trade": 1}
    assert result["rejections"] == {4: {"entry": MT5.field("entry").message}}


# --- the fast path agrees with the slow path ----------------------------------------------------------------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=6)
_values = {
    "ticket": st.one_of(st.integers(0, 10**19).map(str), _text),
    "lots": st.one_of(st.decimals(min_value=0, max_value=10**13, places=4, allow_nan=False).map(str), _text),
    "symbol": st.one_of(st.sampled_from(["EURUSD", "EURUSD.m", "GOLD", "US 30", " X"]), _text),
    "side": st.sampled_from(["buy", "sell", "BUY", "Sell", "b", ""]),
    "open_price": st.one_of(
        st.decimals(min_value=-(10**15), max_value=10**15, places=10, allow_nan=False).map(str), _text
    ),
    "status": st.sampled_from(["", "closed", "cancelled", "CANCELLED", "void"]),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries(_values), min_size=1, max_size=20))
def test_every_line_is_accepted_exactly_when_every_field_matches_its_rule(variations):
    """Lines the fast path accepts and lines the slow path accepts (quoted values, commas) must together be exactly
    the rows whose every value matches its field rule; all others are rejected on their own line."""
    rows = [trade_row(**v) for v in variations]
    result = parse(csv_text(rows))
    expected_bad = {
        number
        for number, row in enumerate(rows, start=2)
        if not all(
            (GENERIC.field(k).blank_ok and row[k] == "") or re.fullmatch(GENERIC.field(k).rule, row[k]) for k in _values
        )
    }
    assert set(result["rejections"]) == expected_bad
    assert result["rows"] == len(rows)
    assert result["accepted"] == len(rows) - len(expected_bad)
    accepted_tickets = [r[1] for r in accepted_rows(result)]
    assert accepted_tickets == [row["ticket"] for n, row in enumerate(rows, start=2) if n not in expected_bad]
