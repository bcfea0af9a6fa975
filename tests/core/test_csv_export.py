"""``core.csv_export``: RFC 4180 lines in UTF-8, text cells neutralised against formula injection, numbers kept as
numbers, floats refused."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.csv_export import FORMULA_STARTS, cell, csv_lines


def _parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_lines_are_rfc_4180_in_utf_8():
    data = b"".join(csv_lines(("a", "b"), [("x, y", 'say "hi"'), ("line\nbreak", "é")]))
    assert data.split(b"\r\n")[0] == b"a,b"
    assert data.endswith(b"\r\n") and b'"x, y","say ""hi"""' in data
    assert _parse(data) == [["a", "b"], ["x, y", 'say "hi"'], ["line\nbreak", "é"]]


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_text_cell_a_spreadsheet_would_run_gets_a_quote_prefix(start):
    assert cell(f"{start}SUM(A1)") == f"'{start}SUM(A1)"


def test_numbers_stay_numbers_and_floats_are_refused():
    assert cell(Decimal("-12.50")) == "-12.50" and cell(Decimal("1E+3")) == "1000" and cell(-5) == "-5"
    assert cell(None) == "" and cell(date(2026, 3, 31)) == "2026-03-31"
    with pytest.raises(TypeError):
        cell(1.5)
    with pytest.raises(ValueError):
        cell(Decimal("NaN"))


@given(st.lists(st.tuples(st.text(), st.decimals(allow_nan=False, allow_infinity=False)), max_size=20))
def test_any_text_and_amount_parse_back(rows):
    parsed = _parse(b"".join(csv_lines(("text", "amount"), rows)))[1:]
    assert len(parsed) == len(rows)
    for (text, amount), (text_cell, amount_cell) in zip(rows, parsed, strict=True):
        # Reference: neutralised text is the text behind one quote; a number is never prefixed.
        expected = "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
        assert text_cell == expected and Decimal(amount_cell) == amount
