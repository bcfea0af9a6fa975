"""Append-only rows: PostgreSQL refuses to UPDATE, DELETE or TRUNCATE them, whatever client asks (the ORM, raw SQL,
psql, a reporting tool with write grants).

Corrections are new rows (a reversing transaction), never edits: every posted figure stays traceable.

What this does not stop, by design of PostgreSQL: a role that owns the tables (or a superuser) can switch the
triggers off — ``ALTER TABLE … DISABLE TRIGGER``, ``SET session_replication_role = replica``, or django-pgtrigger's
``pgtrigger.ignore``, which the demo reset and the test suite's flush use to empty a scratch database. In production
the application should connect as a role that does *not* own the ledger tables (migrations run as the owner), so
that no code path of the running app can bypass them; README "Ledger" says how.
"""

from __future__ import annotations

import pgtrigger


def append_only(prefix: str) -> list[pgtrigger.Trigger]:
    """Row-level triggers refusing UPDATE and DELETE, and a statement-level one refusing TRUNCATE."""
    return [
        pgtrigger.Protect(name=f"{prefix}_no_update_delete", operation=pgtrigger.Update | pgtrigger.Delete),
        pgtrigger.Trigger(
            name=f"{prefix}_no_truncate",
            when=pgtrigger.Before,
            operation=pgtrigger.Truncate,
            level=pgtrigger.Statement,
            func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; RETURN NULL;",
        ),
    ]
