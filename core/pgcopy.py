"""PostgreSQL COPY helpers (psycopg 3): the set-based write path.

Rows go in as text through ``COPY … FROM STDIN``; Decimals and exact decimal strings are written as text so
PostgreSQL parses them into ``NUMERIC`` exactly. A float never reaches a money column through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from django.db import connection


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
    """COPY a DataFrame whose columns are already text (or NA) into ``table`` in TSV form.

    Text columns are used as they are: callers validate and normalise decimals as strings first. NA becomes NULL.
    """
    if frame.empty:
        return 0
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    sql = f"COPY \"{table}\" ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    with connection.cursor() as cursor, cursor.connection.cursor().copy(sql) as copy:
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start : start + chunk_rows]
            copy.write(part.to_csv(index=False, header=False, na_rep="\\N", lineterminator="\n"))
    return len(frame)
