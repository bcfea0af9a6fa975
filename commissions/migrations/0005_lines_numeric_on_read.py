"""Lines keep one generated NUMERIC column (``amount``, which sums and the journal read); base, rate and multiplier
are read as exact Decimals from their micro-unit columns. The (account, period) index goes: no query reads lines by
the trade's account, and each index costs a sort of every line of every run.

Runs computing while this is applied keep going: their stand-alone lines tables lose the same columns, so they still
attach. Reversing it fails such runs instead (their tables could no longer attach); they are requested again.
"""

from django.db import migrations

STANDALONE_RUN_TABLES = """
SELECT c.relname FROM pg_class c
 WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
   AND c.relname ~ '^commissions_attributionline_r[0-9]+$'
   AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
"""


def _standalone_tables(cursor) -> list[str]:
    cursor.execute(STANDALONE_RUN_TABLES)
    return [name for (name,) in cursor.fetchall()]


def drop_columns_of_running_runs(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for table in _standalone_tables(cursor):
            cursor.execute(
                f'ALTER TABLE "{table}" DROP COLUMN IF EXISTS base, DROP COLUMN IF EXISTS rate, '
                "DROP COLUMN IF EXISTS multiplier"
            )


def fail_running_runs(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for table in _standalone_tables(cursor):
            cursor.execute(f'DROP TABLE "{table}"')
        cursor.execute(
            "UPDATE commissions_run SET status = 'failed', error = 'interrupted by a database migration: request "
            "the run again' WHERE status IN ('queued', 'running')"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('commissions', '0004_lines_partitioned_by_run'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='attributionline',
            name='commissions_account_b51aed_idx',
        ),
        migrations.RemoveField(
            model_name='attributionline',
            name='base',
        ),
        migrations.RemoveField(
            model_name='attributionline',
            name='multiplier',
        ),
        migrations.RemoveField(
            model_name='attributionline',
            name='rate',
        ),
        migrations.RunPython(drop_columns_of_running_runs, fail_running_runs, elidable=False),
    ]
