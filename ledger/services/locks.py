"""Period locks per kind: an approval closes its period for its kind (DOMAIN.md 6)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from core.actors import Actor, recorded_user
from core.periods import period_of

from ..models import PeriodLock


def _approvals_lock(kind: str, *, shared: bool) -> None:
    """Approvals of ``kind`` take this lock exclusively; back-dated changes take it shared (see ``locked_since``)."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(hashtextextended(%s, 0))", [f"period-lock|{kind}"])


def approvals_hold(*, kind: str) -> None:
    """Keep approvals of ``kind`` from committing until the caller's transaction ends (a shared lock): for a writer
    whose rows depend on which periods are locked, e.g. an ingest queueing late trade versions."""
    _approvals_lock(kind, shared=True)


def locked_since(*, kind: str, since: datetime) -> list[str]:
    """The locked periods of ``kind`` (any scope) that end after ``since``, ascending — the approved periods a change
    from ``since`` on would alter. Holds a shared lock until the transaction ends, so no approval of ``kind`` commits
    between this check and the caller's write (``core.history``'s guard contract)."""
    _approvals_lock(kind, shared=True)
    first = period_of(since).label
    rows = (
        PeriodLock.objects.filter(kind=kind, period__gte=first)
        .order_by("period")
        .values_list("period", flat=True)
        .distinct()
    )
    return list(rows)


def period_lock(*, kind: str, period: str, source_key: str, scope: str = "", user: Actor = None) -> bool:
    """Lock ``period`` for ``kind`` (and ``scope``); return whether this call locked it (False: it already was)."""
    table = PeriodLock._meta.db_table
    locked_by = getattr(recorded_user(user), "pk", None)
    _approvals_lock(kind, shared=False)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (kind, period, scope, source_key, locked_by_id) VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (kind, period, scope) DO NOTHING
            """,
            [kind, period, scope, source_key, locked_by],
        )
        return cursor.rowcount == 1
