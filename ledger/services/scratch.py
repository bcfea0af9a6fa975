"""Emptying a scratch database (a demo's, the test suite's): the one place the ledger's TRUNCATE guard is lifted.

The guard is a trigger no session can ignore (``ledger.models.guards``); lifting it takes ``ALTER TABLE … DISABLE
TRIGGER``, which only the tables' owner may run. The triggers are disabled and enabled again inside one database
transaction: the ALTERs lock the tables exclusively until it ends, so no other session ever sees the ledger
unguarded, and if anything fails the transaction rolls back with the triggers as they were. A real ledger is
never emptied: the benchmarks use databases of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.db import connection, transaction
from psycopg import sql


def _truncate_guards() -> list[tuple[str, str]]:
    """(table, trigger id) of every TRUNCATE guard (``append_only``): the ledger's, and those of the apps above
    that keep their evidence append-only the same way (attribution lines)."""
    return [
        (model._meta.db_table, trigger.get_pgid(model))
        for model in apps.get_models()
        for trigger in getattr(model._meta, "triggers", ())
        if trigger.name.endswith("_no_truncate")
    ]


@contextmanager
def truncate_guards_lifted() -> Iterator[None]:
    """Within the block (one transaction), the ledger's tables may be TRUNCATEd. Owner only."""
    guards = _truncate_guards()
    with transaction.atomic(), connection.cursor() as cursor:
        # Checks still deferred in an enclosing transaction (legs posted in it) would block the ALTERs: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, pgid in guards:
            cursor.execute(
                sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(sql.Identifier(table), sql.Identifier(pgid))
            )
        yield
        for table, pgid in guards:
            cursor.execute(
                sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(sql.Identifier(table), sql.Identifier(pgid))
            )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
