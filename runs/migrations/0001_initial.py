"""The run framework takes over ``Run`` and ``RunChunk`` from ``commissions`` with their rows: the models are taken
over as they were (no database change), their tables renamed, then reshaped: a scope, the snapshot, chunk totals,
typed chunk specs (the old ``account_ids`` sentinels become ``accounts``/``no_account``/``adjustments`` specs),
dispatch times and heartbeats. Runs of a kind nothing implements yet (``fees``, which computed commissions) fail
with the reason; what an approved one posted is reversed (``reverse_approved_fees_runs``). Runs in flight are
failed, to be requested again (``restart_runs_in_flight``)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

RUN_STATUSES = [
    ("queued", "Queued"),
    ("running", "Running"),
    ("computed", "Computed"),
    ("approved", "Approved"),
    ("failed", "Failed"),
    ("superseded", "Superseded"),
]
CHUNK_STATUSES = [("pending", "Pending"), ("claimed", "Claimed"), ("done", "Done"), ("failed", "Failed")]
LIVE = ("queued", "running", "computed", "approved")


def typed_specs(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE runs_runchunk SET
                spec_type = CASE WHEN account_ids = '["adjustments"]'::jsonb THEN 'adjustments'
                                 WHEN account_ids = '[]'::jsonb THEN 'no_account' ELSE 'accounts' END,
                spec = CASE WHEN account_ids = '["adjustments"]'::jsonb THEN '{"type": "adjustments"}'::jsonb
                            WHEN account_ids = '[]'::jsonb THEN '{"type": "no_account"}'::jsonb
                            ELSE jsonb_build_object('type', 'accounts', 'account_ids', account_ids) END,
                dispatched_at = COALESCE(done_at, lease_expires_at)
            """
        )
        # The bug this issue fixes: a "fees" run computed commissions. None may stay live (approving one posted every
        # partner's commissions a second time).
        cursor.execute(
            "UPDATE runs_run SET status = 'failed', error = 'the fees kind is not implemented yet; this run computed "
            "commissions by mistake and was stopped when the run framework was installed' "
            "WHERE kind = 'fees' AND status IN ('queued', 'running', 'computed')"
        )
        reverse_approved_fees_runs(cursor)
        restart_runs_in_flight(cursor)


def restart_runs_in_flight(cursor) -> None:
    """A run still running at the upgrade cannot be finished by the new code: its done chunks carry no totals (the
    old finishing step rescanned the lines; the new one sums the chunks'), so it would end computed with the totals
    of its later chunks only. It fails with the reason; asking for the period again computes it anew (a queued run
    has no chunks and just runs)."""
    cursor.execute(
        "UPDATE runs_run SET status = 'failed', error = 'in flight when the run framework was installed: request "
        "the period again' WHERE status = 'running'"
    )
    drop_unattached_tables_of_failed_runs(cursor)


def drop_unattached_tables_of_failed_runs(cursor) -> None:
    """A failed run keeps no stand-alone line table (the framework drops it when a run fails): those of the runs this
    migration failed — in flight, or a running ``fees`` run — are dropped. Attached partitions stay (a computed run's
    lines that failed here remain readable with ``run=``)."""
    cursor.execute(
        """
        SELECT c.relname FROM pg_class c JOIN runs_run r ON c.relname = 'commissions_attributionline_r' || r.id
         WHERE r.status = 'failed' AND c.relkind = 'r' AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
         ORDER BY r.id
        """
    )
    for (table,) in cursor.fetchall():
        cursor.execute(f'DROP TABLE "{table}"')


def reverse_approved_fees_runs(cursor) -> None:
    """An approved "fees" run posted its period's commissions a second time. Each of its journal transactions gets
    its reversal — the opposite legs, same period and kind, keyed ``reversal:<key>`` as ``journal_reverse`` keys
    them — so every partner's balance and statement count the commissions once again, with both postings kept and
    explained. In the period of the original, not the month of the upgrade: the money was never owed, and Ibex had
    no payouts yet that could have paid it out. The run then fails with the reason (its ``approved_at``/``_by`` stay
    as history; its lines stay readable with ``run=``, like a superseded run's) and locks no ``fees`` period."""
    cursor.execute("SELECT id FROM runs_run WHERE kind = 'fees' AND status = 'approved' ORDER BY id")
    for (run_id,) in cursor.fetchall():
        cursor.execute(
            """
            WITH originals AS (
                SELECT t.* FROM ledger_journaltransaction t
                 WHERE t.source_key LIKE %(prefix)s
                   AND NOT EXISTS (SELECT 1 FROM ledger_journaltransaction r WHERE r.reverses_id = t.id)),
            reversals AS (
                INSERT INTO ledger_journaltransaction (source_key, kind, period, currency, memo, reverses_id)
                SELECT 'reversal:' || o.source_key, o.kind, o.period, o.currency,
                       left('reverses ' || o.source_key || ': fees run ' || %(run)s || ' posted commissions twice',
                            255),
                       o.id
                  FROM originals o ORDER BY o.id
                RETURNING id, reverses_id)
            INSERT INTO ledger_journalentry (transaction_id, account_id, amount)
            SELECT r.id, e.account_id, -e.amount
              FROM reversals r JOIN ledger_journalentry e ON e.transaction_id = r.reverses_id
             ORDER BY r.id, e.id
            """,
            {"prefix": f"run:{run_id}:%", "run": str(run_id)},
        )
        cursor.execute(
            "SELECT count(*) FROM ledger_journaltransaction WHERE source_key LIKE %s", [f"reversal:run:{run_id}:%"]
        )
        (reversed_count,) = cursor.fetchone()
        cursor.execute(
            "UPDATE runs_run SET status = 'failed', error = %s WHERE id = %s",
            [
                "the fees kind is not implemented yet; this run computed commissions by mistake and its approval "
                f"posted them a second time: its {reversed_count} journal transaction(s) were reversed "
                f"(reversal:run:{run_id}:…, same period) when the run framework was installed",
                run_id,
            ],
        )



