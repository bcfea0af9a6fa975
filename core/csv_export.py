"""CSV exports for spreadsheets and trading platforms (API.md "Files"): RFC 4180 (comma-separated, CRLF line ends,
a field quoted when it holds a comma, a quote or a line break, quotes doubled), UTF-8, streamed line by line.

Formula injection: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is what a
spreadsheet would run as a formula, so it gets a ``'`` prefix. Only text (``str``) is neutralised: numbers
(``Decimal``, ``int``) are written as plain decimals — ``-12.50`` must stay a number — and ``None`` as an empty
field. A float is refused: an amount never travels through a binary float.

Pure: standard library only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    """``text`` as a spreadsheet shows it, never as a formula it runs."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def neutralised_sql(expression: str) -> str:
    """The SQL of ``neutralised`` over a text ``expression``, for exports that PostgreSQL's COPY writes itself (the
    same starting characters; NULL stays NULL, ``ascii('')`` is 0). ``ascii(…) IN (…)`` compares the first character's
    code as an integer: cheaper per cell than ``left(…, 1)``, which builds a text, and far cheaper than a regular
    expression."""
    starts = ", ".join(str(ord(c)) for c in FORMULA_STARTS)
    return f"CASE WHEN ascii({expression}) IN ({starts}) THEN '''' || {expression} ELSE {expression} END"


def cell(value: object) -> str:
    """The CSV text of one value (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        raise TypeError(f"csv: a float ({value!r}) is no exact amount: use Decimal")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"csv: {value!r} is not a number")
        return format(value, "f")
    if isinstance(value, int | date | datetime):
        return value.isoformat() if isinstance(value, date | datetime) else str(value)
    return neutralised(str(value))


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """The header, then each row, as UTF-8 encoded RFC 4180 lines (a generator: nothing is held in memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def line(values: Iterable[str]) -> bytes:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode("utf-8")

    yield line([neutralised(name) for name in header])
    for row in rows:
        yield line([cell(value) for value in row])
