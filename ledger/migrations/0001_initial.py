# The ledger app: currencies, daily rates (moved from commissions), ledger accounts, the journal, period locks.

import django.db.models.deletion
import django.db.models.functions.datetime
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('commissions', '0005_lines_numeric_on_read'),
        ('partners', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Daily rates move here from commissions with their rows: the model is taken over as it is (no database
        # change), then its table is renamed to this app's name.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ConversionRate',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('currency', models.CharField(max_length=8)),
                        ('day', models.DateField()),
                        ('usd_rate', models.DecimalField(decimal_places=12, max_digits=24)),
                    ],
                    options={
                        'db_table': 'commissions_conversionrate',
                        'ordering': ['currency', 'day'],
                        'constraints': [models.UniqueConstraint(fields=('currency', 'day'), name='rate_currency_day_unique'), models.CheckConstraint(condition=models.Q(('usd_rate__gt', 0)), name='rate_positive')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='conversionrate', table=None),
        migrations.CreateModel(
            name='Currency',
            fields=[
                ('code', models.CharField(max_length=8, primary_key=True, serialize=False)),
                ('name', models.CharField(blank=True, max_length=100)),
                ('minor_unit', models.PositiveSmallIntegerField()),
            ],
            options={
                'verbose_name_plural': 'currencies',
                'ordering': ['code'],
                'constraints': [models.CheckConstraint(condition=models.Q(('code__regex', '^[A-Z][A-Z0-9]{2,7}$')), name='currency_code_format'), models.CheckConstraint(condition=models.Q(('minor_unit__lte', 18)), name='currency_minor_unit_range')],
            },
        ),
        migrations.CreateModel(
            name='JournalTransaction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source_key', models.CharField(max_length=200, unique=True)),
                ('kind', models.CharField(max_length=32)),
                ('period', models.CharField(max_length=7)),
                ('memo', models.CharField(blank=True, max_length=255)),
                ('posted_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                ('currency', models.ForeignKey(db_column='currency', on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.currency')),
                ('posted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('reverses', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reversed_by', to='ledger.journaltransaction')),
            ],
            options={
                'db_table': 'ledger_journaltransaction',
                'ordering': ['-posted_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='LedgerAccount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('purpose', models.CharField(choices=[('partner_payable', 'Partner payable'), ('client_payable', 'Client rebate payable'), ('manager_payable', 'Money manager payable'), ('investor_fee_charge', 'Investor fee charge'), ('commission_expense', 'Commission expense'), ('fee_share_expense', 'Fee-share expense'), ('payout_clearing', 'Payout clearing'), ('bank', 'Bank'), ('rounding', 'Rounding')], max_length=24)),
                ('nature', models.CharField(choices=[('asset', 'Asset'), ('liability', 'Liability'), ('income', 'Income'), ('expense', 'Expense'), ('equity', 'Equity')], max_length=12)),
                ('name', models.CharField(max_length=200)),
                ('client_account', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='partners.clientaccount')),
                ('currency', models.ForeignKey(db_column='currency', on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.currency')),
                ('partner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='partners.partner')),
            ],
            options={
                'db_table': 'ledger_ledgeraccount',
                'ordering': ['purpose', 'currency', 'id'],
            },
        ),
        migrations.CreateModel(
            name='JournalEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.DecimalField(decimal_places=6, max_digits=24)),
                ('transaction', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='ledger.journaltransaction')),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='ledger.ledgeraccount')),
            ],
            options={
                'db_table': 'ledger_journalentry',
                'ordering': ['transaction_id', 'id'],
            },
        ),
        migrations.CreateModel(
            name='PeriodLock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=32)),
                ('period', models.CharField(max_length=7)),
                ('scope', models.CharField(blank=True, default='', max_length=64)),
                ('source_key', models.CharField(help_text='what locked it, e.g. run:812', max_length=200)),
                ('locked_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                ('locked_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['kind', 'period', 'scope'],
            },
        ),
        migrations.AddIndex(
            model_name='journaltransaction',
            index=models.Index(fields=['period', 'kind'], name='journaltx_period_kind'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='journaltransaction',
            trigger=pgtrigger.compiler.Trigger(name='journaltx_no_update_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='3dde206b62499f9f625a22788622ce7aaa7133b8', operation='UPDATE OR DELETE', pgid='pgtrigger_journaltx_no_update_delete_c5b93', table='ledger_journaltransaction', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='journaltransaction',
            trigger=pgtrigger.compiler.Trigger(name='journaltx_no_truncate', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; RETURN NULL;", hash='96d9b90ecf07ffaf0019c626fcce3a586830dcad', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_journaltx_no_truncate_7ca9e', table='ledger_journaltransaction', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='journaltransaction',
            trigger=pgtrigger.compiler.Trigger(name='journaltx_has_legs', sql=pgtrigger.compiler.UpsertTriggerSql(constraint='CONSTRAINT', func="\n    IF NOT EXISTS (SELECT 1 FROM ledger_journalentry WHERE transaction_id = NEW.id OFFSET 1) THEN\n        RAISE EXCEPTION 'journal transaction % (%) has fewer than two legs', NEW.id, NEW.source_key\n            USING ERRCODE = 'check_violation';\n    END IF;\n    RETURN NULL;\n", hash='f471fafb3ecaa2a2adc7bced4efe164990849307', operation='INSERT', pgid='pgtrigger_journaltx_has_legs_fe438', table='ledger_journaltransaction', timing='DEFERRABLE INITIALLY DEFERRED', when='AFTER')),
        ),
        migrations.AddIndex(
            model_name='ledgeraccount',
            index=models.Index(fields=['partner', 'purpose'], name='ledgeraccount_partner'),
        ),
        migrations.AddConstraint(
            model_name='ledgeraccount',
            constraint=models.UniqueConstraint(fields=('purpose', 'currency', 'partner', 'client_account'), name='ledgeraccount_one_per_purpose_owner', nulls_distinct=False),
        ),
        migrations.AddConstraint(
            model_name='ledgeraccount',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('nature', 'liability'), ('purpose', 'partner_payable')), models.Q(('nature', 'liability'), ('purpose', 'client_payable')), models.Q(('nature', 'liability'), ('purpose', 'manager_payable')), models.Q(('nature', 'liability'), ('purpose', 'investor_fee_charge')), models.Q(('nature', 'expense'), ('purpose', 'commission_expense')), models.Q(('nature', 'expense'), ('purpose', 'fee_share_expense')), models.Q(('nature', 'liability'), ('purpose', 'payout_clearing')), models.Q(('nature', 'asset'), ('purpose', 'bank')), models.Q(('nature', 'expense'), ('purpose', 'rounding')), _connector='OR'), name='ledgeraccount_nature_of_purpose'),
        ),
        migrations.AddConstraint(
            model_name='ledgeraccount',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('client_account__isnull', True), ('partner__isnull', False), ('purpose__in', ['manager_payable', 'partner_payable'])), models.Q(('client_account__isnull', False), ('partner__isnull', True), ('purpose__in', ['client_payable', 'investor_fee_charge'])), models.Q(models.Q(('purpose__in', ['manager_payable', 'partner_payable', 'client_payable', 'investor_fee_charge']), _negated=True), ('client_account__isnull', True), ('partner__isnull', True)), _connector='OR'), name='ledgeraccount_owner_of_purpose'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='ledgeraccount',
            trigger=pgtrigger.compiler.Trigger(name='ledgeraccount_identity_fixed', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD."purpose" IS DISTINCT FROM (NEW."purpose") OR OLD."nature" IS DISTINCT FROM (NEW."nature") OR OLD."currency" IS DISTINCT FROM (NEW."currency") OR OLD."partner_id" IS DISTINCT FROM (NEW."partner_id") OR OLD."client_account_id" IS DISTINCT FROM (NEW."client_account_id"))', func="RAISE EXCEPTION 'pgtrigger: Cannot update rows from % table', TG_TABLE_NAME;", hash='fa830d790a8931c42dc5c02c3d9af4085229bd2a', operation='UPDATE', pgid='pgtrigger_ledgeraccount_identity_fixed_01f9a', table='ledger_ledgeraccount', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='ledgeraccount',
            trigger=pgtrigger.compiler.Trigger(name='ledgeraccount_no_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot delete rows from % table', TG_TABLE_NAME;", hash='4fe7c58cfa1c24e481ac6d16caa01d07d86ff536', operation='DELETE', pgid='pgtrigger_ledgeraccount_no_delete_01fe7', table='ledger_ledgeraccount', when='BEFORE')),
        ),
        migrations.AddIndex(
            model_name='journalentry',
            index=models.Index(fields=['account', 'transaction'], name='journalentry_account'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='journalentry',
            trigger=pgtrigger.compiler.Trigger(name='journalentry_no_update_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='e8f5ac942cf04a9cc92fe09f8f7c4e3f6838f267', operation='UPDATE OR DELETE', pgid='pgtrigger_journalentry_no_update_delete_fdec3', table='ledger_journalentry', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='journalentry',
            trigger=pgtrigger.compiler.Trigger(name='journalentry_no_truncate', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; RETURN NULL;", hash='22a192382608b4a3d78000b52d5995e62cd24eae', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_journalentry_no_truncate_97b6a', table='ledger_journalentry', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='journalentry',
            trigger=pgtrigger.compiler.Trigger(name='journalentry_balanced', sql=pgtrigger.compiler.UpsertTriggerSql(constraint='CONSTRAINT', func="\n    IF EXISTS (\n        SELECT 1 FROM ledger_journalentry e\n          JOIN ledger_ledgeraccount a ON a.id = e.account_id JOIN ledger_journaltransaction t ON t.id = e.transaction_id\n         WHERE e.transaction_id = NEW.transaction_id AND a.currency <> t.currency\n    ) THEN\n        RAISE EXCEPTION 'journal transaction % mixes currencies: every leg must be in the transaction''s currency',\n            NEW.transaction_id USING ERRCODE = 'check_violation';\n    END IF;\n    IF (SELECT SUM(amount) FROM ledger_journalentry WHERE transaction_id = NEW.transaction_id) <> 0 THEN\n        RAISE EXCEPTION 'journal transaction % is unbalanced: its legs must sum to zero', NEW.transaction_id\n            USING ERRCODE = 'check_violation';\n    END IF;\n    RETURN NULL;\n", hash='0016b422a000c34c2b3d117a6616d3295c71d04e', operation='INSERT', pgid='pgtrigger_journalentry_balanced_f79f1', table='ledger_journalentry', timing='DEFERRABLE INITIALLY DEFERRED', when='AFTER')),
        ),
        migrations.AddConstraint(
            model_name='periodlock',
            constraint=models.UniqueConstraint(fields=('kind', 'period', 'scope'), name='periodlock_unique'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='periodlock',
            trigger=pgtrigger.compiler.Trigger(name='periodlock_no_update_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='fdc859073d115895b402c820d5847131b55bb74b', operation='UPDATE OR DELETE', pgid='pgtrigger_periodlock_no_update_delete_c1f7b', table='ledger_periodlock', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='periodlock',
            trigger=pgtrigger.compiler.Trigger(name='periodlock_no_truncate', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; RETURN NULL;", hash='90e3e1d22ac8cc11ac8141e3cb1a31a2f845f8f4', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_periodlock_no_truncate_1ec50', table='ledger_periodlock', when='BEFORE')),
        ),
    ]