class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("commissions", "0005_lines_numeric_on_read"),
        ("ledger", "0002_journal_from_commissions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Run",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=[("commissions", "Commissions"), ("fees", "Fees")], max_length=12)),
                        ("period", models.CharField(help_text="YYYY-MM in the server time zone", max_length=7)),
                        ("period_start", models.DateTimeField()),
                        ("period_end", models.DateTimeField()),
                        ("status", models.CharField(choices=RUN_STATUSES, default="queued", max_length=12)),
                        ("chunks_total", models.PositiveIntegerField(default=0)),
                        ("chunks_done", models.PositiveIntegerField(default=0)),
                        ("totals", models.JSONField(blank=True, default=dict, help_text="kind → amount (USD, 6 dp, as text)")),
                        ("error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("computed_at", models.DateTimeField(blank=True, null=True)),
                        ("approved_at", models.DateTimeField(blank=True, null=True)),
                        ("approved_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("supersedes", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="runs.run")),
                    ],
                    options={"db_table": "commissions_run", "ordering": ["-created_at"]},
                ),
                migrations.AddConstraint(
                    model_name="run",
                    constraint=models.UniqueConstraint(condition=models.Q(("status__in", LIVE)), fields=("kind", "period"), name="run_one_live_per_period"),
                ),
                migrations.CreateModel(
                    name="RunChunk",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("index", models.PositiveIntegerField()),
                        ("account_ids", models.JSONField(default=list, help_text="client account ids in this chunk")),
                        ("status", models.CharField(choices=CHUNK_STATUSES, default="pending", max_length=8)),
                        ("lease_expires_at", models.DateTimeField(blank=True, null=True)),
                        ("claimed_by", models.CharField(blank=True, max_length=200)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("lines_written", models.PositiveIntegerField(default=0)),
                        ("error", models.TextField(blank=True)),
                        ("done_at", models.DateTimeField(blank=True, null=True)),
                        ("run", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="chunks", to="runs.run")),
                    ],
                    options={"db_table": "commissions_runchunk", "ordering": ["run_id", "index"]},
                ),
                migrations.AddIndex(
                    model_name="runchunk",
                    index=models.Index(fields=["status", "lease_expires_at"], name="commissions_status_ee6611_idx"),
                ),
                migrations.AddConstraint(
                    model_name="runchunk",
                    constraint=models.UniqueConstraint(fields=("run", "index"), name="runchunk_unique_index"),
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="run", table="runs_run"),
        migrations.AlterModelTable(name="runchunk", table="runs_runchunk"),
        migrations.RemoveConstraint(model_name="run", name="run_one_live_per_period"),
        migrations.RemoveIndex(model_name="runchunk", name="commissions_status_ee6611_idx"),
        migrations.AlterField(
            model_name="run", name="kind", field=models.CharField(help_text="a registered run kind", max_length=32)
        ),
        migrations.AlterField(
            model_name="run",
            name="totals",
            field=models.JSONField(blank=True, default=dict, help_text="line kind → amount (6 dp, as text)"),
        ),
        migrations.AddField(
            model_name="run",
            name="scope",
            field=models.CharField(blank=True, default="", help_text="e.g. a MAM group; empty for all", max_length=64),
        ),
        migrations.AddField(
            model_name="run",
            name="snapshot",
            field=models.JSONField(blank=True, default=dict, help_text="what the run reads, fixed when it starts"),
        ),
        migrations.AddField(model_name="run", name="error_details", field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(
            model_name="run",
            name="start_dispatched_at",
            field=models.DateTimeField(blank=True, help_text="when its start was last sent", null=True),
        ),
        migrations.AddField(
            model_name="runchunk", name="spec_type", field=models.CharField(default="", max_length=32), preserve_default=False
        ),
        migrations.AddField(model_name="runchunk", name="spec", field=models.JSONField(default=dict)),
        migrations.AddField(
            model_name="runchunk",
            name="size",
            field=models.PositiveIntegerField(default=0, help_text="rows the kind expects it to read (progress)"),
        ),
        migrations.AddField(
            model_name="runchunk",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, help_text="when its message was last sent", null=True),
        ),
        migrations.AddField(model_name="runchunk", name="heartbeat_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="runchunk", name="totals", field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(model_name="runchunk", name="error_details", field=models.JSONField(blank=True, default=dict)),
        migrations.RunPython(typed_specs, migrations.RunPython.noop),
        migrations.RemoveField(model_name="runchunk", name="account_ids"),
        migrations.AddIndex(model_name="run", index=models.Index(fields=["status", "kind"], name="run_status_kind")),
        migrations.AddConstraint(
            model_name="run",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", LIVE)), fields=("kind", "period", "scope"), name="run_one_live"
            ),
        ),
        migrations.AddIndex(
            model_name="runchunk",
            index=models.Index(fields=["status", "lease_expires_at"], name="runchunk_status_lease"),
        ),
    ]
