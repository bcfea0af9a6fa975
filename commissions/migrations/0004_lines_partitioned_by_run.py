"""Attribution lines become a table partitioned by run (``LIST (run_id)``), one partition per run.

A run's chunks COPY into the run's own table while it has no index at all, and the table is indexed and attached
as the run's partition when the run finishes (``commissions.services.run_lines``): building the indexes once is
several times cheaper than maintaining them row by row while millions of lines arrive. The natural key now leads
with the trade (within a partition it also serves lookups by trade), replacing the separate trade index.

Consequences the model cannot express (Django's state is unchanged): the primary key is ``(id, run_id)`` because
a partitioned table's unique keys must contain the partition key (``id`` stays unique: every partition takes it
from one shared sequence); ``id`` has a sequence default instead of an identity (PostgreSQL before 17 has no
identity on partitioned tables). Existing lines move into one partition per run. Reversing it fails the runs that
are computing (their stand-alone tables are dropped); they are requested again.
"""

import django.db.models.functions.comparison
from django.db import migrations, models

TABLE = "commissions_attributionline"
OLD = f"{TABLE}_unpartitioned"


def _stored_columns(cursor, table: str) -> str:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
        [table],
    )
    return ", ".join(f'"{name}"' for (name,) in cursor.fetchall())


def _secondary_indexes(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
        "AND indexname <> %s ORDER BY indexname",
        [table, f"{table}_pkey"],
    )
    return [definition.replace(" ON ONLY ", " ON ") for (definition,) in cursor.fetchall()]


def _max_id(cursor, table: str) -> int:
    cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
    return cursor.fetchone()[0]


def partition(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        indexes = _secondary_indexes(cursor, TABLE)
        columns = _stored_columns(cursor, TABLE)
        next_id = _max_id(cursor, TABLE) + 1
        cursor.execute(f'ALTER TABLE "{TABLE}" RENAME TO "{OLD}"')
        cursor.execute(
            f'CREATE TABLE "{TABLE}" (LIKE "{OLD}" INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS) '
            "PARTITION BY LIST (run_id)"
        )
        cursor.execute(f'SELECT DISTINCT run_id FROM "{OLD}" ORDER BY run_id')
        for (run_id,) in cursor.fetchall():
            cursor.execute(f'CREATE TABLE "{TABLE}_r{int(run_id)}" PARTITION OF "{TABLE}" FOR VALUES IN ({int(run_id)})')
        cursor.execute(f'INSERT INTO "{TABLE}" ({columns}) SELECT {columns} FROM "{OLD}"')
        cursor.execute(f'DROP TABLE "{OLD}"')  # also drops its identity sequence and frees the index names
        cursor.execute(f'CREATE SEQUENCE "{TABLE}_id_seq" START {next_id} OWNED BY "{TABLE}".id')
        cursor.execute(f"""ALTER TABLE "{TABLE}" ALTER COLUMN id SET DEFAULT nextval('"{TABLE}_id_seq"')""")
        cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY (id, run_id)')
        for definition in indexes:
            cursor.execute(definition)


def unpartition(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        # Runs computing now write into stand-alone tables the unpartitioned layout has no place for: they fail and
        # are requested again.
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
            "AND c.relnamespace = current_schema()::regnamespace AND c.relname ~ %s "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
            [rf"^{TABLE}_r[0-9]+$"],
        )
        for (standalone,) in cursor.fetchall():
            cursor.execute(f'DROP TABLE "{standalone}"')
        cursor.execute(
            "UPDATE commissions_run SET status = 'failed', error = 'interrupted by a database migration: request "
            "the run again' WHERE status IN ('queued', 'running')"
        )
        indexes = _secondary_indexes(cursor, TABLE)
        columns = _stored_columns(cursor, TABLE)
        next_id = _max_id(cursor, TABLE) + 1
        cursor.execute(
            f'CREATE TABLE "{OLD}" (LIKE "{TABLE}" INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING DEFAULTS)'
        )
        cursor.execute(f'ALTER TABLE "{OLD}" ALTER COLUMN id DROP DEFAULT')
        cursor.execute(f'INSERT INTO "{OLD}" ({columns}) SELECT {columns} FROM "{TABLE}"')
        cursor.execute(f'DROP TABLE "{TABLE}" CASCADE')  # with every partition and the sequence
        cursor.execute(f'ALTER TABLE "{OLD}" RENAME TO "{TABLE}"')
        cursor.execute(
            f'ALTER TABLE "{TABLE}" ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (START WITH {next_id})'
        )
        cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY (id)')
        for definition in indexes:
            cursor.execute(definition)


class Migration(migrations.Migration):
    dependencies = [("commissions", "0003_runs_plans_journal"), ("partners", "0001_initial")]

    operations = [
        # Inside a run's partition the natural key led by the trade also answers "lines of a trade", so the
        # separate trade index goes (one index fewer to build per run).
        migrations.RemoveConstraint(model_name="attributionline", name="line_natural_key"),
        migrations.RemoveIndex(model_name="attributionline", name="commissions_trade_i_ac77e9_idx"),
        migrations.AddConstraint(
            model_name="attributionline",
            constraint=models.UniqueConstraint(
                models.F("trade"),
                models.F("run"),
                django.db.models.functions.comparison.Coalesce(models.F("partner"), models.Value(0)),
                django.db.models.functions.comparison.Coalesce(models.F("beneficiary_account"), models.Value(0)),
                models.F("kind"),
                models.F("level"),
                name="line_natural_key",
            ),
        ),
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
