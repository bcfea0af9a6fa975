"""Append-only rows: PostgreSQL refuses to UPDATE, DELETE or TRUNCATE them, whatever client asks (the ORM, raw SQL,
psql, a reporting tool with write grants).

Corrections are new rows (a reversing transaction), never edits: every posted figure stays traceable.

What this does not stop, by design of PostgreSQL: a role that owns the tables (or a superuser) can switch the
triggers off — ``ALTER TABLE … DISABLE TRIGGER`` (how the demo reset and the test suite's flush empty a scratch
database), or ``SET session_replication_role = replica`` (superusers). ``pgtrigger.ignore`` does not: the ledger's
triggers are compiled without it (``guards``). In production the application should connect as a role that does
*not* own the ledger tables (migrations run as the owner), so that nothing the running app does can lift them;
README "Ledger" says how.
"""

from __future__ import annotations

import pgtrigger

from .guards import GuardProtect, GuardTrigger


def append_only(prefix: str) -> list[pgtrigger.Trigger]:
    """Row-level triggers refusing UPDATE and DELETE, and a statement-level one refusing TRUNCATE."""
    return [
        GuardProtect(name=f"{prefix}_no_update_delete", operation=pgtrigger.Update | pgtrigger.Delete),
        GuardTrigger(
            name=f"{prefix}_no_truncate",
            when=pgtrigger.Before,
            operation=pgtrigger.Truncate,
            level=pgtrigger.Statement,
            func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; RETURN NULL;",
        ),
    ]
