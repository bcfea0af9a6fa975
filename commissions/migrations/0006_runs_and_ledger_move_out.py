"""Runs move to ``runs`` and the journal and rates to ``ledger`` (their migrations took the rows over). Here
``commissions`` lets go of them: the moved models leave this app's state without a database change (their tables
live on under the new apps), and the old journal tables, copied into the ledger, are dropped with their triggers."""

import django.db.models.deletion
from django.db import migrations, models

OLD_TRIGGER_FUNCTIONS = (
    "pgtrigger_journalentry_append_only_18847",
    "pgtrigger_journalentry_balanced_f3fd5",
    "pgtrigger_journaltx_append_only_8774c",
)


class Migration(migrations.Migration):
    dependencies = [
        ("commissions", "0005_lines_numeric_on_read"),
        ("ledger", "0002_journal_from_commissions"),
        ("runs", "0001_initial"),
    ]

    operations = [
        # The old journal: copied into the ledger by ledger 0002, dropped here.
        migrations.RemoveField(model_name="journaltransaction", name="client_account"),
        migrations.RemoveField(model_name="journaltransaction", name="partner"),
        migrations.RemoveField(model_name="journaltransaction", name="posted_by"),
        migrations.RemoveField(model_name="journaltransaction", name="reverses"),
        migrations.RemoveField(model_name="journaltransaction", name="run"),
        migrations.RemoveField(model_name="ledgeraccount", name="client_account"),
        migrations.RemoveField(model_name="ledgeraccount", name="partner"),
        migrations.DeleteModel(name="JournalEntry"),
        migrations.DeleteModel(name="JournalTransaction"),
        migrations.DeleteModel(name="LedgerAccount"),
        migrations.RunSQL(
            [f"DROP FUNCTION IF EXISTS {name}() CASCADE" for name in OLD_TRIGGER_FUNCTIONS], migrations.RunSQL.noop
        ),
        # Runs, chunks and rates: their tables now belong to runs and ledger (state only, no database change).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="attributionline",
                    name="run",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lines",
                        to="runs.run",
                    ),
                ),
                migrations.AlterField(
                    model_name="runtiervolume",
                    name="run",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="runs.run"
                    ),
                ),
                migrations.RemoveField(model_name="run", name="approved_by"),
                migrations.RemoveField(model_name="run", name="created_by"),
                migrations.RemoveField(model_name="run", name="supersedes"),
                migrations.RemoveField(model_name="runchunk", name="run"),
                migrations.DeleteModel(name="RunChunk"),
                migrations.DeleteModel(name="Run"),
                migrations.DeleteModel(name="ConversionRate"),
            ],
            database_operations=[],
        ),
        migrations.AlterField(
            model_name="attributionline",
            name="kind",
            field=models.CharField(
                choices=[
                    ("volume", "Volume"),
                    ("spread", "Spread"),
                    ("override", "Override"),
                    ("rebate", "Client rebate"),
                    ("rebate_funding", "Rebate funding"),
                    ("adjustment", "Adjustment"),
                    ("reversal", "Reversal"),
                    ("management_fee", "Management fee"),
                    ("performance_fee", "Performance fee"),
                    ("fee_share", "Fee share"),
                ],
                max_length=16,
            ),
        ),
    ]
