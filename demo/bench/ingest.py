"""The ingest benchmark: a generated generic CSV (1 000 000 trades by default) through the COPY path, fresh and
re-imported, beside two naive ORM baselines measured on samples and scaled to the same size.

It runs in a database of its own (``manage.py bench`` creates and drops it), so emptying the trades table between
measurements never touches real data.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import os
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.core.management.base import CommandError
from django.db import connection, transaction

from commissions.models import Instrument, InstrumentAlias, SymbolSuffix, Trade
from commissions.services.symbols import symbols_resolve
from commissions.services.trade_ingest import trades_import_file

from .generate import ALIASES, INSTRUMENTS, SUFFIX, bench_file
from .registry import Measurement, register

BULK_SAMPLE = 20_000
PER_ROW_SAMPLE = 2_000
NAIVE_SERVER = "bench-naive"


@register("ingest", "Trade ingest: COPY path (fresh and re-import) vs ORM bulk_create and per-row create")
def run(
    *,
    rows: int,
    seed: int,
    directory: Path,
    write: Callable[[str], None],
    progress_factory: Callable[..., object],
) -> list[Measurement]:
    _ensure_reference_data()
    started = time.perf_counter()
    write(f"ingest: generating or reusing {rows:,} trades under {directory} …")
    file = bench_file(directory=directory, rows=rows, seed=seed)
    size_mb = file.path.stat().st_size / 1e6
    write(f"ingest: {rows:,} trades in {file.path} ({size_mb:,.0f} MB; ready in {time.perf_counter() - started:.1f} s)")

    _truncate_trades()
    fresh = _timed_import(file.path, rows, "COPY path, fresh load (trades truncated)", progress_factory)
    last_id = Trade.objects.order_by("-id").values_list("id", flat=True).first()
    count = Trade.objects.count()
    again = _timed_import(file.path, rows, "COPY path, re-import of the same file", progress_factory)
    if again.notes["created"] or again.notes["updated"] or Trade.objects.count() != count:
        raise CommandError(f"The re-import wrote something: {again.notes}")
    if Trade.objects.order_by("-id").values_list("id", flat=True).first() != last_id:
        raise CommandError("The re-import changed max(id).")

    bulk_rows = min(BULK_SAMPLE, rows)
    per_row_rows = min(PER_ROW_SAMPLE, max(1, rows // 10))
    bulk = _naive_bulk_create(file.path, bulk_rows, rows)
    per_row = _naive_per_row(file.path, per_row_rows, rows)
    return [fresh, again, bulk, per_row]


def _ensure_reference_data() -> None:
    for symbol, base, quote, contract, pip, digits, *_ in INSTRUMENTS:
        Instrument.objects.get_or_create(
            symbol=symbol,
            defaults={
                "group": "indices" if symbol == "US30" else "crypto" if base == "BTC" else "forex",
                "base": base,
                "quote": quote,
                "contract_size": Decimal(contract),
                "pip_size": Decimal(pip),
                "digits": digits,
            },
        )
    SymbolSuffix.objects.get_or_create(suffix=SUFFIX)
    for alias, symbol in ALIASES.items():
        InstrumentAlias.objects.get_or_create(
            alias=alias, defaults={"instrument": Instrument.objects.get(symbol=symbol)}
        )


def _truncate_trades() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Trade._meta.db_table} CASCADE")
        try:  # start from a clean buffer pool and WAL position when allowed (superuser / pg_checkpoint)
            with transaction.atomic():
                cursor.execute("CHECKPOINT")
        except Exception:  # not allowed for this role: measure anyway
            pass


def _timed_import(path: Path, rows: int, label: str, progress_factory) -> Measurement:
    load_before = os.getloadavg()[0]
    cpu = time.process_time()
    started = time.perf_counter()
    with progress_factory(label, rows) as update:
        result = trades_import_file(path=path, fmt="generic", source_name=f"bench:{path.name}", progress=update)
    seconds = time.perf_counter() - started
    if result.status != "done":
        raise CommandError(f"{label}: import failed: {result.error}")
    return Measurement(
        label=label,
        rows=result.rows_read,
        seconds=seconds,
        notes={
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "python_cpu_s": round(time.process_time() - cpu, 2),
            "load_avg_1m_before": round(load_before, 2),
            "phases_s": {k: round(v, 2) for k, v in getattr(result, "timings", {}).items()},
        },
    )


def _sample_trades(path: Path, count: int) -> list[Trade]:
    """Parse the first ``count`` rows the way a naive importer would: csv, Decimal, fromisoformat, one object each."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(itertools.islice(csv.DictReader(handle), count))
    instruments = symbols_resolve(symbols={r["symbol"] for r in rows})
    trades = []
    for r in rows:
        trades.append(
            Trade(
                server=NAIVE_SERVER,
                ticket=int(r["ticket"]),
                version=1,
                is_current=True,
                login=int(r["login"]),
                symbol=r["symbol"],
                instrument_id=instruments[r["symbol"]],
                side=Trade.Side.BUY if r["side"].lower() == "buy" else Trade.Side.SELL,
                lots=Decimal(r["lots"]),
                open_time=datetime.fromisoformat(r["open_time"]),
                open_price=Decimal(r["open_price"]),
                close_time=datetime.fromisoformat(r["close_time"]),
                close_price=Decimal(r["close_price"]),
                profit=Decimal(r["profit"]),
                swap=Decimal(r["swap"]),
                commission=Decimal(r["commission"]),
                spread_pips=Decimal(r["spread_pips"]) if r["spread_pips"] else None,
                master_ticket=int(r["master_ticket"]) if r["master_ticket"] else None,
                status=r["status"] or Trade.Status.CLOSED,
                content_hash=hashlib.md5(repr(sorted(r.items())).encode()).hexdigest(),
                ingested_at=datetime.now().astimezone(),
            )
        )
    return trades


def _naive_bulk_create(path: Path, sample: int, rows: int) -> Measurement:
    started = time.perf_counter()
    with transaction.atomic():
        Trade.objects.bulk_create(_sample_trades(path, sample), batch_size=1000)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)  # leave the bench database as the COPY path left it
    return Measurement(
        label=f"ORM bulk_create (sample of {sample:,}, scaled)",
        rows=rows,
        seconds=seconds * rows / sample,
        baseline=True,
        sample_rows=sample,
    )


def _naive_per_row(path: Path, sample: int, rows: int) -> Measurement:
    started = time.perf_counter()
    for trade in _sample_trades(path, sample):
        trade.save(force_insert=True)  # Trade.objects.create per row, each in its own autocommit transaction
    seconds = time.perf_counter() - started
    Trade.objects.filter(server=NAIVE_SERVER).delete()
    return Measurement(
        label=f"ORM create per row (sample of {sample:,}, scaled)",
        rows=rows,
        seconds=seconds * rows / sample,
        baseline=True,
        sample_rows=sample,
    )
