"""The ledger's triggers, compiled so that no session can switch them off.

django-pgtrigger starts every trigger function it generates with a check of the ``pgtrigger.ignore`` setting (what
``pgtrigger.ignore()`` sets), and any role may ``SET`` a custom setting — so with plain pgtrigger triggers, an
application role with nothing but SELECT and INSERT could post an unbalanced transaction or rewrite history. The
classes here compile the same triggers (same names, same install and migration machinery) from a template without
that check. What still lifts them is PostgreSQL's own: ``ALTER TABLE … DISABLE TRIGGER`` by the tables' owner (or a
superuser), which is how a scratch database is emptied (``ledger.services.scratch``). Run the application as a role
that owns no ledger table and nothing it runs can lift them (README "Ledger").
"""

from __future__ import annotations

import pgtrigger
from pgtrigger import compiler

_TEMPLATE = """
            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


class GuardSql(compiler.UpsertTriggerSql):
    """pgtrigger's trigger SQL without the ``pgtrigger.ignore`` escape hatch. Referenced by the ledger's migrations:
    change the template only together with a new class name."""

    def get_template(self) -> str:
        return _TEMPLATE


class _Guarded:
    def compile(self, model) -> compiler.Trigger:
        compiled = super().compile(model)
        kwargs = {key: value for key, value in compiled.sql.kwargs.items() if key != "ignore_func_name"}
        return compiler.Trigger(name=compiled.name, sql=GuardSql(**kwargs))


class GuardTrigger(_Guarded, pgtrigger.Trigger):
    """A ``pgtrigger.Trigger`` no session can ignore."""


class GuardProtect(_Guarded, pgtrigger.Protect):
    """A ``pgtrigger.Protect`` no session can ignore."""


class GuardReadOnly(_Guarded, pgtrigger.ReadOnly):
    """A ``pgtrigger.ReadOnly`` no session can ignore."""
