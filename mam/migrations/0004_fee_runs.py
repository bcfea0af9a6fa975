"""Fee runs: their lines (``FeeLine``, a table partitioned by run, LIST (``run_id``), as commission lines are since
commissions 0004) and the members' fee states of record (``MemberFeeState``), both append-only.

The lines table is created partitioned straight away (it has no rows yet): primary key ``(id, run_id)`` (a partitioned
table's unique keys must contain the partition key; ``id`` stays unique, taken by every partition from one
sequence), ``id`` a sequence default (no identity on partitioned tables before PostgreSQL 17), the model's indexes
and natural key restated on the partitioned table. Its triggers are added after, so every run's partition gets
them when it is attached (``runs.line_store``). Reversing it drops the stand-alone tables of runs still computing.
"""

import django.db.models.deletion
import django.db.models.expressions
import django.db.models.functions.comparison
import ledger.models.guards
import pgtrigger.compiler
import pgtrigger.migrations
from decimal import Decimal
from django.db import migrations, models

TABLE = "mam_feeline"
FLAT = f"{TABLE}_flat"


def partition(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
            "AND indexname <> %s ORDER BY indexname",
            [TABLE, f"{TABLE}_pkey"],
        )
        indexes = [definition for (definition,) in cursor.fetchall()]
        cursor.execute(f'ALTER TABLE "{TABLE}" RENAME TO "{FLAT}"')
        cursor.execute(
            f'CREATE TABLE "{TABLE}" (LIKE "{FLAT}" INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS) '
            "PARTITION BY LIST (run_id)"
        )
        cursor.execute(f'DROP TABLE "{FLAT}"')  # empty; its identity sequence and index names go with it
        cursor.execute(f'CREATE SEQUENCE "{TABLE}_id_seq" OWNED BY "{TABLE}".id')
        cursor.execute(f"""ALTER TABLE "{TABLE}" ALTER COLUMN id SET DEFAULT nextval('"{TABLE}_id_seq"')""")
        cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY (id, run_id)')
        for definition in indexes:
            cursor.execute(definition)


def drop_standalone_run_tables(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
            "AND c.relnamespace = current_schema()::regnamespace AND c.relname ~ %s "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
            [rf"^{TABLE}_r[0-9]+$"],
        )
        for (standalone,) in cursor.fetchall():
            cursor.execute(f'DROP TABLE "{standalone}"')


