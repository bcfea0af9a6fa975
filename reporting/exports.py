"""A partner's statement as files: CSV (``core.csv_export``: RFC 4180, formula-safe) and PDF (reportlab, pure
Python: ``make demo`` and ``make test`` need nothing but pip). Both show exactly the figures of the JSON statement
(``ledger.selectors.partner_statement``), as the same decimal strings."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.csv_export import csv_lines
from core.vocabulary import LineKind

STATEMENT_HEADER = ("partner", "period", "currency", "item", "kind", "amount")


def _kind_label(kind: str) -> str:
    return LineKind(kind).label if kind in LineKind.values else kind


def statement_rows(statement: dict) -> list[tuple[str, str, Decimal]]:
    """(item, kind, amount) in reading order: opening balance, each kind earned, earned, payouts, closing."""
    rows = [("opening_balance", "", statement["opening_balance"])]
    rows += [("earned_by_kind", kind, amount) for kind, amount in statement["totals"].items()]
    rows += [
        ("earned", "", statement["earned"]),
        ("payouts", "", statement["payouts"]),
        ("closing_balance", "", statement["closing_balance"]),
    ]
    return rows


def statement_csv(statement: dict) -> Iterator[bytes]:
    key = (statement["partner"], statement["period"], statement["currency"])
    return csv_lines(STATEMENT_HEADER, ((*key, item, kind, amount) for item, kind, amount in statement_rows(statement)))


ITEM_LABELS = {
    "opening_balance": "Opening balance",
    "earned": "Earned",
    "payouts": "Payouts",
    "closing_balance": "Closing balance",
}


def statement_pdf(statement: dict, *, partner_name: str) -> bytes:
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=f"Statement {statement['partner']} {statement['period']}")
    table_rows = [["", f"Amount ({statement['currency']})"]]
    for item, kind, amount in statement_rows(statement):
        label = f"  {_kind_label(kind)}" if item == "earned_by_kind" else ITEM_LABELS[item]
        table_rows.append([label, format(amount, "f")])
    table = Table(table_rows, colWidths=[300, 150])
    table.setStyle(
        TableStyle(
            [
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.grey),
            ]
        )
    )
    story = [
        Paragraph(escape(f"Statement for {partner_name} ({statement['partner']})"), styles["Title"]),
        Paragraph(f"Period {statement['period']}, posted (approved) figures only", styles["Normal"]),
        Spacer(1, 12),
        table,
    ]
    doc.build(story)
    return buffer.getvalue()
