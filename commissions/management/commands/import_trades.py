"""``manage.py import_trades FILE --format generic|mt4|mt5 [--server NAME] [--tz ZONE]``: a thin wrapper over
:func:`commissions.services.trade_ingest.trades_import_file` with a progress bar and the import's report."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from commissions.ingest import FORMATS
from commissions.models import TradeImport
from commissions.services.trade_ingest import trades_import_file
from core.management.base import AuditedCommand

SHOWN_REJECTIONS = 20


class Command(AuditedCommand):
    help = (
        "Import a trades file: a generic CSV, an MT4 trades table export or an MT5 deals export. Re-importing the "
        "same file changes nothing. Exits non-zero only when the file cannot be imported at all (e.g. a bad header)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", dest="fmt", choices=sorted(FORMATS), default="generic")
        parser.add_argument("--server", help="The trading server an MT4/MT5 export comes from (required for them).")
        parser.add_argument(
            "--tz",
            default=None,
            help="Time zone of MT4/MT5 server times, e.g. Etc/GMT-2 or Europe/Nicosia (default UTC). Generic files "
            "carry ISO 8601 offsets instead (UTC when none is given).",
        )

    def handle(self, *args, file: Path, fmt: str, server: str | None, tz: str | None, **options) -> None:
        with tqdm(unit=" rows", unit_scale=True, desc=file.name, disable=options["verbosity"] == 0) as bar:
            trade_import = trades_import_file(path=file, fmt=fmt, server=server, tz=tz, progress=bar.update)
        self.stdout.write(format_report(trade_import))
        if trade_import.status == TradeImport.Status.FAILED:
            raise CommandError(trade_import.error)


def format_report(trade_import: TradeImport) -> str:
    """The import's report as text: counts, reasons, the first rejected lines and unresolved symbols."""
    t = trade_import
    lines = [
        f"Import #{t.pk} ({t.format}, {t.source_name}): {t.status}",
        f"  rows read {t.rows_read:,}  created {t.created:,}  updated {t.updated:,}  unchanged {t.unchanged:,}  "
        f"skipped {t.skipped:,}  rejected {t.rejected:,}  unresolved {t.unresolved:,}",
    ]
    for reason, count in sorted((t.skipped_reasons or {}).items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  skipped {count:,}: {reason}")
    for rejection in (t.rejections or [])[:SHOWN_REJECTIONS]:
        where = f"line {rejection['line']}" if "line" in rejection else f"index {rejection.get('index')}"
        reasons = "; ".join(f"{name}: {message}" for name, message in rejection["errors"].items())
        lines.append(f"  rejected {where}: {reasons}")
    if t.rejected > SHOWN_REJECTIONS:
        lines.append(f"  … {t.rejected - SHOWN_REJECTIONS:,} more rejected rows (first 1000 in the import's report)")
    if t.unresolved_symbols:
        shown = ", ".join(f"{symbol} ×{count:,}" for symbol, count in list(t.unresolved_symbols.items())[:20])
        lines.append(f"  unresolved symbols (stored, earning once mapped): {shown}")
    if t.error:
        lines.append(f"  error: {t.error}")
    return "\n".join(lines)
