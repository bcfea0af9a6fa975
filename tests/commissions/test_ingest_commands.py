"""``manage.py import_trades``: the report, MT4 options, exit codes."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

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
