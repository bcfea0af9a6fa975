"""``manage.py reconcile --period YYYY-MM [--area AREA] [--csv FILE]``: a period's reconciliation (every registered
check, ``ledger.reconciliation``) printed check by check, each difference with the rows behind it; ``--csv`` also
writes the CSV export. Exits non-zero (1) when a difference is flagged, so a month-end script stops on it."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from core.management.base import AuditedCommand
from core.periods import server_period

from ...reconciliation.export import reconciliation_csv
from ...reconciliation.registry import Status, areas, reconcile


class Command(AuditedCommand):
    help = (
        "Reconcile a period: trades vs lines, lines vs postings, the trial balance, unreconciled payable postings. "
        "Exits non-zero when a difference is flagged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, help="YYYY-MM in the server time zone.")
        parser.add_argument("--area", choices=areas(), help="Only the checks of one area (default all).")
        parser.add_argument("--csv", dest="csv_path", help="Also write the reconciliation as CSV to this file.")

    def handle(self, *args, period: str, area: str | None, csv_path: str | None, **options) -> None:
        try:
            period = server_period(period).label
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        result = reconcile(period=period, areas=[area] if area else None)
        for check in result.checks:
            self.stdout.write(f"{check.label}: {check.status}" + (f" ({check.note})" if check.note else ""))
            for row in check.rows:
                figures = "  ".join(
                    f"{name} {value}"
                    for name, value in (
                        ("count", row.count),
                        ("lots", row.lots),
                        ("expected", row.expected),
                        ("actual", row.actual),
                        ("difference", row.difference),
                    )
                    if value is not None
                )
                marker = "!!" if row.status == Status.DIFFERENCE else "  "
                label = " ".join(part for part in (row.subject, row.detail, row.currency) if part)
                self.stdout.write(f" {marker} {label}: {figures}")
                for evidence in row.evidence:
                    amount = "" if evidence.amount is None else f" {evidence.amount}"
                    self.stdout.write(f"      {evidence.type} {evidence.id} {evidence.label}{amount}")
        if csv_path:
            with open(csv_path, "wb") as handle:
                for line in reconciliation_csv(result):
                    handle.write(line)
            self.stdout.write(f"CSV written to {csv_path}")
        if result.status == Status.DIFFERENCE:
            flagged = sum(len(check.differences) for check in result.checks)
            raise CommandError(f"{period}: {flagged} difference(s) flagged")
        self.stdout.write(self.style.SUCCESS(f"{period} reconciles: no difference"))
