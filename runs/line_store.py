"""The per-run partitioned line store: where every run's lines are written, whatever its kind.

A kind's line model (``RunKind.line_model``, e.g. the commission attribution lines) is a table partitioned by LIST
(``run_id``), created by the kind's own migration. While a run computes, its table exists on its own, without
a single index, and every chunk COPYs its lines into it in the chunk's transaction; when the last chunk is done the
table gets the lines table's indexes, built once over all its rows, and is attached as the run's partition in the
transaction that marks the run computed. So:

- a running run's lines are invisible to every reader (reports, the API, the admin) until the run is computed, and
  appear all at once, exactly as before;
- the natural key is enforced when the partition is indexed: a duplicate line (which the chunk lease protocol
  already prevents) fails the run with PostgreSQL's unique-violation message instead of being counted twice;
- a failed run's table is dropped: a failed run has no lines, only its error.

Index builds are bulk sorts (``maintenance_work_mem`` raised for the transaction, PostgreSQL's parallel workers
allowed); maintaining the same indexes row by row cost about three times as much as writing the rows.
"""

from __future__ import annotations

import re

import pandas as pd
from django.conf import settings
from django.db import connection
from psycopg import sql

from core.pgcopy import copy_frame

_INDEX_DEF = re.compile(r"^CREATE (?P<unique>UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (?P<rest>USING .+)$")


class RunLinesError(RuntimeError):
    """The run's lines table is in a state the run cannot continue from (e.g. a leftover of an earlier run id)."""


def run_lines_table(parent: str, run_id: int) -> str:
    """The name of run ``run_id``'s own table of the partitioned ``parent`` table."""
    return f"{parent}_r{int(run_id)}"


def run_lines_tables(parent: str) -> list[str]:
    """Every run's table of ``parent``, attached as a partition or still stand-alone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace "
            "AND relname ~ %s ORDER BY relname",
            [rf"^{re.escape(parent)}_r[0-9]+$"],
        )
        return [name for (name,) in cursor.fetchall()]


def _is_attached(cursor, table: str) -> bool | None:
    """True if ``table`` is a partition of the lines table, False if it stands alone, None if it does not exist."""
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid) FROM pg_class c "
        "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
        [table],
    )
    row = cursor.fetchone()
    return None if row is None else bool(row[0])


def run_lines_prepare(*, parent: str, run_id: int) -> None:
    """Create the run's stand-alone, index-free lines table when the run starts (called once per run).

    A table of that name can only be a leftover of an earlier life of the same run id (ids restart after
    ``manage.py flush``): a stand-alone one never held published lines and goes; an attached, empty partition goes;
    an attached partition with lines stops the run rather than mixing them."""
    table = run_lines_table(parent, run_id)
    with connection.cursor() as cursor:
        attached = _is_attached(cursor, table)
        if attached:
            cursor.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table)))
            if cursor.fetchone()[0]:
                raise RunLinesError(f"lines of another run with id {run_id} are still stored in {table}")
        if attached is not None:
            cursor.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
        cursor.execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS, "
                "CHECK (run_id = {}))"
            ).format(sql.Identifier(table), sql.Identifier(parent), sql.Literal(int(run_id)))
        )


def run_lines_write(*, parent: str, run_id: int, lines: pd.DataFrame) -> int:
    """COPY a chunk's lines (columns already in their stored form) into the run's table."""
    if lines.empty:
        return 0
    return copy_frame(run_lines_table(parent, run_id), lines)


def partition_index_statements(cursor, parent: str, table: str) -> list[sql.Composable]:
    """The ``parent`` table's indexes, restated for ``table`` so that ATTACH PARTITION adopts them as they are."""
    cursor.execute(
        """
        SELECT pg_get_indexdef(i.indexrelid), con.contype, pg_get_constraintdef(con.oid)
          FROM pg_index i LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
         WHERE i.indrelid = %s::regclass ORDER BY i.indexrelid
        """,
        [parent],
    )
    statements: list[sql.Composable] = []
    for definition, constraint_type, constraint_def in cursor.fetchall():
        if constraint_type in ("p", "u"):
            # A parent constraint is matched only by a constraint on the partition, not by a bare unique index.
            statements.append(sql.SQL("ALTER TABLE {} ADD {}").format(sql.Identifier(table), sql.SQL(constraint_def)))
            continue
        match = _INDEX_DEF.match(definition)
        if match is None:
            raise RunLinesError(f"unexpected index definition on {parent}: {definition}")
        statements.append(
            sql.SQL("CREATE {}INDEX ON {} {}").format(
                sql.SQL(match["unique"] or ""), sql.Identifier(table), sql.SQL(match["rest"])
            )
        )
    return statements


def run_lines_publish(*, parent: str, run_id: int) -> None:
    """Index the run's table and attach it as the run's partition (inside the caller's transaction)."""
    table = run_lines_table(parent, run_id)
    with connection.cursor() as cursor:
        attached = _is_attached(cursor, table)
        if attached:
            return
        if attached is None:
            raise RunLinesError(f"run {run_id} has no lines table {table}")
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [settings.IBEX_RUN_INDEX_BUILD_MEMORY])
        for statement in partition_index_statements(cursor, parent, table):
            cursor.execute(statement)
        cursor.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                sql.Identifier(parent), sql.Identifier(table), sql.Literal(int(run_id))
            )
        )
        cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def run_lines_discard(*, parent: str, run_id: int) -> None:
    """Drop a failed run's stand-alone table (an attached partition is never dropped here)."""
    table = run_lines_table(parent, run_id)
    with connection.cursor() as cursor:
        if _is_attached(cursor, table) is False:
            cursor.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
