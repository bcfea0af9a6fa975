"""PostgreSQL COPY helpers (psycopg 3): the set-based write path.

Rows go in as text through ``COPY … FROM STDIN``; Decimals and exact decimal strings are written as text so
PostgreSQL parses them into ``NUMERIC`` exactly. A float never reaches a money column through here.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
from django.db import connection
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from pyarrow import csv as pa_csv


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY ``rows`` into ``table``; return the number of rows written. Runs on Django's connection/transaction."""
    cols = ", ".join(f'"{c}"' for c in columns)
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def copy_frame(table: str, frame: pd.DataFrame, *, chunk_rows: int = 200_000) -> int:
    """COPY a DataFrame into ``table``; return the number of rows written.

    Columns may be integers (nullable ``Int64`` too), booleans, text (decimals already normalised as text by the
    caller) or ``Decimal`` objects (written as exact plain text; NaN and infinities refused); NA becomes NULL.
    Arrow's CSV writer renders each block in C++ (about seven times faster than ``DataFrame.to_csv``); its
    ``needed`` quoting style quotes every string value, so ``""`` is an empty string and only an unquoted empty
    field, which PostgreSQL's CSV format reads as NULL, is missing. Floats are refused, as a column dtype or as
    Python objects: a float never reaches a money column.
    """
    if frame.empty:
        return 0
    floats = [str(c) for c, dtype in frame.dtypes.items() if pd.api.types.is_float_dtype(dtype)]
    if floats:
        raise TypeError(f"copy_frame: float columns are not written (use Decimal, text or integers): {floats}")
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(str(c)) for c in frame.columns)
    )
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    # Converted before COPY starts, so a refused value raises without aborting the caller's transaction.
    blocks = [_arrow_table(frame.iloc[start : start + chunk_rows]) for start in range(0, len(frame), chunk_rows)]
    with connection.cursor() as cursor, cursor.connection.cursor().copy(statement) as copy:
        for block in blocks:
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(block, sink, options)
            copy.write(memoryview(sink.getvalue()))
    return len(frame)


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    arrays = []
    for name in frame.columns:
        column = frame[name]
        try:
            array = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = None  # mixed Python objects, e.g. Decimals of differing precision
        if array is not None and pa.types.is_floating(array.type):
            raise TypeError(f"copy_frame: column {name!r} holds floats: use Decimal, text or integers")
        if array is None or pa.types.is_decimal(array.type):
            # Decimals as exact plain text (Arrow would write 1E-10 and turn NaN into NULL), which COPY parses.
            array = pa.array([_exact_text(value, name) for value in column], type=pa.string())
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


def _exact_text(value: Any, column: object) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        raise TypeError(f"copy_frame: column {column!r} holds a float ({value!r}): use Decimal, text or integers")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"copy_frame: column {column!r} holds {value!r}, which is not a number")
        return format(value, "f")  # plain notation: never an exponent, which integer columns would refuse
    return str(value)


def copy_out_frame(query: str, params: Sequence[Any] | Mapping[str, Any], types: Mapping[str, Any]) -> pd.DataFrame:
    """Run ``COPY (query) TO STDOUT`` as CSV and parse it with Arrow's CSV reader into a DataFrame.

    ``types`` gives every column's Arrow type (``pa.string()`` for exact decimals, which callers turn into
    ``Decimal``). Only an unquoted empty field is NULL (a quoted ``""`` stays an empty string); integer columns come
    back as nullable ``Int64``, strings as text with NaN for NULL. Several times faster than fetching rows as Python
    objects for hundreds of thousands of rows.
    """
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(sql.SQL(query))
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.connection.cursor().copy(statement, params) as copy:
        for block in copy:
            buffer.write(block)
    table = pa_csv.read_csv(
        pa.py_buffer(buffer.getbuffer()),
        # Quoted values may hold line breaks (names typed in the admin); Arrow's parallel reader splits blocks at
        # line ends unless told otherwise.
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict(types),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def copy_out(
    query: str, params: Sequence[Any] | Mapping[str, Any] = (), *, block_bytes: int = 1 << 18
) -> Iterator[bytes]:
    """Stream ``COPY (query) TO STDOUT (FORMAT csv, HEADER)`` as RFC 4180 CSV in blocks of about ``block_bytes``
    (constant memory whatever the number of rows: for a ``StreamingHttpResponse``). A generator: the query starts
    when the first block is asked for; closing it early (the client went away) cancels the COPY on the server.

    PostgreSQL ends every record with ``\\n``, and each of its COPY messages is exactly one record (the protocol's
    guarantee), so the record's last byte becomes CRLF here while a line break inside a quoted value stays as it
    was. Values are PostgreSQL's own text: numerics at their scale, NULL an empty field, an empty string ``""``.
    """
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(sql.SQL(query))
    block = bytearray()
    with connection.cursor() as cursor, cursor.connection.cursor().copy(statement, params or None) as copy:
        for record in copy:
            block += record
            block[-1] = 13  # the record's closing "\n" becomes "\r\n" (in place: no slice of the record)
            block.append(10)
            if len(block) >= block_bytes:
                yield bytes(block)
                block.clear()
    if block:
        yield bytes(block)


@contextmanager
def copy_in(
    table: str, columns: Sequence[str], *, csv: bool = True, queued: bool = False
) -> Iterator[Callable[[bytes | str], None]]:
    """Open ``COPY table (columns) FROM STDIN`` (CSV by default) and yield its ``write``, for streaming text that is
    already in COPY form (e.g. validated CSV lines passed through unchanged).

    Writes of a few hundred KiB return as soon as the socket buffer takes them, so a caller that prepares the next
    chunk meanwhile keeps the server parsing in parallel. ``queued`` hands large writes to a sender thread instead.
    """
    statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(" (FORMAT csv)") if csv else sql.SQL(""),
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(statement, writer=QueuedLibpqWriter(raw) if queued else None) as copy:
            yield copy.write
