"""``manage.py bench``: the generated files, and a benchmark run end to end in its own scratch database."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from commissions.ingest import GENERIC, GENERIC_COLUMNS, TradeFileParser
from commissions.models import Trade
from commissions.selectors import LINE_EXPORT_HEADER
from demo.bench.generate import INSTRUMENTS, write_trades_csv
from tests.commissions.ingest_support import trade_row


def test_the_generated_bench_file_is_valid_deterministic_and_realistic(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_trades_csv(a, rows=3_000, seed=5, chunk=1_000)
    write_trades_csv(b, rows=3_000, seed=5, chunk=1_000)
    assert a.read_bytes() == b.read_bytes()
    with a.open("rb") as handle:
        parser = TradeFileParser(GENERIC, handle)
        assert parser.read_header() == list(GENERIC_COLUMNS)
        blocks = list(parser.blocks())
    assert sum(b.accepted for b in blocks) == 3_000 and not any(b.rejections for b in blocks)
    rows = list(csv.DictReader(a.open()))
    assert len({r["login"] for r in rows}) > 100
    assert {r["symbol"].removesuffix(".m") for r in rows} - {"GOLD"} <= {i[0] for i in INSTRUMENTS}
    assert any(r["symbol"].endswith(".m") for r in rows) and any(r["symbol"] == "GOLD" for r in rows)
    closes = [r["close_time"] for r in rows]
    assert closes == sorted(closes)
    assert all(Decimal(r["lots"]) > 0 for r in rows)


def test_bench_unknown_names_are_refused(tmp_path):
    with pytest.raises(CommandError, match="Unknown benchmark"):
        call_command("bench", "nope", verbosity=0, stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_bench_ingest_runs_end_to_end_in_a_database_of_its_own(tmp_path):
    from commissions.services.trade_ingest import trades_ingest_records

    trades_ingest_records(records=[trade_row()])  # data of the configured database, which the bench must not touch
    before = list(Trade.objects.values_list("id", "server", "ticket", "version"))
    out = io.StringIO()
    call_command("bench", "ingest", "--rows", "3000", "--dir", str(tmp_path), stdout=out, verbosity=0)
    text = out.getvalue()
    for label in ("COPY path, fresh load", "COPY path, re-import", "ORM bulk_create", "ORM create per row"):
        assert label in text
    assert '"created": 3000' in text and '"unchanged": 3000' in text
    assert "test_ibex_bench_ingest" in text or "_bench_ingest" in text
    assert list(Trade.objects.values_list("id", "server", "ticket", "version")) == before
    assert (tmp_path / "trades-3000-seed7.csv").exists()
    with connection.cursor() as cursor:  # the scratch database is dropped afterwards
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", ["%_bench_ingest"])
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_bench_mam_runs_end_to_end_at_a_tiny_size(tmp_path):
    from runs.models import Run

    before = Run.objects.count()
    out = io.StringIO()
    call_command("bench", "mam", "--rows", "30", "--dir", str(tmp_path), stdout=out, verbosity=0)
    text = out.getvalue()
    rows = [line for line in text.splitlines() if line.startswith("  ") and "×" not in line and "{" not in line]
    labels = (
        "services: open + close per master trade",
        "naive ORM loop per account",
        "floor: bare COPY of as many trade rows",
        "fees run: compute + approve",
        "naive per-account Decimal ORM loop",
        "floor: bare COPY of the run's fee lines",
    )
    for label in labels:
        assert any(row.strip().startswith(label) for row in rows), label
    # 30 master trades over 3 sub-accounts, 10 of them through the services: the rows are the sub-account trades
    # those 10 wrote, scaled to 30; 30 fee accounts.
    [service] = [row.split() for row in rows if row.strip().startswith("services: open + close")]
    written = int(text.split('"sub_trades_written_in_sample": ', 1)[1].split(",")[0].split("}")[0])
    assert 10 <= written <= 30 and int(service[-3].replace(",", "")) == written * 3
    assert any(row.strip().startswith("fees run") and " 30 " in row for row in rows)
    assert '"status": "approved"' in text
    # Comparisons stay inside a part: the fee run is never set against the allocation's baselines.
    assert "fees run: compute + approve: " in text
    assert not any(line.startswith("  fees run") and "trade rows" in line for line in text.splitlines())
    assert Run.objects.count() == before  # the configured database is untouched
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", ["%_bench_mam"])
        assert cursor.fetchone()[0] == 0


def _notes(text: str, label: str) -> dict:
    """The JSON notes ``manage.py bench`` prints for the measurement whose label starts with ``label``."""
    [line] = [line for line in text.splitlines() if line.startswith(f"  {label}") and ": {" in line]
    return json.loads("{" + line.split(": {", 1)[1])


@pytest.mark.django_db(transaction=True)
def test_bench_payouts_runs_end_to_end_at_a_tiny_size(tmp_path):
    from ledger.models import PayoutBatch

    before = PayoutBatch.objects.count()
    out = io.StringIO()
    call_command("bench", "payouts", "--rows", "400", "--dir", str(tmp_path), stdout=out, verbosity=0)
    text = out.getvalue()
    rows = [line.strip() for line in text.splitlines() if line.startswith("  ") and "×" not in line and "{" not in line]
    labels = (
        "set-up: approving the run",
        "batch: make + approve + export + pay",
        "naive per-partner loop: make + pay",
        "step: make",
        "step: approve",
        "step: export",
        "step: mark paid",
        "lines export: GET /lines/export/",
        "naive per-row ORM export",
        "floor: bare COPY of the run's line rows",
    )
    for label in labels:
        assert any(row.startswith(label) for row in rows), label
    # Comparisons stay inside a part: the batch against its naive loop, the export against its own baselines.
    assert "batch: make + approve + export + pay: " in text and "× the rate of naive per-partner loop" in text
    assert not any(line.startswith("  step:") and "× the rate" in line for line in text.splitlines())

    setup = _notes(text, "set-up: approving the run")
    # 12 partners (the smallest batch), every one of them earning in the run's 400 lines.
    assert setup["lines"] == 400 and setup["partners_with_payables"] == 12
    assert setup["missing_details"] == 1 and setup["clawbacks"] == 1

    # The lines CSV parses back to the run's 400 lines and its exact total.
    with (tmp_path / "payouts-lines-2026-03.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == LINE_EXPORT_HEADER
        lines = list(reader)
    assert len(lines) == 400
    assert sum(Decimal(line["amount"]) for line in lines) == Decimal(setup["amount_total"])
    assert {line["kind"] for line in lines} >= {"volume"}
    exported = _notes(text, "lines export: GET /lines/export/")
    assert exported["read_back"] == {"rows": 400, "amount_total": setup["amount_total"]}
    assert "psutil" in exported["memory_measured_by"] and exported["peak_rss_growth_mb"] >= 0

    # The batch: held (suspended, missing details), carried over (the clawback), the rest paid; its CSV holds
    # exactly the paid lines and their amounts per currency.
    batch = _notes(text, "batch: make + approve + export + pay")
    assert batch["status"] == "paid"
    totals = batch["lines_by_status_and_currency"]
    assert sum(t["lines"] for t in totals) == 12
    assert sum(t["lines"] for t in totals if t["status"] == "held") == 2
    assert any(t["status"] == "carried_over" for t in totals)
    paid = {t["currency"]: Decimal(t["amount"]) for t in totals if t["status"] == "paid"}
    assert set(paid) == {"EUR", "USD"}  # one partner in ten is paid in EUR
    with (tmp_path / "payouts-batch-2026-03.csv").open(newline="", encoding="utf-8") as handle:
        batch_rows = list(csv.DictReader(handle))
    assert len(batch_rows) == sum(t["lines"] for t in totals if t["status"] == "paid")
    for currency, amount in paid.items():
        assert sum(Decimal(r["amount"]) for r in batch_rows if r["currency"] == currency) == amount
    assert all(r["reference"] == f"IBEX-{r['batch_id']}-{r['partner_code']}" for r in batch_rows)
    step = _notes(text, "step: mark paid")
    assert step["payout_transactions"] == len(batch_rows)

    assert PayoutBatch.objects.count() == before  # the configured database is untouched
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", ["%_bench_payouts"])
        assert cursor.fetchone()[0] == 0
