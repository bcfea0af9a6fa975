"""The COPY helpers keep NULL and empty text apart, write exact decimals and refuse floats."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from django.db import connection

from core.pgcopy import copy_frame, copy_out_frame

pytestmark = pytest.mark.django_db

TEXTS = ["plain", "", None, 'a "quoted", comma', "line\nbreak", "ünï©ødé", "NULL", "\\N"]


@pytest.fixture
def scratch():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE scratch (n bigint, t text, d numeric(30, 10), b boolean)")
    return "scratch"


def _rows(query: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()


def test_text_survives_a_round_trip_and_null_stays_apart_from_empty(scratch):
    frame = pd.DataFrame(
        {
            "n": pd.array(range(len(TEXTS)), dtype="Int64"),
            "t": pd.Series(TEXTS, dtype=object),
            "b": [True, False] * (len(TEXTS) // 2),
        }
    )
    assert copy_frame(scratch, frame) == len(TEXTS)
    assert [row[0] for row in _rows("SELECT t FROM scratch ORDER BY n")] == TEXTS
    back = copy_out_frame(
        "SELECT n, t, b FROM scratch ORDER BY n", [], {"n": pa.int64(), "t": pa.string(), "b": pa.bool_()}
    )
    assert back["n"].tolist() == list(range(len(TEXTS)))
    assert [None if pd.isna(v) else v for v in back["t"]] == TEXTS
    assert back["b"].tolist() == frame["b"].tolist()


def test_nullable_integers_and_decimals_of_mixed_precision_are_exact(scratch):
    decimals = [
        Decimal("1.5"),
        Decimal("-123456789012345678.0123456789"),
        None,
        Decimal("1E+3"),
        Decimal("0.0000000001"),
    ]
    frame = pd.DataFrame({"n": pd.array([1, None, 3, None, 5], dtype="Int64"), "d": pd.Series(decimals, dtype=object)})
    copy_frame(scratch, frame)
    assert _rows("SELECT n, d FROM scratch ORDER BY d NULLS LAST") == [
        (None, Decimal("-123456789012345678.0123456789")),
        (5, Decimal("1E-10")),
        (1, Decimal("1.5")),
        (None, Decimal("1000")),
        (3, None),
    ]
    back = copy_out_frame("SELECT n, d FROM scratch ORDER BY n NULLS FIRST, d", [], {"n": pa.int64(), "d": pa.string()})
    assert str(back["n"].dtype) == "Int64" and back["n"].isna().sum() == 2
    assert sorted(Decimal(v) for v in back["d"].dropna()) == sorted(d for d in decimals if d is not None)


def test_floats_and_non_numbers_never_reach_the_database(scratch):
    with pytest.raises(TypeError, match="float"):
        copy_frame(scratch, pd.DataFrame({"d": [1.1, 2.2]}))
    with pytest.raises(TypeError, match="float"):
        copy_frame(scratch, pd.DataFrame({"d": pd.Series([Decimal("1"), 2.5], dtype=object)}))
    with pytest.raises(TypeError, match="float"):
        copy_frame(scratch, pd.DataFrame({"d": pd.Series([0.1, 0.2], dtype=object)}))
    with pytest.raises(ValueError, match="not a number"):
        copy_frame(scratch, pd.DataFrame({"d": pd.Series([Decimal("1"), Decimal("NaN")], dtype=object)}))
    assert _rows("SELECT COUNT(*) FROM scratch") == [(0,)]


def test_tiny_decimals_are_written_in_plain_notation(scratch):
    copy_frame(scratch, pd.DataFrame({"n": [1], "t": pd.Series([Decimal("1E-10")], dtype=object)}))
    assert _rows("SELECT t FROM scratch") == [("0.0000000001",)]


def test_line_breaks_inside_values_survive_a_multi_megabyte_read(scratch):
    rows = 60_000  # several MB of CSV: Arrow reads it in parallel blocks
    texts = [f"group {i}\nsecond line, with a comma" if i % 7 == 0 else f"group {i}" for i in range(rows)]
    copy_frame(scratch, pd.DataFrame({"n": range(rows), "t": texts}))
    back = copy_out_frame("SELECT n, t FROM scratch ORDER BY n", [], {"n": pa.int64(), "t": pa.string()})
    assert len(back) == rows and back["t"].tolist() == texts


def test_parameters_are_bound_in_a_copied_query(scratch):
    copy_frame(scratch, pd.DataFrame({"n": [1, 2, 3], "t": ["x", "y", "z"]}))
    back = copy_out_frame(
        "SELECT n, t FROM scratch WHERE n = ANY(%(ids)s) AND t <> %(skip)s ORDER BY n",
        {"ids": [1, 3], "skip": "z'; DROP TABLE scratch; --"},
        {"n": pa.int64(), "t": pa.string()},
    )
    assert back["n"].tolist() == [1, 3]
