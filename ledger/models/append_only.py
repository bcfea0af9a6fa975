"""Append-only rows: PostgreSQL refuses to UPDATE, DELETE or TRUNCATE them, whoever asks (the ORM, raw SQL, psql).

Corrections are new rows (a reversing transaction), never edits: every posted figure stays traceable.
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
