"""A deterministic, realistic generic trades CSV for the ingest benchmark.

Shaped like a broker's daily exports: rows in close-time order over one year with tickets assigned in that order
(as MT5 assigns exit-deal tickets), two servers, a few thousand logins whose activity is skewed (a few very active
accounts), a realistic symbol mix including broker suffixes (``EURUSD.m``) and an alias (``GOLD``), per-symbol
price digits, lots with two decimals, commissions, swaps, optional spread markup, some MAM master tickets and a few
cancellations. Values are generated as integers and written as exact decimal text (no float reaches the file).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from commissions.ingest import GENERIC_COLUMNS

# symbol, base, quote, contract size, pip size, digits, typical price (in 10^-digits units), weight
INSTRUMENTS: tuple[tuple[str, str, str, int, str, int, int, float], ...] = (
    ("EURUSD", "EUR", "USD", 100_000, "0.0001", 5, 108_500, 0.24),
    ("GBPUSD", "GBP", "USD", 100_000, "0.0001", 5, 126_800, 0.11),
    ("USDJPY", "USD", "JPY", 100_000, "0.01", 3, 149_250, 0.11),
    ("XAUUSD", "XAU", "USD", 100, "0.01", 2, 203_500, 0.14),
    ("AUDUSD", "AUD", "USD", 100_000, "0.0001", 5, 65_800, 0.05),
    ("USDCAD", "USD", "CAD", 100_000, "0.0001", 5, 135_400, 0.05),
    ("USDCHF", "USD", "CHF", 100_000, "0.0001", 5, 88_200, 0.04),
    ("EURJPY", "EUR", "JPY", 100_000, "0.01", 3, 161_900, 0.04),
    ("GBPJPY", "GBP", "JPY", 100_000, "0.01", 3, 189_300, 0.04),
    ("NZDUSD", "NZD", "USD", 100_000, "0.0001", 5, 61_200, 0.03),
    ("US30", "USD", "USD", 1, "1", 1, 382_000, 0.08),
    ("BTCUSD", "BTC", "USD", 1, "1", 2, 4_250_000, 0.07),
)
SUFFIX = ".m"
ALIASES = {"GOLD": "XAUUSD"}
SERVERS = ("Live-1", "Live-2")
START = np.datetime64("2024-01-01T00:00:00", "s")
YEAR_SECONDS = 366 * 86_400


@dataclass(frozen=True)
class BenchFile:
    path: Path
    rows: int
    seed: int


def bench_file(*, directory: Path, rows: int, seed: int = 7) -> BenchFile:
    """Return the benchmark CSV for ``rows`` and ``seed`` under ``directory``, generating it once."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"trades-{rows}-seed{seed}.csv"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        write_trades_csv(tmp, rows=rows, seed=seed)
        os.replace(tmp, path)
    return BenchFile(path=path, rows=rows, seed=seed)


def write_trades_csv(path: Path, *, rows: int, seed: int = 7, chunk: int = 250_000) -> None:
    rng = np.random.default_rng(seed)
    close = np.sort(START + rng.integers(0, YEAR_SECONDS, rows).astype("timedelta64[s]"))
    server_idx = (rng.random(rows) < 0.2).astype(np.int64)
    tickets = np.zeros(rows, dtype=np.int64)
    for s in range(len(SERVERS)):  # tickets ascend per server in close order, as exit deals are numbered
        mask = server_idx == s
        tickets[mask] = 50_000_000 + 1_000_000 * s + np.arange(mask.sum())
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(GENERIC_COLUMNS) + "\n")
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            frame = _frame(rng, close[start:stop], server_idx[start:stop], tickets[start:stop])
            frame.to_csv(out, header=False, index=False, lineterminator="\n")


def _frame(rng: np.random.Generator, close: np.ndarray, server_idx: np.ndarray, tickets: np.ndarray) -> pd.DataFrame:
    n = len(close)
    weights = np.array([i[7] for i in INSTRUMENTS])
    sym = rng.choice(len(INSTRUMENTS), n, p=weights / weights.sum())
    names = np.array([i[0] for i in INSTRUMENTS], dtype=object)
    symbol = names[sym].copy()
    suffixed = rng.random(n) < 0.3
    symbol[suffixed] = symbol[suffixed] + SUFFIX
    gold = (names[sym] == "XAUUSD") & (rng.random(n) < 0.2)
    symbol[gold] = "GOLD"
    digits = np.array([i[5] for i in INSTRUMENTS])[sym]
    typical = np.array([i[6] for i in INSTRUMENTS])[sym]

    hold = np.minimum(np.exp(rng.normal(7.5, 2.0, n)), 20 * 86_400).astype(np.int64) + 1
    open_ = close - hold.astype("timedelta64[s]")
    open_price = (typical * (1 + rng.normal(0, 0.03, n))).astype(np.int64)
    close_price = np.maximum(open_price + (open_price * rng.normal(0, 0.002, n)).astype(np.int64), 1)
    side = np.where(rng.random(n) < 0.52, "buy", "sell")
    lots = np.maximum(np.exp(rng.normal(-1.2, 1.1, n)) * 100, 1).astype(np.int64)  # hundredths of a lot
    direction = np.where(side == "buy", 1, -1)
    contract = np.array([i[3] for i in INSTRUMENTS], dtype=np.int64)[sym]
    profit = direction * (close_price - open_price) * lots * contract // 10**digits  # cents of the quote currency
    swap = np.where(rng.random(n) < 0.25, -rng.integers(1, 2_000, n), 0)
    commission = -lots * 7  # 7.00 per lot, in cents
    spread = rng.integers(0, 30, n)
    has_spread = rng.random(n) < 0.8
    accounts = 3_000
    login = 100_000 + (rng.zipf(1.3, n) % accounts)
    master = np.where(rng.random(n) < 0.05, 9_000_000 + rng.integers(0, 50_000, n), -1)
    status = np.where(rng.random(n) < 0.002, "cancelled", "closed")

    return pd.DataFrame(
        {
            "server": np.array(SERVERS, dtype=object)[server_idx],
            "ticket": tickets,
            "login": login,
            "symbol": symbol,
            "side": side,
            "lots": _decimal(lots, np.full(n, 2)),
            "open_time": _iso(open_),
            "open_price": _decimal(open_price, digits),
            "close_time": _iso(close),
            "close_price": _decimal(close_price, digits),
            "profit": _decimal(profit, np.full(n, 2)),
            "swap": _decimal(swap, np.full(n, 2)),
            "commission": _decimal(commission, np.full(n, 2)),
            "spread_pips": np.where(has_spread, _decimal(spread, np.full(n, 1)), ""),
            "master_ticket": np.where(master >= 0, master.astype(str), ""),
            "status": status,
        }
    )


def _decimal(units: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Integers in 10^-places units → exact decimal text (``-1234, 2`` → ``"-12.34"``)."""
    units = np.asarray(units, dtype=np.int64)
    scale = 10 ** np.asarray(places, dtype=np.int64)
    whole = (np.abs(units) // scale).astype(str).astype(object)
    frac = (np.abs(units) % scale).astype(str).astype(object)
    sign = np.where(units < 0, "-", "").astype(object)
    padded = np.array([f.zfill(p) for f, p in zip(frac, places, strict=True)], dtype=object)
    text = sign + whole + "." + padded
    return np.where(np.asarray(places) == 0, sign + whole, text)


def _iso(times: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(times, unit="s"), "Z").astype(object)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]
