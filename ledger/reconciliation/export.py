"""A reconciliation as CSV (``core.csv_export``: RFC 4180, UTF-8, formula-safe, streamed): one line per figure, then
one line per evidence row behind a flagged figure (``evidence_type``/``evidence_id`` filled), so a spreadsheet
filtered on ``status = difference`` shows every difference with the rows behind it."""

from __future__ import annotations

from collections.abc import Iterator

from core.csv_export import csv_lines

from .registry import Reconciliation

HEADER = (
    "period",
    "check",
    "area",
    "status",
    "subject",
    "detail",
    "currency",
    "count",
    "lots",
    "expected",
    "actual",
    "difference",
    "note",
    "evidence_type",
    "evidence_id",
    "evidence_label",
    "evidence_amount",
)


def reconciliation_rows(result: Reconciliation) -> Iterator[tuple]:
    for check in result.checks:
        for row in check.rows:
            figure = (
                result.period,
                check.name,
                check.area,
                str(row.status),
                row.subject,
                row.detail,
                row.currency,
                row.count,
                row.lots,
                row.expected,
                row.actual,
                row.difference,
                row.note,
            )
            yield (*figure, None, None, None, None)
            for evidence in row.evidence:
                yield (*figure, str(evidence.type), evidence.id, evidence.label, evidence.amount)


def reconciliation_csv(result: Reconciliation) -> Iterator[bytes]:
    return csv_lines(HEADER, reconciliation_rows(result))
