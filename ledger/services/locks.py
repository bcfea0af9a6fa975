"""Period locks per kind: an approval closes its period for its kind (DOMAIN.md 6)."""

from __future__ import annotations

from django.db import connection

from core.actors import Actor, recorded_user

from ..models import PeriodLock


def period_lock(*, kind: str, period: str, source_key: str, scope: str = "", user: Actor = None) -> bool:
    """Lock ``period`` for ``kind`` (and ``scope``); return whether this call locked it (False: it already was)."""
    table = PeriodLock._meta.db_table
    locked_by = getattr(recorded_user(user), "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (kind, period, scope, source_key, locked_by_id) VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (kind, period, scope) DO NOTHING
            """,
            [kind, period, scope, source_key, locked_by],
        )
        return cursor.rowcount == 1
