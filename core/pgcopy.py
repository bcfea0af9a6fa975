"""PostgreSQL COPY helpers (psycopg 3): the set-based write path.

Rows go in as text through ``COPY … FROM STDIN``; Decimals and exact decimal strings are written as text so
PostgreSQL parses them into ``NUMERIC`` exactly. A float never reaches a money column through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from django.db import connection
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter


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
