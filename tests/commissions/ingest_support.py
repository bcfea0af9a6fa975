"""Helpers and fixtures for the trade-ingest tests (imported explicitly by those modules)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from commissions.ingest import GENERIC_COLUMNS
from commissions.models import Instrument, InstrumentAlias, SymbolSuffix, Trade

MT4_HEADER = [
    "TICKET",
    "LOGIN",
    "SYMBOL",
    "DIGITS",
    "CMD",
    "VOLUME",
    "OPEN_TIME",
    "OPEN_PRICE",
    "CLOSE_TIME",
    "CLOSE_PRICE",
    "COMMISSION",
    "SWAPS",
    "PROFIT",
    "COMMENT",
]
MT5_HEADER = [
    "Deal",
    "Login",
    "Time",
    "Symbol",
    "Action",
    "Entry",
    "Volume",
    "Price",
    "Profit",
    "Storage",
    "Commission",
    "PositionID",
    "Comment",
]


def trade_row(**overrides) -> dict[str, str]:
    """A valid generic trade as CSV strings; override any column."""
    row = {
        "server": "Live-1",
        "ticket": "1001",
        "login": "5001",
        "symbol": "EURUSD",
        "side": "buy",
        "lots": "1.50",
        "open_time": "2024-03-01T10:00:00Z",
        "open_price": "1.08500",
        "close_time": "2024-03-01T12:30:00Z",
        "close_price": "1.08650",
        "profit": "225.00",
        "swap": "0",
        "commission": "-10.50",
        "spread_pips": "0.4",
        "master_ticket": "",
        "status": "closed",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def csv_text(rows: Iterable[Mapping[str, str]], header: list[str] | None = None) -> str:
    header = list(header or GENERIC_COLUMNS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return out.getvalue()


def write_csv(path: Path, rows: Iterable[Mapping[str, str]], header: list[str] | None = None) -> Path:
    path.write_text(csv_text(rows, header), encoding="utf-8")
    return path


def mt4_row(**overrides) -> dict[str, str]:
    row = {
        "TICKET": "700001",
        "LOGIN": "5001",
        "SYMBOL": "EURUSD",
        "DIGITS": "5",
        "CMD": "0",
        "VOLUME": "150",
        "OPEN_TIME": "2024-03-01 10:00:00",
        "OPEN_PRICE": "1.08500",
        "CLOSE_TIME": "2024-03-01 12:30:00",
        "CLOSE_PRICE": "1.08650",
        "COMMISSION": "-10.50",
        "SWAPS": "0.00",
        "PROFIT": "225.00",
        "COMMENT": "",
    }
    row.update({k: str(v) for k, v in overrides.items()})
    return row


def mt5_deal(deal: int, position: int, entry: int, action: int, volume: int, price: str, time: str, **extra) -> dict:
    row = {
        "Deal": str(deal),
        "Login": "6001",
        "Time": time,
        "Symbol": "EURUSD",
        "Action": str(action),
        "Entry": str(entry),
        "Volume": str(volume),
        "Price": price,
        "Profit": "0",
        "Storage": "0",
        "Commission": "0",
        "PositionID": str(position),
        "Comment": "",
    }
    row.update({k: str(v) for k, v in extra.items()})
    return row


def make_instrument(symbol: str, **fields) -> Instrument:
    defaults = {
        "group": "forex_major",
        "base": symbol[:3],
        "quote": symbol[3:6] or "USD",
        "contract_size": Decimal(100_000),
        "pip_size": Decimal("0.0001"),
        "digits": 5,
    }
    defaults.update(fields)
    return Instrument.objects.create(symbol=symbol, **defaults)


@pytest.fixture
def instruments(db) -> dict[str, Instrument]:
    """EURUSD, GBPUSD and XAUUSD with the alias GOLD and the suffix ``.m``."""
    made = {s: make_instrument(s) for s in ("EURUSD", "GBPUSD")}
    made["XAUUSD"] = make_instrument("XAUUSD", group="metals", contract_size=Decimal(100), pip_size=Decimal("0.01"))
    InstrumentAlias.objects.create(alias="GOLD", instrument=made["XAUUSD"])
    SymbolSuffix.objects.create(suffix=".m")
    return made


def current(server: str, ticket: int) -> Trade:
    return Trade.objects.get(server=server, ticket=ticket, is_current=True)


def table_state() -> tuple[int, int | None]:
    """(row count, max id) of the trades table: unchanged by an import that wrote nothing."""
    rows = Trade.objects.count()
    last = Trade.objects.order_by("-id").values_list("id", flat=True).first()
    return rows, last