class Migration(migrations.Migration):

    dependencies = [
        ('mam', '0003_allocation_reasons'),
        ('partners', '0003_partner_program'),
        ('runs', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='MemberFeeState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.CharField(max_length=7)),
                ('hwm', models.DecimalField(blank=True, decimal_places=8, max_digits=30, null=True)),
                ('accrue_from', models.DateField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('member', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='fee_states', to='mam.member')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='runs.run')),
            ],
            options={
                'ordering': ['member_id', 'period'],
            },
        ),
        migrations.CreateModel(
            name='FeeLine',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.CharField(max_length=7)),
                ('kind', models.CharField(choices=[('management_fee', 'Management fee'), ('performance_fee', 'Performance fee'), ('fee_share', 'Fee share'), ('state', 'State carried to the next run')], max_length=16)),
                ('currency', models.CharField(help_text="The member account's currency", max_length=3)),
                ('amount_micros', models.BigIntegerField()),
                ('amount', models.GeneratedField(db_persist=True, expression=django.db.models.expressions.CombinedExpression(django.db.models.functions.comparison.Cast(models.F('amount_micros'), models.DecimalField(decimal_places=0, max_digits=24)), '/', models.Value(Decimal('1000000'))), output_field=models.DecimalField(decimal_places=6, max_digits=20))),
                ('day', models.DateField(help_text="The crystallisation day (a state row: the period's last day)")),
                ('reason', models.CharField(blank=True, choices=[('period_end', 'Period end'), ('withdrawal', 'Withdrawal'), ('leaving', 'Member left the group')], max_length=16)),
                ('days_accrued', models.PositiveIntegerField(blank=True, null=True)),
                ('base_sum', models.DecimalField(blank=True, decimal_places=8, help_text='Sum of the daily management-fee bases accrued', max_digits=30, null=True)),
                ('equity_before_fee', models.DecimalField(blank=True, decimal_places=8, help_text="Equity at the crystallisation, less this crystallisation's management fee", max_digits=30, null=True)),
                ('hwm_before', models.DecimalField(blank=True, decimal_places=8, max_digits=30, null=True)),
                ('hurdle', models.DecimalField(blank=True, decimal_places=8, max_digits=30, null=True)),
                ('hwm_after', models.DecimalField(blank=True, decimal_places=8, help_text='After the fee (a state row: after every flow of the period)', max_digits=30, null=True)),
                ('accrue_from', models.DateField(blank=True, help_text='State row: the first day not yet charged', null=True)),
                ('account', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='fee_lines', to='partners.clientaccount')),
                ('cash_flow', models.ForeignKey(blank=True, db_constraint=False, db_index=False, help_text='The withdrawal that crystallised the fees', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='mam.cashflow')),
                ('group', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='fee_lines', to='mam.mamgroup')),
                ('manager', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='partners.partner')),
                ('member', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='fee_lines', to='mam.member')),
                ('partner', models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='fee_lines', to='partners.partner')),
                ('run', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='runs.run')),
            ],
            options={
                'ordering': ['run_id', 'group_id', 'account_id', 'day', 'kind'],
                'indexes': [models.Index(fields=['group', 'account'], name='feeline_group_account'), models.Index(fields=['partner', 'period'], name='feeline_partner_period')],
                'constraints': [models.UniqueConstraint(models.F('member'), models.F('run'), models.F('kind'), models.F('day'), models.F('reason'), django.db.models.functions.comparison.Coalesce(models.F('cash_flow'), models.Value(0)), name='feeline_natural_key')],
            },
        ),
        migrations.RunPython(partition, drop_standalone_run_tables, elidable=False),
        pgtrigger.migrations.AddTrigger(
            model_name='feeline',
            trigger=pgtrigger.compiler.Trigger(name='feeline_no_update_delete', sql=ledger.models.guards.GuardSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='f0ec4d0cf5ad442fa362d4c99b0d17396cd2699d', operation='UPDATE OR DELETE', pgid='pgtrigger_feeline_no_update_delete_b46ff', table='mam_feeline', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='feeline',
            trigger=pgtrigger.compiler.Trigger(name='feeline_no_truncate', sql=ledger.models.guards.GuardSql(func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; RETURN NULL;", hash='35fab3c6c3ef84903a4f5fe2a87bf6d3585b9aaf', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_feeline_no_truncate_8f0a1', table='mam_feeline', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='feeline',
            trigger=pgtrigger.compiler.Trigger(name='feeline_published', sql=ledger.models.guards.GuardSql(func="RAISE EXCEPTION 'the fee lines of run % are published: no line is added to a computed run', NEW.run_id USING ERRCODE = 'insufficient_privilege';", hash='2929c307b1fbe68358cf23c3adf3a10cec7d16b9', operation='INSERT', pgid='pgtrigger_feeline_published_d94cc', table='mam_feeline', when='BEFORE')),
        ),
        migrations.AddConstraint(
            model_name='memberfeestate',
            constraint=models.UniqueConstraint(fields=('member', 'period'), name='memberfeestate_one_per_period'),
        ),
        migrations.AddConstraint(
            model_name='memberfeestate',
            constraint=models.CheckConstraint(condition=models.Q(('hwm__isnull', True), ('hwm__gte', 0), _connector='OR'), name='memberfeestate_hwm'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='memberfeestate',
            trigger=pgtrigger.compiler.Trigger(name='memberfeestate_no_update_delete', sql=ledger.models.guards.GuardSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='4c86f41c28308261531f2d4e05a706f90cba4c63', operation='UPDATE OR DELETE', pgid='pgtrigger_memberfeestate_no_update_delete_13f04', table='mam_memberfeestate', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='memberfeestate',
            trigger=pgtrigger.compiler.Trigger(name='memberfeestate_no_truncate', sql=ledger.models.guards.GuardSql(func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; RETURN NULL;", hash='86fb0b18f5c08e6a0104343ddfcb03752ece35c9', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_memberfeestate_no_truncate_c3e81', table='mam_memberfeestate', when='BEFORE')),
        ),
    ]
