"""``manage.py import_trades`` and ``manage.py bench ingest`` (on a small generated file)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from commissions.bench.generate import INSTRUMENTS, write_trades_csv
from commissions.ingest import GENERIC, GENERIC_COLUMNS, TradeFileParser
from commissions.models import Trade, TradeImport

from .ingest_support import MT4_HEADER, instruments, mt4_row, trade_row, write_csv  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("instruments")
def test_import_trades_prints_the_report(tmp_path):
    rows = [trade_row(ticket=1), trade_row(ticket=2, lots="-1"), trade_row(ticket=1), trade_row(ticket=3, symbol="ZZZ")]
    out = io.StringIO()
    call_command(
        "import_trades", str(write_csv(tmp_path / "t.csv", rows)), "--format", "generic", stdout=out, verbosity=0
    )
    text = out.getvalue()
    assert "rows read 4  created 2  updated 0  unchanged 0  skipped 1  rejected 1  unresolved 1" in text
    assert "skipped 1: duplicate in file" in text
    assert "rejected line 3: lots: a decimal greater than 0" in text
    assert "ZZZ ×1" in text
    assert Trade.objects.count() == 2


@pytest.mark.usefixtures("instruments")
def test_import_trades_mt4_with_server_and_zone(tmp_path):
    path = write_csv(tmp_path / "mt4.csv", [mt4_row(TICKET=9)], MT4_HEADER)
    call_command("import_trades", str(path), "--format", "mt4", "--server", "S1", "--tz", "Etc/GMT-3", verbosity=0)
    trade = Trade.objects.get(server="S1", ticket=9)
    assert trade.open_time.hour == 7


def test_import_trades_exits_non_zero_only_on_a_fatal_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n")
    with pytest.raises(CommandError, match="lacks required generic columns"):
        call_command("import_trades", str(bad), verbosity=0, stdout=io.StringIO())
    assert TradeImport.objects.get().status == TradeImport.Status.FAILED
    with pytest.raises(CommandError, match="--server"):
        call_command("import_trades", str(bad), "--format", "mt5", verbosity=0, stdout=io.StringIO())


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


def test_bench_refuses_a_database_that_is_not_a_bench_database(tmp_path, settings):
    with pytest.raises(CommandError, match="bench database"):
        call_command("bench", "ingest", "--rows", "10", "--dir", str(tmp_path), verbosity=0, stdout=io.StringIO())


def test_bench_unknown_names_are_refused(tmp_path):
    with pytest.raises(CommandError, match="Unknown benchmark"):
        call_command("bench", "nope", verbosity=0, stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_bench_ingest_runs_end_to_end_on_a_small_file(tmp_path):
    out = io.StringIO()
    call_command("bench", "ingest", "--rows", "3000", "--dir", str(tmp_path), "--force", stdout=out, verbosity=0)
    text = out.getvalue()
    for label in ("COPY path, fresh load", "COPY path, re-import", "ORM bulk_create", "ORM create per row"):
        assert label in text
    assert '"created": 3000' in text and '"unchanged": 3000' in text
    assert Trade.objects.count() == 3_000  # the baselines leave nothing behind
    assert not Trade.objects.filter(server="bench-naive").exists()
    assert (tmp_path / "trades-3000-seed7.csv").exists()
